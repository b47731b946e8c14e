package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/purgehook/purgehook/depcache/httpinvalidate"
	"github.com/purgehook/purgehook/stream"
)

const appSecret = "app-secret-4d1e"

// site is the example app in front of a fake delivery API.
type site struct {
	cms *FakeDelivery
	app *App
	srv *httptest.Server
	// calls receives the status of every answered POST
	// /_purgehook/invalidate, so tests know when a call was applied.
	calls chan int
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func newSite(t *testing.T, secrets ...string) *site {
	t.Helper()
	cms := NewFakeDelivery()
	api := httptest.NewServer(cms)
	t.Cleanup(api.Close)
	s := &site{cms: cms, calls: make(chan int, 100)}
	// The app's base URL is its own address, known only once it listens.
	s.srv = httptest.NewUnstartedServer(nil)
	base := "http://" + s.srv.Listener.Addr().String()
	app, err := NewApp(Config{DeliveryURL: api.URL, BaseURL: base, Secrets: secrets})
	if err != nil {
		t.Fatal(err)
	}
	s.app = app
	s.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/_purgehook/invalidate" {
			app.Handler().ServeHTTP(w, r)
			return
		}
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		app.Handler().ServeHTTP(rec, r)
		s.calls <- rec.status
	})
	s.srv.Start()
	t.Cleanup(s.srv.Close)
	return s
}

func (s *site) get(t *testing.T, path string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(s.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestPagesHeadersAndCaching(t *testing.T) {
	t.Parallel()
	s := newSite(t, appSecret)
	for _, tc := range []struct {
		path, cacheControl, cdn, tag, body string
	}{
		{"/rooms", htmlCacheControl, cdnCacheControl, "item:breakfast,item:butler,item:deluxe,item:spa,item:suite,listing:room,type:room", "Palace Suite"},
		{"/rooms/deluxe", htmlCacheControl, cdnCacheControl, "item:breakfast,item:deluxe,item:spa,type:room", "A room with a view"},
		{"/api/items/spa", apiCacheControl, "", "", `"Title":"Spa"`},
		{"/static/site.css", assetCacheControl, "", "", "font-family"},
	} {
		resp, body := s.get(t, tc.path)
		h := resp.Header
		if resp.StatusCode != http.StatusOK || h.Get("Cache-Control") != tc.cacheControl || h.Get("CDN-Cache-Control") != tc.cdn || h.Get("Cache-Tag") != tc.tag || !strings.Contains(body, tc.body) {
			t.Errorf("%s: %d Cache-Control %q CDN-Cache-Control %q Cache-Tag %q body %q", tc.path, resp.StatusCode,
				h.Get("Cache-Control"), h.Get("CDN-Cache-Control"), h.Get("Cache-Tag"), body)
		}
	}
	if resp, _ := s.get(t, "/rooms/spa"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("an amenity as a room page: %d", resp.StatusCode)
	}
	if resp, _ := s.get(t, "/rooms/nothing"); resp.StatusCode != http.StatusNotFound || resp.Header.Get("Cache-Control") != apiCacheControl {
		t.Errorf("a missing room: %d %q", resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
	// Everything is cached now: more requests reach no delivery API.
	before := s.cms.Requests("/items/deluxe") + s.cms.Requests("/items")
	for range 5 {
		s.get(t, "/rooms")
		s.get(t, "/rooms/deluxe")
	}
	if after := s.cms.Requests("/items/deluxe") + s.cms.Requests("/items"); after != before {
		t.Errorf("cached pages fetched from the delivery API %d more times", after-before)
	}
	if before != 2 {
		t.Errorf("the first requests fetched %d times, want the listing and deluxe once each", before)
	}
}

// invalidate makes purgehook's app provider call by hand.
func (s *site) invalidate(t *testing.T, secret string, m httpinvalidate.Message) (int, string) {
	t.Helper()
	body := fmt.Sprintf(`{"id":%q,"kind":%q,"items":[%s]}`, m.ID, m.Kind, quoteAll(m.Items))
	req, _ := http.NewRequest(http.MethodPost, s.srv.URL+"/_purgehook/invalidate", strings.NewReader(body))
	ts := time.Now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(httpinvalidate.TimestampHeader, strconv.FormatInt(ts, 10))
	req.Header.Set(httpinvalidate.SignatureHeader, httpinvalidate.Sign(secret, ts, []byte(body)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func quoteAll(items []string) string {
	q := make([]string, len(items))
	for i, it := range items {
		q[i] = strconv.Quote(it)
	}
	return strings.Join(q, ",")
}

func TestInvalidationReachesPages(t *testing.T) {
	t.Parallel()
	s := newSite(t, appSecret)
	s.get(t, "/rooms")
	s.get(t, "/rooms/suite")

	// An amenity both rooms link is published: the tag purge drops the
	// rooms that show it and the listing built from them (three entries).
	s.cms.Publish("spa", "Spa & Hammam")
	if _, body := s.get(t, "/rooms"); strings.Contains(body, "Hammam") {
		t.Fatal("fresh before the invalidation: the page was not cached")
	}
	code, body := s.invalidate(t, appSecret, httpinvalidate.Message{ID: "c1", Kind: "tag", Items: []string{"item:spa"}})
	if code != http.StatusOK || body != `{"invalidated":3}`+"\n" {
		t.Fatalf("invalidate: %d %s", code, body)
	}
	for _, p := range []string{"/rooms", "/rooms/suite", "/rooms/deluxe"} {
		if _, body := s.get(t, p); !strings.Contains(body, "Spa &amp; Hammam") {
			t.Errorf("%s is stale after the invalidation:\n%s", p, body)
		}
	}

	// A URL purge of one page drops that page's entry (and the listing,
	// which is built from it).
	s.cms.Publish("suite", "Royal Suite")
	code, _ = s.invalidate(t, appSecret, httpinvalidate.Message{ID: "c2", Kind: "url", Items: []string{s.srv.URL + "/rooms/suite"}})
	if _, body := s.get(t, "/rooms"); code != http.StatusOK || !strings.Contains(body, "Royal Suite") {
		t.Errorf("listing after a URL purge of the suite: %s", body)
	}
	// A wrong secret changes nothing.
	s.cms.Publish("deluxe", "Grand Deluxe")
	if code, _ := s.invalidate(t, "guess", httpinvalidate.Message{ID: "c3", Kind: "everything"}); code != http.StatusUnauthorized {
		t.Errorf("wrong secret: %d", code)
	}
	if _, body := s.get(t, "/rooms/deluxe"); strings.Contains(body, "Grand") {
		t.Error("an unsigned call invalidated the cache")
	}
}

func TestStreamClientKeepsTheAppFresh(t *testing.T) {
	t.Parallel()
	s := newSite(t) // no secret: the endpoint is off, the stream is the way in
	hub, err := stream.NewHub(stream.Options{Authorize: func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer read-token" }})
	if err != nil {
		t.Fatal(err)
	}
	ph := httptest.NewServer(hub)
	t.Cleanup(ph.Close)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	applied := make(chan string, 10)
	client, err := httpinvalidate.NewClient(httpinvalidate.ClientOptions{URL: ph.URL, Token: "read-token", Caches: s.app.Caches(),
		OnEvent: func(_ string, m httpinvalidate.Message, _ int) { applied <- m.ID }})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = client.Run(ctx) }() // it returns ctx's error only
	<-client.Ready()

	s.get(t, "/rooms/deluxe")
	s.cms.Publish("breakfast", "Breakfast until noon")
	if _, err := hub.Publish(ctx, []byte(`{"id":"k1","kind":"tag","items":["item:breakfast"]}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-applied:
	case <-ctx.Done():
		t.Fatal("the event never reached the app")
	}
	if _, body := s.get(t, "/rooms/deluxe"); !strings.Contains(body, "Breakfast until noon") {
		t.Errorf("stale after the stream event:\n%s", body)
	}
	if code, _ := s.invalidate(t, appSecret, httpinvalidate.Message{ID: "x", Kind: "everything"}); code != http.StatusMethodNotAllowed && code != http.StatusNotFound {
		t.Errorf("the invalidate endpoint answered %d although no secret is configured", code)
	}
}
