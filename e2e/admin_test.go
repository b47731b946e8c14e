package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/purgehook/purgehook/purger/cloudflare/cloudflaretest"
)

func api(t *testing.T, method, url, token, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, b)
	}
	return resp.StatusCode, m
}

func TestAdminAPI(t *testing.T) {
	cf := cloudflaretest.NewServer(t, cloudflaretest.Options{})
	o := newOrigin(t)
	s := startService(t, fmt.Sprintf(`
store: {driver: sqlite, dsn: $DIR/ph.db}
admin:
  tokens:
    - {name: ci, secret: ci-token-1, scopes: [purge]}
    - {name: dash, secret: read-token-2, scopes: [read]}
    - {name: ops, secret: admin-token-3, scopes: [admin]}
sites:
  - {name: site, base_url: %s}
sources:
  - {name: cms, kind: generic, secret: %s, site: site}
providers:
  - {name: cf, kind: cloudflare, zone: %s, token: %s, api_url: %s, budget: {calls_per_day: 100}}
coalesce: 100ms
warm: {delay: 1ms}
`, o.URL, secret, cf.Zone(), cf.Token(), cf.APIURL()))
	base := s.hooks.URL

	// A manual purge follows the webhooks' URL rule: invalid UTF-8 (which
	// JSON decoding would turn into another URL) is a 400, nothing queued.
	for _, body := range []string{`{"urls":["/a\udc00"]}`, "{\"urls\":[\"/a\xff\"]}", `{"prefixes":["/a\r\nX: 1"]}`} {
		if code, m := api(t, "POST", base+"/v1/purge", "ci-token-1", body); code != 400 || !strings.Contains(fmt.Sprint(m["error"]), "URL") {
			t.Errorf("manual purge of %q: %d %v", body, code, m)
		}
	}
	if n, _ := s.Store.DeliveryCount(context.Background()); n != 0 {
		t.Errorf("%d deliveries after refused manual purges", n)
	}

	// Scopes.
	if code, _ := api(t, "GET", base+"/v1/deliveries", "", ""); code != 401 {
		t.Errorf("no token: %d", code)
	}
	if code, _ := api(t, "GET", base+"/v1/deliveries", "wrong", ""); code != 401 {
		t.Errorf("wrong token: %d", code)
	}
	if code, m := api(t, "POST", base+"/v1/purge", "read-token-2", `{"urls":["/x"]}`); code != 403 || !strings.Contains(fmt.Sprint(m["error"]), "lacks the purge scope") {
		t.Errorf("read token purging: %d %v", code, m)
	}

	// A deploy pipeline purges a tag and a page.
	code, m := api(t, "POST", base+"/v1/purge", "ci-token-1", `{"tags":["module:heroSlider"],"urls":["/","https://elsewhere.example/x"],"reason":"deploy 1.4.2"}`)
	if code != 202 {
		t.Fatalf("purge: %d %v", code, m)
	}
	if d := m["dropped"].([]any); len(d) != 1 {
		t.Errorf("dropped %v", d)
	}
	if code, m := api(t, "POST", base+"/v1/purge", "ci-token-1", `{"urls":["/"],"bogus":1}`); code != 400 {
		t.Errorf("unknown field: %d %v", code, m)
	}
	waitBatches(t, s.Store, 30*time.Second)
	keysSeen := map[string]bool{}
	for _, c := range cf.Accepted() {
		keysSeen[c.Key+" "+strings.Join(c.Items, ",")] = true
	}
	if !keysSeen["tags module:heroSlider"] || !keysSeen["files "+o.URL+"/"] {
		t.Errorf("calls %v", keysSeen)
	}

	// The trail: deliveries, then the batch with its calls and warm-ups.
	code, m = api(t, "GET", base+"/v1/deliveries", "read-token-2", "")
	if code != 200 || len(m["deliveries"].([]any)) != 1 {
		t.Fatalf("deliveries: %d %v", code, m)
	}
	code, m = api(t, "GET", base+"/v1/deliveries/1", "read-token-2", "")
	if code != 200 || len(m["events"].([]any)) < 3 {
		t.Errorf("delivery trace: %d %v", code, m)
	}
	code, m = api(t, "GET", base+"/v1/batches/1", "admin-token-3", "")
	if code != 200 || len(m["calls"].([]any)) != 2 || len(m["warm"].([]any)) != 1 {
		t.Errorf("batch: %d %v", code, m)
	}
	if code, _ := api(t, "GET", base+"/v1/batches/999", "admin-token-3", ""); code != 404 {
		t.Errorf("missing batch: %d", code)
	}
	code, m = api(t, "GET", base+"/v1/budgets", "read-token-2", "")
	b := m["budgets"].([]any)[0].(map[string]any)
	if code != 200 || b["spent"] != 2.0 || b["remaining"] != 98.0 {
		t.Errorf("budgets: %d %v", code, m)
	}

	// Replay resolves the delivery again and purges again.
	before := len(cf.Accepted())
	if code, m := api(t, "POST", base+"/v1/deliveries/1/replay", "admin-token-3", ""); code != 202 {
		t.Fatalf("replay: %d %v", code, m)
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(cf.Accepted()) < before+2 {
		if time.Now().After(deadline) {
			t.Fatal("replay purged nothing")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
