package httpcall

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/purger"
	"github.com/purgehook/purgehook/purger/purgertest"
)

const (
	testToken  = "svc-token-9f8e7d6c5b4a"
	testAPIKey = "apikey-0a1b2c3d4e"
)

// batchOptions point the provider at the service's batch endpoint.
func batchOptions(s *cacheService) Options {
	return Options{Name: "index", Config: Config{Request: Request{
		Method:  "POST",
		URL:     s.URL + "/v1/invalidate",
		Headers: map[string]string{"Authorization": "Bearer " + testToken},
		Body:    `{"kind": {{json .Kind}}, "items": {{json .Items}}, "request_id": {{json .Key}}}`,
		Per:     PerBatch,
		Kinds:   []change.TargetKind{change.URL, change.Tag, change.Everything},
	}}}
}

// itemOptions point it at the per-URL endpoint, with the key in the query.
func itemOptions(s *cacheService) Options {
	return Options{Name: "cache", Config: Config{Request: Request{
		Method: "DELETE",
		URL:    s.URL + "/v1/cache?url={{urlquery .Item}}&key=" + testAPIKey,
		Headers: map[string]string{
			"X-Request-Id": "{{.Key}}",
			"Accept":       "application/json",
		},
	}}}
}

func mustNew(t *testing.T, o Options) *HTTP {
	t.Helper()
	h, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestConformance(t *testing.T) {
	for _, per := range []string{PerBatch, PerItem} {
		t.Run(per, func(t *testing.T) {
			purgertest.Run(t, purgertest.Harness{
				New: func(t *testing.T, logger *slog.Logger) (purger.Purger, purgertest.Fake) {
					s := newCacheService(t, testToken, testAPIKey, BatchPerCall)
					o := batchOptions(s)
					if per == PerItem {
						o = itemOptions(s)
					}
					o.Logger = logger
					return mustNew(t, o), s
				},
				Secrets: []string{testToken, testAPIKey},
			})
		})
	}
}

func TestBatchRequest(t *testing.T) {
	t.Parallel()
	s := newCacheService(t, testToken, testAPIKey, 10)
	h := mustNew(t, batchOptions(s))
	items := []string{"https://www.example.com/a", `https://www.example.com/q?x="y"`}
	if _, err := h.Purge(t.Context(), change.Call{Kind: change.URL, Items: items, Key: "call-7"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Purge(t.Context(), change.Call{Kind: change.Everything, Key: "call-8"}); err != nil {
		t.Fatal(err)
	}
	got := s.seen()
	want := []string{
		`{"kind": "url", "items": ["https://www.example.com/a","https://www.example.com/q?x=\"y\""], "request_id": "call-7"}`,
		`{"kind": "everything", "items": null, "request_id": "call-8"}`,
	}
	if len(got) != len(want) {
		t.Fatalf("%d requests, want %d", len(got), len(want))
	}
	for i, r := range got {
		if r.Body != want[i] {
			t.Errorf("body %d = %s\nwant       %s", i, r.Body, want[i])
		}
		if r.Header.Get("Content-Type") != "application/json" || r.Header.Get("User-Agent") != "purgehook" {
			t.Errorf("headers %v", r.Header)
		}
	}
}

func TestPerItemRequests(t *testing.T) {
	t.Parallel()
	s := newCacheService(t, testToken, testAPIKey, 10)
	h := mustNew(t, itemOptions(s))
	items := []string{"https://www.example.com/a?b=c&d=e", "https://www.example.com/caf%C3%A9"}
	if _, err := h.Purge(t.Context(), change.Call{Kind: change.URL, Items: items, Key: "k"}); err != nil {
		t.Fatal(err)
	}
	got := s.seen()
	if len(got) != 2 {
		t.Fatalf("%d requests, want 2", len(got))
	}
	for i, r := range got {
		q, _ := url.ParseQuery(r.Query)
		if r.Method != http.MethodDelete || q.Get("url") != items[i] || q.Get("key") != testAPIKey {
			t.Errorf("request %d: %s ?%s", i, r.Method, r.Query)
		}
		if id := r.Header.Get("X-Request-Id"); id != fmt.Sprintf("k-%d", i) {
			t.Errorf("request %d: X-Request-Id %q", i, id)
		}
		if r.Body != "" || r.Header.Get("Content-Type") != "" {
			t.Errorf("request %d: body %q, Content-Type %q", i, r.Body, r.Header.Get("Content-Type"))
		}
	}
}

func TestPerItemStopsAtTheFirstFailure(t *testing.T) {
	t.Parallel()
	s := newCacheService(t, testToken, testAPIKey, 10)
	h := mustNew(t, itemOptions(s))
	s.script(response{status: 204}, response{status: 502, body: "bad gateway"})
	items := []string{"https://www.example.com/1", "https://www.example.com/2", "https://www.example.com/3"}
	_, err := h.Purge(t.Context(), change.Call{Kind: change.URL, Items: items})
	if c, _ := purger.Classify(err); err == nil || c != purger.Retry {
		t.Fatalf("err = %v, want retry", err)
	}
	if !strings.Contains(err.Error(), "item 2 of 3: DELETE http://127.0.0.1:") || !strings.Contains(err.Error(), "/v1/cache: bad gateway") {
		t.Errorf("err = %q", err)
	}
	if n := len(s.seen()); n != 2 {
		t.Errorf("%d requests, want 2 (the third item is not tried)", n)
	}
}

func TestAnswers(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		resp      response
		items     int
		wantClass purger.Class
		wantAfter time.Duration
		wantMsg   string
	}{
		{"429 with an HTTP date", response{status: 429, header: http.Header{"Retry-After": {now.Add(90 * time.Second).Format(http.TimeFormat)}}, body: `{"message":"slow down"}`}, 1, purger.Snooze, 90 * time.Second, "slow down"},
		{"429 without a wait", response{status: 429}, 1, purger.Snooze, purger.DefaultRetryAfter, ""},
		{"413 of a batch splits", response{status: 413, body: `{"error":"too big"}`}, 2, purger.TooLarge, 0, "too big"},
		// The queue gives up on a call of one item that is too large.
		{"413 of one item is too large", response{status: 413, body: `{"error":"too big"}`}, 1, purger.TooLarge, 0, "too big"},
		{"a redirect is not followed", response{status: 302, header: http.Header{"Location": {"https://elsewhere.example/login?key=" + testAPIKey}}}, 1, purger.Permanent, 0, "redirected to https://elsewhere.example/login (redirects"},
		{"408 retries", response{status: 408, body: "timeout"}, 1, purger.Retry, 0, "timeout"},
		{"404 is permanent", response{status: 404, body: `{"detail":"no such index"}`}, 1, purger.Permanent, 0, "no such index"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newCacheService(t, testToken, testAPIKey, 10)
			o := batchOptions(s)
			o.Now = func() time.Time { return now }
			h := mustNew(t, o)
			s.script(tt.resp)
			items := make([]string, tt.items)
			for i := range items {
				items[i] = fmt.Sprintf("https://www.example.com/%d", i)
			}
			_, err := h.Purge(t.Context(), change.Call{Kind: change.URL, Items: items, Key: "k"})
			var pe *purger.Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want *purger.Error", err)
			}
			if pe.Class != tt.wantClass || pe.After != tt.wantAfter || !strings.Contains(pe.Msg, tt.wantMsg) {
				t.Errorf("err = %v (%s after %s), want %s after %s with %q", err, pe.Class, pe.After, tt.wantClass, tt.wantAfter, tt.wantMsg)
			}
			if strings.Contains(err.Error(), testAPIKey) || strings.Contains(err.Error(), testToken) {
				t.Errorf("err = %q carries a secret", err)
			}
			if n := len(s.seen()); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
		})
	}
}

func TestSecretsNeverInErrors(t *testing.T) {
	t.Parallel()
	s := newCacheService(t, testToken, testAPIKey, 10)
	check := func(name string, err error) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: no error", name)
			return
		}
		for _, sec := range []string{testToken, testAPIKey, "wrong-token-123456"} {
			if strings.Contains(err.Error(), sec) {
				t.Errorf("%s: %q carries a secret", name, err)
			}
		}
	}

	// The service echoes the wrong credentials it got.
	o := batchOptions(s)
	o.Request.Headers = map[string]string{"Authorization": "Bearer wrong-token-123456"}
	_, err := mustNew(t, o).Purge(t.Context(), change.Call{Kind: change.URL, Items: []string{"https://www.example.com/"}, Key: "k"})
	check("echoed token", err)
	if !strings.Contains(fmt.Sprint(err), `invalid credentials \"Bearer [redacted]\"`) && !strings.Contains(fmt.Sprint(err), `invalid credentials "[redacted]"`) {
		t.Errorf("err = %v, want the service's message with the token redacted", err)
	}

	// A transport error would repeat the URL with its key.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := l.Addr().String()
	l.Close()
	o = itemOptions(s)
	o.Request.URL = "http://" + closed + "/v1/cache?url={{urlquery .Item}}&key=" + testAPIKey
	_, err = mustNew(t, o).Purge(t.Context(), change.Call{Kind: change.URL, Items: []string{"https://www.example.com/"}})
	check("transport error", err)
	if c, _ := purger.Classify(err); c != purger.Retry {
		t.Errorf("transport error: class %s, want retry", c)
	}
}

func TestKindsAndEmptyCalls(t *testing.T) {
	t.Parallel()
	s := newCacheService(t, testToken, testAPIKey, 10)
	h := mustNew(t, itemOptions(s)) // default kinds: url
	if l := h.Limits(); !slices.Equal(l.Kinds, DefaultKinds) || l.Max(change.URL) != ItemsPerCall {
		t.Errorf("Limits() = %+v", l)
	}
	_, err := h.Purge(t.Context(), change.Call{Kind: change.Tag, Items: []string{"t"}})
	if c, _ := purger.Classify(err); err == nil || c != purger.Permanent {
		t.Errorf("unsupported kind: %v", err)
	}
	if _, err := h.Purge(t.Context(), change.Call{Kind: change.URL}); err != nil {
		t.Errorf("zero items: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := h.Purge(ctx, change.Call{Kind: change.URL, Items: []string{"https://x.example/"}}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if n := len(s.seen()); n != 0 {
		t.Errorf("%d requests, want 0", n)
	}
	if l := mustNew(t, batchOptions(s)).Limits(); l.Max(change.Tag) != BatchPerCall || l.Max(change.Everything) != 0 {
		t.Errorf("batch Limits() = %+v", l)
	}
}

func TestRenderFailuresArePermanent(t *testing.T) {
	t.Parallel()
	s := newCacheService(t, testToken, testAPIKey, 10)
	tests := []struct {
		name string
		edit func(o *Options)
		want string
	}{
		{"url renders relative", func(o *Options) { o.Request.URL = "{{.Item}}" }, `renders "/relative"`},
		{"header renders a line break", func(o *Options) { o.Request.Headers["X-Item"] = "{{.Item}}" }, "header X-Item renders a line break"},
		{"host of a non-URL", func(o *Options) { o.Request.URL = s.URL + "/{{host .Item}}" }, "error calling host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := itemOptions(s)
			tt.edit(&o)
			item := "/relative"
			if strings.Contains(tt.name, "line break") {
				item = "https://x.example/a\r\nX-Evil: 1"
			}
			if strings.Contains(tt.name, "host") {
				item = "http://[::1"
			}
			_, err := mustNew(t, o).Purge(t.Context(), change.Call{Kind: change.URL, Items: []string{item}})
			if c, _ := purger.Classify(err); err == nil || c != purger.Permanent || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want permanent containing %q", err, tt.want)
			}
		})
	}
	if n := len(s.seen()); n != 0 {
		t.Errorf("%d requests, want 0", n)
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		o    Options
		want string
	}{
		{Options{Name: "x"}, "request.url: required"},
		{Options{Name: "x", Config: Config{Request: Request{URL: "http://x", Per: "each"}}}, "request.per: want item or batch"},
		{Options{Name: "x", Config: Config{Request: Request{URL: "http://x", Kinds: []change.TargetKind{"file"}}}}, `request.kinds: unknown kind "file"`},
		{Options{Name: "x", Config: Config{Request: Request{URL: "http://x/{{.Item"}}}, "request.url: template"},
		{Options{Name: "x", Config: Config{Request: Request{URL: "http://x", Body: "{{.Nope}}"}}}, ""}, // caught at render time (missing field)
		{Options{Name: "x", Config: Config{Request: Request{URL: "http://x/?u={{.Item}}", Per: PerBatch}}}, "request.url: uses .Item"},
		{Options{Name: "x", Config: Config{Request: Request{URL: "http://x", Per: PerBatch, Body: "{{range .Items}}{{$.Index}}{{end}}"}}}, "request.body: uses .Item"},
		{Options{Name: "x", Config: Config{Request: Request{URL: "http://x", Headers: map[string]string{"Bad Name": "v"}}}}, "request.headers: invalid header name"},
	}
	for _, tt := range tests {
		_, err := New(tt.o)
		if tt.want == "" {
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "http[x]: ") {
			t.Errorf("New(%+v) = %v, want %q", tt.o, err, tt.want)
		}
	}
	if _, err := New(Options{Name: "x", Config: Config{Request: Request{URL: "http://x", Per: PerBatch, Body: `{{json .Items}} {{join "," .Items}}`}}}); err != nil {
		t.Errorf("a valid batch template: %v", err)
	}
}

func TestFuncs(t *testing.T) {
	t.Parallel()
	s := newCacheService(t, testToken, testAPIKey, 10)
	o := batchOptions(s)
	o.Request.Per = PerItem
	o.Request.Body = `{"kind": {{json .Kind}}, "items": [{{json (printf "%s|%s|%s" (host .Item) (path .Item) (uri .Item))}}], "request_id": {{json .Key}}}`
	if _, err := mustNew(t, o).Purge(t.Context(), change.Call{Kind: change.URL, Items: []string{"https://www.example.com/caf%C3%A9?x=1"}, Key: "k"}); err != nil {
		t.Fatal(err)
	}
	if got := s.seen()[0].Items; !slices.Equal(got, []string{"www.example.com|/caf%C3%A9|/caf%C3%A9?x=1"}) {
		t.Errorf("items = %q", got)
	}
}
