package httpinvalidate

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/purgehook/purgehook/depcache"
)

var now = time.Date(2026, 3, 5, 14, 30, 0, 0, time.UTC)

// pages is a cache of pages whose dependencies are tags and page URLs, as
// the example app's are.
func pages(t *testing.T) *depcache.Cache[string, string] {
	t.Helper()
	c, err := depcache.New(depcache.Options[string, string]{Name: "pages"})
	if err != nil {
		t.Fatal(err)
	}
	for key, deps := range map[string][]string{
		"deluxe": {"item:deluxe", "type:room", "https://www.example.com/en/rooms/deluxe"},
		"suite":  {"item:suite", "type:room", "https://www.example.com/en/rooms/suite"},
		"news":   {"item:launch", "https://www.example.com/en/news/launch"},
		"pt":     {"item:home", "https://pt.example.com:8443/"},
	} {
		_, _ = c.GetOrLoad(context.Background(), key, func(context.Context) (string, []string, error) { return key, deps, nil })
	}
	return c
}

func signed(t *testing.T, secret string, ts time.Time, body string) *http.Request {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/_purgehook/invalidate", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set(TimestampHeader, strconv.FormatInt(ts.Unix(), 10))
	r.Header.Set(SignatureHeader, Sign(secret, ts.Unix(), []byte(body)))
	return r
}

func serve(t *testing.T, h http.Handler, r *http.Request) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("response %q is not JSON: %v", rec.Body.String(), err)
	}
	return rec.Code, out
}

func newHandler(t *testing.T, caches ...Invalidator) *Handler {
	t.Helper()
	h, err := NewHandler(Options{Secrets: []string{"new-secret", "old-secret"}, Caches: caches, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHandlerKinds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		kind  string
		items []string
		want  []string // what is left
	}{
		{KindTag, []string{"item:deluxe"}, []string{"news", "pt", "suite"}},
		{KindTag, []string{"type:room", "item:nothing"}, []string{"news", "pt"}},
		{KindURL, []string{"https://www.example.com/en/news/launch"}, []string{"deluxe", "pt", "suite"}},
		{KindPrefix, []string{"https://www.example.com/en/rooms"}, []string{"news", "pt"}},
		{KindHost, []string{"www.example.com"}, []string{"pt"}},
		{KindHost, []string{"pt.example.com"}, []string{"deluxe", "news", "suite"}},
		{KindEverything, nil, nil},
	} {
		t.Run(tc.kind+" "+strings.Join(tc.items, ","), func(t *testing.T) {
			t.Parallel()
			c := pages(t)
			h := newHandler(t, c)
			body, _ := json.Marshal(Message{ID: "call-1", Kind: tc.kind, Items: tc.items})
			code, out := serve(t, h, signed(t, "new-secret", now, string(body)))
			if code != http.StatusOK {
				t.Fatalf("status %d: %v", code, out)
			}
			var left []string
			for _, k := range []string{"deluxe", "news", "pt", "suite"} {
				if _, ok := c.Get(k); ok {
					left = append(left, k)
				}
			}
			if !slices.Equal(left, tc.want) {
				t.Errorf("left %v, want %v", left, tc.want)
			}
			if out["invalidated"] != float64(4-len(tc.want)) {
				t.Errorf("invalidated = %v, want %d", out["invalidated"], 4-len(tc.want))
			}
		})
	}
}

func TestHandlerRejections(t *testing.T) {
	t.Parallel()
	good := `{"id":"call-1","kind":"tag","items":["item:deluxe"]}`
	for _, tc := range []struct {
		name string
		req  func() *http.Request
		want int
	}{
		{"old secret still accepted (rotation)", func() *http.Request { return signed(t, "old-secret", now, good) }, http.StatusOK},
		{"wrong secret", func() *http.Request { return signed(t, "other", now, good) }, http.StatusUnauthorized},
		{"body changed after signing", func() *http.Request {
			r := signed(t, "new-secret", now, good)
			r.Body = httptest.NewRequest(http.MethodPost, "/", strings.NewReader(strings.Replace(good, "deluxe", "suite", 1))).Body
			return r
		}, http.StatusUnauthorized},
		{"timestamp changed after signing", func() *http.Request {
			r := signed(t, "new-secret", now, good)
			r.Header.Set(TimestampHeader, strconv.FormatInt(now.Unix()-1, 10))
			return r
		}, http.StatusUnauthorized},
		{"no signature", func() *http.Request {
			r := signed(t, "new-secret", now, good)
			r.Header.Del(SignatureHeader)
			return r
		}, http.StatusUnauthorized},
		{"signature without version", func() *http.Request {
			r := signed(t, "new-secret", now, good)
			r.Header.Set(SignatureHeader, strings.TrimPrefix(r.Header.Get(SignatureHeader), "v1="))
			return r
		}, http.StatusUnauthorized},
		{"several signatures, one good", func() *http.Request {
			r := signed(t, "new-secret", now, good)
			r.Header.Set(SignatureHeader, "v1=00ff, "+r.Header.Get(SignatureHeader))
			return r
		}, http.StatusOK},
		{"no timestamp", func() *http.Request {
			r := signed(t, "new-secret", now, good)
			r.Header.Del(TimestampHeader)
			return r
		}, http.StatusUnauthorized},
		{"timestamp not a number", func() *http.Request {
			r := signed(t, "new-secret", now, good)
			r.Header.Set(TimestampHeader, "yesterday")
			return r
		}, http.StatusUnauthorized},
		{"5 minutes old", func() *http.Request { return signed(t, "new-secret", now.Add(-5*time.Minute), good) }, http.StatusOK},
		{"over 5 minutes old (replay)", func() *http.Request { return signed(t, "new-secret", now.Add(-5*time.Minute-time.Second), good) }, http.StatusUnauthorized},
		{"over 5 minutes ahead", func() *http.Request { return signed(t, "new-secret", now.Add(5*time.Minute+time.Second), good) }, http.StatusUnauthorized},
		{"GET", func() *http.Request { return httptest.NewRequest(http.MethodGet, "/", nil) }, http.StatusMethodNotAllowed},
		{"over 1 MiB", func() *http.Request {
			return signed(t, "new-secret", now, `{"id":"x","kind":"tag","items":["`+strings.Repeat("a", 1<<20)+`"]}`)
		}, http.StatusRequestEntityTooLarge},
		{"not JSON", func() *http.Request { return signed(t, "new-secret", now, `kind=tag`) }, http.StatusBadRequest},
		{"trailing data", func() *http.Request { return signed(t, "new-secret", now, good+`{}`) }, http.StatusBadRequest},
		{"no id", func() *http.Request { return signed(t, "new-secret", now, `{"kind":"tag","items":["a"]}`) }, http.StatusBadRequest},
		{"unknown kind", func() *http.Request { return signed(t, "new-secret", now, `{"id":"x","kind":"ban","items":["a"]}`) }, http.StatusBadRequest},
		{"no items", func() *http.Request { return signed(t, "new-secret", now, `{"id":"x","kind":"url","items":[]}`) }, http.StatusBadRequest},
		{"empty item", func() *http.Request { return signed(t, "new-secret", now, `{"id":"x","kind":"url","items":["a",""]}`) }, http.StatusBadRequest},
		{"items not strings", func() *http.Request { return signed(t, "new-secret", now, `{"id":"x","kind":"url","items":[1]}`) }, http.StatusBadRequest},
		{"unknown field is fine", func() *http.Request {
			return signed(t, "new-secret", now, `{"id":"x","kind":"tag","items":["a"],"site":"savoy"}`)
		}, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := pages(t)
			code, out := serve(t, newHandler(t, c), tc.req())
			if code != tc.want {
				t.Fatalf("status %d, want %d: %v", code, tc.want, out)
			}
			if code != http.StatusOK {
				if out["error"] == "" || out["error"] == nil {
					t.Errorf("error response without a message: %v", out)
				}
				if c.Len() != 4 {
					t.Errorf("a refused request invalidated entries (%d left)", c.Len())
				}
			}
		})
	}
}

func TestHandlerDedupe(t *testing.T) {
	t.Parallel()
	c := pages(t)
	h, err := NewHandler(Options{Secrets: []string{"s"}, Caches: []Invalidator{c}, Dedupe: 2, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	call := func(id, item string) map[string]any {
		_, out := serve(t, h, signed(t, "s", now, `{"id":"`+id+`","kind":"tag","items":["`+item+`"]}`))
		return out
	}
	if out := call("a", "item:deluxe"); out["invalidated"] != 1.0 {
		t.Fatalf("first call: %v", out)
	}
	// The app caches the deluxe room again; purgehook retries call a
	// (another instance failed): it must not drop the fresh entry.
	_, _ = c.GetOrLoad(t.Context(), "deluxe", func(context.Context) (string, []string, error) {
		return "deluxe v2", []string{"item:deluxe"}, nil
	})
	if out := call("a", "item:deluxe"); out["invalidated"] != 0.0 || out["duplicate"] != true {
		t.Fatalf("retried call: %v", out)
	}
	if _, ok := c.Get("deluxe"); !ok {
		t.Error("a duplicate call dropped a fresh entry")
	}
	// Bounded memory: after two more ids, a is forgotten.
	call("b", "item:x")
	call("c", "item:y")
	if out := call("a", "item:deluxe"); out["invalidated"] != 1.0 {
		t.Errorf("after a was forgotten: %v", out)
	}
}

func TestNewHandlerNeedsASecret(t *testing.T) {
	t.Parallel()
	if _, err := NewHandler(Options{Secrets: []string{""}}); err == nil {
		t.Error("NewHandler without a secret succeeded")
	}
}

func TestSignIsTheDocumentedScheme(t *testing.T) {
	t.Parallel()
	// HMAC-SHA256("secret", "1700000000.{}") computed independently
	// (openssl dgst -sha256 -hmac secret).
	got := Sign("secret", 1700000000, []byte("{}"))
	want := "v1=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
	if got != want {
		t.Fatalf("Sign = %q, want %q", got, want)
	}
}

// FuzzHandler sends correctly signed bodies of any shape: a body the
// handler refuses must be a 400 that drops nothing, one it accepts a
// message decode calls valid, and the count it answers must be what left
// the cache.
func FuzzHandler(f *testing.F) {
	for _, body := range []string{
		`{"id":"call-1","kind":"tag","items":["item:deluxe"]}`,
		`{"id":"c","kind":"url","items":["https://www.example.com/en/news/launch"]}`,
		`{"id":"c","kind":"prefix","items":["https://www.example.com/en/"]}`,
		`{"id":"c","kind":"host","items":["pt.example.com:8443"]}`,
		`{"id":"c","kind":"everything","items":[]}`,
		`{"id":"c","kind":"everything"}`,
		`{"id":"c","kind":"tag","items":[""]}`,
		`{"id":"","kind":"tag","items":["x"]}`,
		`{"id":"c","kind":"purge","items":["x"]}`,
		`{"id":"c","kind":"tag","items":["x"]} {}`,
		`{"id":"c","kind":"tag","items":["x"],"extra":1}`,
		`[1,2]`,
		``,
	} {
		f.Add(body)
	}
	keys := []string{"deluxe", "news", "pt", "suite"}
	f.Fuzz(func(t *testing.T, body string) {
		c := pages(t)
		// A fresh handler per input, so no id is a duplicate; Dedupe: 1
		// spares allocating the default ring every time.
		h, err := NewHandler(Options{Secrets: []string{"s"}, Caches: []Invalidator{c}, Dedupe: 1, Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		code, out := serve(t, h, signed(t, "s", now, body))
		left := 0
		for _, k := range keys {
			if _, ok := c.Get(k); ok {
				left++
			}
		}
		m, err := decode([]byte(body))
		switch {
		case code == http.StatusOK && err == nil:
			if out["invalidated"] != float64(len(keys)-left) {
				t.Errorf("answered invalidated=%v, but %d entries left the cache", out["invalidated"], len(keys)-left)
			}
			if m.Kind == KindEverything && left != 0 {
				t.Errorf("everything left %d entries", left)
			}
		case code == http.StatusBadRequest && err != nil:
			if left != len(keys) {
				t.Errorf("a refused body (%v) dropped %d entries", err, len(keys)-left)
			}
		default:
			t.Errorf("status %d (%v) for a body decode judged %v", code, out, err)
		}
	})
}
