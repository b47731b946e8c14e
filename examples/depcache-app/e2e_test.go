package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/purgehook/purgehook/app"
	"github.com/purgehook/purgehook/depcache/httpinvalidate"
	"github.com/purgehook/purgehook/source/generic"
)

const (
	webhookSecret = "cms-webhook-secret-77"
	readToken     = "stream-read-token-31"
)

// purgehook runs the real service in-process on a temporary SQLite store,
// as the e2e package does.
func purgehook(t *testing.T, yaml string) *httptest.Server {
	t.Helper()
	yaml = strings.ReplaceAll(yaml, "$DIR", t.TempDir())
	cfg, err := app.ParseConfig([]byte(yaml))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := app.New(ctx, cfg, app.Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Close(cctx)
	})
	return srv
}

type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// publish sends the CMS's signed webhook (the generic contract).
func publish(t *testing.T, ph *httptest.Server, id, contentType string, urls, tags []string) {
	t.Helper()
	var p struct {
		Event   string `json:"event"`
		Content struct {
			ID          string   `json:"id"`
			ContentType string   `json:"contentType"`
			URLs        []string `json:"urls"`
			Tags        []string `json:"tags"`
		} `json:"content"`
	}
	p.Event = "ContentPublished"
	p.Content.ID, p.Content.ContentType, p.Content.URLs, p.Content.Tags = id, contentType, urls, tags
	body, _ := json.Marshal(p)
	req, _ := http.NewRequest(http.MethodPost, ph.URL+"/hooks/cms", strings.NewReader(string(body)))
	req.Header.Set(generic.SignatureHeader, generic.Sign(webhookSecret, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("webhook: %s", resp.Status)
	}
}

// waitFresh waits until path shows want, re-reading it after each
// invalidation the app applies; each wait is bounded so that a broken
// pipeline fails the test instead of hanging it.
func waitFresh(t *testing.T, s *site, applied <-chan int, path, want string) {
	t.Helper()
	for {
		_, body := s.get(t, path)
		if strings.Contains(body, want) {
			return
		}
		select {
		case code := <-applied:
			if code != http.StatusOK {
				t.Fatalf("an invalidation was answered %d", code)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("%s never showed %q; it shows:\n%s", path, want, body)
		}
	}
}

// TestEndToEndThroughPurgehook: the CMS publishes → a signed webhook to
// purgehook → purgehook's app provider calls the example app → the app
// serves fresh content.
func TestEndToEndThroughPurgehook(t *testing.T) {
	t.Parallel()
	s := newSite(t, appSecret)
	ph := purgehook(t, fmt.Sprintf(`
store: {driver: sqlite, dsn: $DIR/ph.db}
sites:
  - {name: hotel, base_url: %s}
sources:
  - {name: cms, kind: generic, secret: %s, site: hotel}
providers:
  - {name: apps, kind: app, instances: [%s/_purgehook/invalidate], secret: %s}
coalesce: 20ms
warm: {disabled: true}
`, s.srv.URL, webhookSecret, s.srv.URL, appSecret))

	// Visitors fill the cache.
	s.get(t, "/rooms")
	s.get(t, "/rooms/deluxe")
	listingFetches := s.cms.Requests("/items")

	// An editor publishes the spa (linked from both rooms); the webhook
	// carries its cache tag.
	s.cms.Publish("spa", "Spa & Thermal Baths")
	publish(t, ph, "spa", "amenity", nil, []string{"item:spa"})
	waitFresh(t, s, s.calls, "/rooms/deluxe", "Spa &amp; Thermal Baths")
	for _, p := range []string{"/rooms", "/rooms/suite"} {
		if _, body := s.get(t, p); !strings.Contains(body, "Spa &amp; Thermal Baths") {
			t.Errorf("%s is stale after publish → purgehook → app:\n%s", p, body)
		}
	}
	if got := s.cms.Requests("/items"); got != listingFetches+1 {
		t.Errorf("the listing was fetched %d times after the publish, want once", got-listingFetches)
	}

	// An editor publishes a room page; the webhook carries its site-relative
	// URL and the list page that shows it, which purgehook makes absolute
	// with the site's base URL: the app's page entries depend on those.
	s.cms.Publish("suite", "Palace Suite, renovated")
	publish(t, ph, "suite", "room", []string{"/rooms/suite", "/rooms"}, nil)
	waitFresh(t, s, s.calls, "/rooms", "Palace Suite, renovated")
	if _, body := s.get(t, "/rooms/suite"); !strings.Contains(body, "Palace Suite, renovated") {
		t.Errorf("/rooms/suite is stale after a URL purge:\n%s", body)
	}
}

// TestEndToEndThroughTheStream: the same, for an instance that cannot
// accept inbound calls: purgehook's app provider publishes on /v1/stream
// and the app follows it with a read token.
func TestEndToEndThroughTheStream(t *testing.T) {
	t.Parallel()
	s := newSite(t) // no secret: nothing can call the app
	ph := purgehook(t, fmt.Sprintf(`
store: {driver: sqlite, dsn: $DIR/ph.db}
admin: {tokens: [{name: apps, secret: %s, scopes: [read]}]}
sites:
  - {name: hotel, base_url: %s}
sources:
  - {name: cms, kind: generic, secret: %s, site: hotel}
providers:
  - {name: apps, kind: app, stream: true}
coalesce: 20ms
warm: {disabled: true}
`, readToken, s.srv.URL, webhookSecret))

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	applied := make(chan int, 10)
	client, err := httpinvalidate.NewClient(httpinvalidate.ClientOptions{
		URL: ph.URL + "/v1/stream", Token: readToken, Caches: s.app.Caches(),
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		OnEvent: func(_ string, m httpinvalidate.Message, n int) { applied <- http.StatusOK },
	})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = client.Run(ctx) }() // it returns ctx's error only
	select {
	case <-client.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("the app never connected to /v1/stream")
	}

	s.get(t, "/rooms/deluxe")
	s.cms.Publish("breakfast", "Breakfast until noon")
	publish(t, ph, "breakfast", "amenity", nil, []string{"item:breakfast"})
	waitFresh(t, s, applied, "/rooms/deluxe", "Breakfast until noon")

	// A token without the read scope is refused.
	req, _ := http.NewRequest(http.MethodGet, ph.URL+"/v1/stream", nil)
	req.Header.Set("Authorization", "Bearer not-a-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("/v1/stream with a bad token: %s", resp.Status)
	}
}
