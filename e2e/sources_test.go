package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/purgehook/purgehook/pipeline"
	"github.com/purgehook/purgehook/purger/cloudflare/cloudflaretest"
)

// TestEverySourceThroughIngest sends, to every source kind, a request that
// its scheme must refuse (no credentials) and checks the answer and that
// nothing was journaled; then the public test vectors of three schemes go
// through ingest and resolve with a URL template to the purged page.
func TestEverySourceThroughIngest(t *testing.T) {
	cf := cloudflaretest.NewServer(t, cloudflaretest.Options{})
	s := startService(t, fmt.Sprintf(`
store: {driver: sqlite, dsn: $DIR/ph.db}
sites:
  - {name: site, base_url: https://www.site.example, cultures: {default: /}}
sources:
  - {name: umbraco, kind: umbraco, token: umb-token-1}
  - {name: sitefinity, kind: sitefinity, token: sf-token-1}
  - {name: kontent, kind: kontent, secret: "BHPyfqwSy1iJjcscOB+GSkDf9THrBlfcKkwtADJdbP4=", replay_window: 0s}
  - {name: contentful, kind: contentful, secret: %s}
  - {name: strapi, kind: strapi, token: strapi-token-1}
  - {name: sanity, kind: sanity, secret: test, replay_window: 0s}
  - {name: storyblok, kind: storyblok, secret: sb-secret-1}
  - {name: standard, kind: standard, secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw, replay_window: 0s}
  - {name: generic, kind: generic, secret: %s}
providers:
  - {name: cf, kind: cloudflare, zone: %s, token: %s, api_url: %s}
rules:
  - when: {content_type: product_update}
    purge: [{url: "/products/{codename}"}]
coalesce: 50ms
warm: {disabled: true}
`, strings.Repeat("a", 64), secret, cf.Zone(), cf.Token(), cf.APIURL()))

	post := func(src string, body []byte, hdr map[string]string) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodPost, s.hooks.URL+"/hooks/"+src, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			t.Fatalf("%s: %d with a body that is not JSON: %v", src, resp.StatusCode, err)
		}
		return resp.StatusCode, m
	}
	journaled := func() int {
		n, err := s.Store.DeliveryCount(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		// Only the jobs a delivery starts: River's periodic jobs (prune
		// on start, the flush safety net) come whenever its leader is
		// elected, which on a loaded machine is in the middle of this test.
		jobs, err := s.Store.JobCounts(context.Background(),
			pipeline.DeliveryArgs{}.Kind(), pipeline.CallArgs{}.Kind(), pipeline.WarmArgs{}.Kind())
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range jobs {
			n += c
		}
		return n
	}

	body := []byte(`{"event":"entry.publish","model":"article","entry":{"id":1}}`)
	for _, src := range []string{"umbraco", "sitefinity", "kontent", "contentful", "strapi", "sanity", "storyblok", "standard", "generic"} {
		status, m := post(src, body, nil)
		if status != http.StatusUnauthorized || m["error"] != "authentication failed" {
			t.Errorf("%s without credentials: %d %v", src, status, m)
		}
	}
	// One Content-Type rule for every kind: none of them sends anything
	// but JSON.
	for _, src := range []string{"umbraco", "sitefinity", "kontent", "contentful", "strapi", "sanity", "storyblok", "standard", "generic"} {
		for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "application/xml"} {
			if status, m := post(src, body, map[string]string{"Content-Type": ct}); status != http.StatusUnsupportedMediaType {
				t.Errorf("%s with %s: %d %v, want 415", src, ct, status, m)
			}
		}
	}
	// Credentials of the wrong kind do not help.
	if status, _ := post("strapi", body, map[string]string{"Authorization": "Bearer umb-token-1"}); status != 401 {
		t.Errorf("strapi with umbraco's token: %d", status)
	}
	if n := journaled(); n != 0 {
		t.Fatalf("%d rows journaled for refused webhooks", n)
	}

	// Kontent.ai's v3 SDK vector: the body is pretty-printed with CRLF.
	var pretty bytes.Buffer
	err := json.Indent(&pretty, []byte(`{"notifications":[{"data":{"system":{"id":"aa7f127f-1920-4454-a89a-0609aba8ea6f","name":"This changes everything!","codename":"this_changes_everything_","collection":"marketing","workflow":"default","workflow_step":"published","language":"default","type":"product_update","last_modified":"2024-03-25T07:55:57.0563735Z"}},"message":{"environment_id":"0f5b6cb2-ea82-014e-ac74-f71e7e8b6aee","object_type":"content_item","action":"published","delivery_slot":"published"}}]}`), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	kbody := bytes.ReplaceAll(pretty.Bytes(), []byte("\n"), []byte("\r\n"))
	if status, m := post("kontent", kbody, map[string]string{"X-Kontent-ai-Signature": "CF9/hYLw2CDcVp2wW39OFUglh++fGdHFeOhiWxM3jZg="}); status != 202 || m["changes"] != 1.0 {
		t.Errorf("kontent vector: %d %v", status, m)
	}
	// Standard Webhooks' spec vector verifies; its body has no event type,
	// so it is refused as a payload (400), not as a signature (401).
	if status, m := post("standard", []byte(`{"test": 2432232314}`), map[string]string{
		"webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "webhook-timestamp": "1614265330",
		"webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
	}); status != 400 || !strings.Contains(fmt.Sprint(m["error"]), "type") {
		t.Errorf("standard vector: %d %v", status, m)
	}
	if status, m := post("standard", []byte(`{"type":"page.published","data":{"id":"p1","url":"/x"}}`), map[string]string{
		"webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "webhook-timestamp": "1614265330",
		"webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
	}); status != 401 {
		t.Errorf("the vector's signature over another body: %d %v", status, m)
	}
	// Sanity's toolkit vector.
	if status, m := post("sanity", []byte(`{"_id":"resume"}`), map[string]string{
		"sanity-webhook-signature": "t=1633519811129,v1=tLa470fx7qkLLEcMOcEUFuBbRSkGujyskxrNXcoh0N0",
	}); status != 202 {
		t.Errorf("sanity vector: %d %v", status, m)
	}
	// A tampered vector is refused.
	if status, _ := post("sanity", []byte(`{"_id":"structure"}`), map[string]string{
		"sanity-webhook-signature": "t=1633519811129,v1=tLa470fx7qkLLEcMOcEUFuBbRSkGujyskxrNXcoh0N0",
	}); status != 401 {
		t.Errorf("tampered sanity vector: %d", status)
	}

	// The Kontent item resolves through the rule's template to its page.
	deadline := time.Now().Add(30 * time.Second)
	want := "https://www.site.example/products/this_changes_everything_"
	for !purged(cf)[want] {
		if time.Now().After(deadline) {
			t.Fatalf("%s never purged; calls %v", want, keys(cf.Accepted()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
