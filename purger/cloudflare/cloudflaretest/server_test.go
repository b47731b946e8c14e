package cloudflaretest_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/purgehook/purgehook/purger/cloudflare/cloudflaretest"
	"github.com/purgehook/purgehook/purger/purgertest"
)

// These tests hold the fake to Cloudflare's contract with raw HTTP, so that
// a fake which accepts anything cannot pass.

func post(t *testing.T, s *cloudflaretest.Server, method, path, auth, ctype, body string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, s.APIURL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw), resp.Header
}

func TestServerContract(t *testing.T) {
	t.Parallel()
	sch, err := cloudflaretest.LoadSchemas()
	if err != nil {
		t.Fatal(err)
	}
	zonePath := "/zones/" + cloudflaretest.DefaultZone + "/purge_cache"
	bearer := "Bearer " + cloudflaretest.DefaultToken
	urls := func(n int) string {
		var b strings.Builder
		for i := range n {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `"https://www.example.com/p/%d"`, i)
		}
		return b.String()
	}
	tests := []struct {
		name        string
		method      string
		path        string
		auth        string
		ctype       string
		body        string
		status      int
		msgContains string
	}{
		{"files", "POST", zonePath, bearer, "application/json", `{"files":["https://www.example.com/a","http://www.example.com/b?x=1"]}`, 200, ""},
		{"files with headers", "POST", zonePath, bearer, "application/json", `{"files":[{"url":"https://www.example.com/a","headers":{"CF-IPCountry":"US"}}]}`, 200, ""},
		{"tags", "POST", zonePath, bearer, "application/json", `{"tags":["a-tag","b"]}`, 200, ""},
		{"hosts", "POST", zonePath, bearer, "application/json", `{"hosts":["www.example.com"]}`, 200, ""},
		{"prefixes", "POST", zonePath, bearer, "application/json", `{"prefixes":["www.example.com/news"]}`, 200, ""},
		{"everything", "POST", zonePath, bearer, "application/json; charset=utf-8", `{"purge_everything":true}`, 200, ""},
		{"30 files is the limit", "POST", zonePath, bearer, "application/json", `{"files":[` + urls(30) + `]}`, 200, ""},
		{"31 files is over", "POST", zonePath, bearer, "application/json", `{"files":[` + urls(31) + `]}`, 400, "up to 30 files"},
		{"no auth", "POST", zonePath, "", "application/json", `{"tags":["a"]}`, 401, "Authorization"},
		{"not bearer", "POST", zonePath, "Basic " + cloudflaretest.DefaultToken, "application/json", `{"tags":["a"]}`, 401, "Authorization"},
		{"wrong token", "POST", zonePath, "Bearer nope", "application/json", `{"tags":["a"]}`, 403, "Authentication error"},
		{"wrong zone", "POST", "/zones/0000/purge_cache", bearer, "application/json", `{"tags":["a"]}`, 400, "object identifier is invalid"},
		{"wrong path", "POST", "/zones/" + cloudflaretest.DefaultZone + "/purge", bearer, "application/json", `{"tags":["a"]}`, 404, "No route"},
		{"GET", "GET", zonePath, bearer, "application/json", ``, 405, "Method not allowed"},
		{"DELETE is undocumented", "DELETE", zonePath, bearer, "application/json", `{"tags":["a"]}`, 405, "Method not allowed"},
		{"form body", "POST", zonePath, bearer, "application/x-www-form-urlencoded", `tags=a`, 400, "Content-Type"},
		{"not json", "POST", zonePath, bearer, "application/json", `{tags:`, 400, "not valid JSON"},
		{"two shapes", "POST", zonePath, bearer, "application/json", `{"tags":["a"],"hosts":["www.example.com"]}`, 400, "exactly one"},
		{"empty body", "POST", zonePath, bearer, "application/json", `{}`, 400, "exactly one"},
		{"unknown key", "POST", zonePath, bearer, "application/json", `{"urls":["https://x/"]}`, 400, "Unknown purge field"},
		{"files not array", "POST", zonePath, bearer, "application/json", `{"files":"https://www.example.com/a"}`, 400, "schema"},
		{"file url not string", "POST", zonePath, bearer, "application/json", `{"files":[{"url":1}]}`, 400, "schema"},
		{"tags of numbers", "POST", zonePath, bearer, "application/json", `{"tags":[1,2]}`, 400, "schema"},
		{"everything not bool", "POST", zonePath, bearer, "application/json", `{"purge_everything":"yes"}`, 400, "schema"},
		{"everything false", "POST", zonePath, bearer, "application/json", `{"purge_everything":false}`, 400, "must be true"},
		{"empty tags", "POST", zonePath, bearer, "application/json", `{"tags":[]}`, 400, "must not be empty"},
		{"relative file", "POST", zonePath, bearer, "application/json", `{"files":["/a"]}`, 400, "absolute"},
		{"host with scheme", "POST", zonePath, bearer, "application/json", `{"hosts":["https://www.example.com"]}`, 400, "bare host"},
		{"prefix with scheme", "POST", zonePath, bearer, "application/json", `{"prefixes":["https://www.example.com/news"]}`, 400, "without scheme"},
		{"prefix with query", "POST", zonePath, bearer, "application/json", `{"prefixes":["www.example.com/news?a=1"]}`, 400, "without scheme"},
		{"tag with space", "POST", zonePath, bearer, "application/json", `{"tags":["a b"]}`, 400, "space"},
	}
	s := cloudflaretest.NewServer(t, cloudflaretest.Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, hdr := post(t, s, tt.method, tt.path, tt.auth, tt.ctype, tt.body)
			if status != tt.status {
				t.Fatalf("status %d, want %d: %s", status, tt.status, body)
			}
			if !strings.Contains(body, tt.msgContains) {
				t.Errorf("body %s does not contain %q", body, tt.msgContains)
			}
			if err := sch.ValidateResponse(status, []byte(body)); err != nil {
				t.Errorf("response does not match the schema: %v\n%s", err, body)
			}
			if ct := hdr.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
	if got, want := len(s.Calls()), len(tests); got != want {
		t.Errorf("recorded %d calls, want %d", got, want)
	}
	if got := s.MaxItems(); got != 31 {
		t.Errorf("MaxItems = %d, want 31 (refused requests count)", got)
	}
	var accepted int
	for _, tt := range tests {
		if tt.status == 200 {
			accepted++
		}
	}
	if got := len(s.Accepted()); got != accepted {
		t.Errorf("Accepted() has %d calls, want %d", got, accepted)
	}
	first := s.Accepted()[1]
	if first.Key != "files" || len(first.Files) != 1 || first.Files[0].Headers["CF-IPCountry"] != "US" || first.ID == "" {
		t.Errorf("recorded call %+v", first)
	}
}

func TestServerFailures(t *testing.T) {
	t.Parallel()
	sch, err := cloudflaretest.LoadSchemas()
	if err != nil {
		t.Fatal(err)
	}
	s := cloudflaretest.NewServer(t, cloudflaretest.Options{MaxTags: 2})
	path := "/zones/" + s.Zone() + "/purge_cache"
	bearer := "Bearer " + s.Token()
	s.FailNext(purgertest.RateLimited)
	s.FailNext(purgertest.ServerError)
	s.FailNext(purgertest.ClientError)

	status, body, hdr := post(t, s, "POST", path, bearer, "application/json", `{"tags":["a"]}`)
	if status != 429 || hdr.Get("Retry-After") != "12" || !strings.Contains(body, "try again in 12 seconds") {
		t.Errorf("rate limited: %d %q %s", status, hdr.Get("Retry-After"), body)
	}
	if err := sch.ValidateResponse(status, []byte(body)); err != nil {
		t.Errorf("429 body: %v", err)
	}
	if status, _, _ := post(t, s, "POST", path, bearer, "application/json", `{"tags":["a"]}`); status != 502 {
		t.Errorf("server error: %d", status)
	}
	status, body, _ = post(t, s, "POST", path, bearer, "application/json", `{"tags":["a"]}`)
	if status != 400 || !strings.Contains(body, s.ClientErrorMessage()) {
		t.Errorf("client error: %d %s", status, body)
	}
	if status, body, _ := post(t, s, "POST", path, bearer, "application/json", `{"tags":["a","b"]}`); status != 200 {
		t.Errorf("after the failures: %d %s", status, body)
	}
	if status, _, _ := post(t, s, "POST", path, bearer, "application/json", `{"tags":["a","b","c"]}`); status != 400 {
		t.Errorf("MaxTags 2 let 3 tags through: %d", status)
	}
	s.SetRetryAfter(0)
	s.FailNext(purgertest.RateLimited)
	if status, _, hdr := post(t, s, "POST", path, bearer, "application/json", `{"tags":["a"]}`); status != 429 || hdr.Get("Retry-After") != "" {
		t.Errorf("rate limited without header: %d %q", status, hdr.Get("Retry-After"))
	}
	if s.Requests() != 6 {
		t.Errorf("Requests() = %d, want 6", s.Requests())
	}
}

// A refused item fails every request that carries it, with Cloudflare's
// error envelope naming it; requests without it succeed.
func TestServerRefusesOneItem(t *testing.T) {
	t.Parallel()
	sch, err := cloudflaretest.LoadSchemas()
	if err != nil {
		t.Fatal(err)
	}
	s := cloudflaretest.NewServer(t, cloudflaretest.Options{})
	path := "/zones/" + s.Zone() + "/purge_cache"
	bearer := "Bearer " + s.Token()
	s.Refuse("https://a.example/bad")
	status, body, _ := post(t, s, "POST", path, bearer, "application/json", `{"files":["https://a.example/ok","https://a.example/bad"]}`)
	if status != 400 || !strings.Contains(body, cloudflaretest.RefusedMessage+"https://a.example/bad") || !strings.Contains(body, `"success":false`) {
		t.Errorf("with the refused item: %d %s", status, body)
	}
	if err := sch.ValidateResponse(status, []byte(body)); err != nil {
		t.Errorf("400 body: %v", err)
	}
	if status, body, _ := post(t, s, "POST", path, bearer, "application/json", `{"files":["https://a.example/ok"]}`); status != 200 {
		t.Errorf("without it: %d %s", status, body)
	}
	if got := s.Accepted(); len(got) != 1 || got[0].Items[0] != "https://a.example/ok" {
		t.Errorf("accepted %+v", got)
	}
}
