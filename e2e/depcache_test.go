package e2e

// depcache is a module of its own, so that applications importing it do not
// inherit purgehook's dependencies; these tests of its stream client
// against purgehook's real /v1/stream hub live here, in purgehook's module.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/purgehook/purgehook/depcache/httpinvalidate"
	"github.com/purgehook/purgehook/stream"
)

// tally is an Invalidator that records what it was asked to drop.
type tally struct {
	mu    sync.Mutex
	items []string
	all   int
}

func (c *tally) Invalidate(deps ...string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.items = append(c.items, deps...)
	return len(deps)
}

func (c *tally) InvalidateMatching(func(string) bool) int { return 0 }

func (c *tally) InvalidateAll() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.all++
	return 1
}

func (c *tally) snapshot() ([]string, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.items...), c.all
}

// syncBuffer collects log output from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func tagCall(id string) []byte {
	return fmt.Appendf(nil, `{"id":%q,"kind":"tag","items":[%q]}`, id, id)
}

// TestDepcacheClientExactlyOnceAcrossDisconnect kills the connection in the middle
// of a burst, publishes more while the client is locked out, lets it back
// in, and checks that every invalidation arrived exactly once, in order.
func TestDepcacheClientExactlyOnceAcrossDisconnect(t *testing.T) {
	t.Parallel()
	const token = "read-token-0123456789"
	var refuse atomic.Bool
	refused := make(chan struct{}, 1)
	hub, err := stream.NewHub(stream.Options{Authorize: func(r *http.Request) bool {
		if refuse.Load() {
			select {
			case refused <- struct{}{}:
			default:
			}
			return false
		}
		return r.Header.Get("Authorization") == "Bearer "+token
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(hub)
	t.Cleanup(srv.Close)

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // a hang fails rather than blocks
	defer cancel()
	caches := &tally{}
	logs := &syncBuffer{}
	got := make(chan string, 1000)
	var applied atomic.Int64
	var kill sync.Once
	c, err := httpinvalidate.NewClient(httpinvalidate.ClientOptions{
		URL: srv.URL, Token: token, Caches: []httpinvalidate.Invalidator{caches},
		MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		OnEvent: func(_ string, m httpinvalidate.Message, _ int) {
			got <- m.ID
			if applied.Add(1) == 50 {
				kill.Do(func() {
					refuse.Store(true)
					srv.CloseClientConnections()
				})
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	select {
	case <-c.Ready():
	case <-ctx.Done():
		t.Fatal("the client never connected")
	}

	publish := func(from, to int) {
		for i := from; i < to; i++ {
			if _, err := hub.Publish(ctx, tagCall(fmt.Sprintf("e%03d", i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	publish(0, 100)
	select {
	case <-refused: // the connection is gone and the client is locked out
	case <-ctx.Done():
		t.Fatal("the client never tried to reconnect")
	}
	publish(100, 200)
	refuse.Store(false)
	// A last event marks the end: events arrive in order, so once it is
	// here everything before it is too.
	publish(200, 201)

	var seq []string
	for len(seq) == 0 || seq[len(seq)-1] != "e200" {
		select {
		case id := <-got:
			seq = append(seq, id)
		case <-ctx.Done():
			t.Fatalf("stopped after %d events: %v", len(seq), seq[max(0, len(seq)-5):])
		}
	}
	if len(seq) != 201 {
		t.Fatalf("got %d events, want 201 (each once)", len(seq))
	}
	for i, id := range seq {
		if want := fmt.Sprintf("e%03d", i); id != want {
			t.Fatalf("event %d is %s, want %s", i, id, want)
		}
	}
	items, all := caches.snapshot()
	if len(items) != 201 || all != 0 {
		t.Errorf("the cache saw %d invalidations and %d invalidate-alls, want 201 and 0", len(items), all)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run returned %v", err)
	}
	if strings.Contains(logs.String(), token) {
		t.Error("the token appears in the client's logs")
	}
	if !strings.Contains(logs.String(), "401") {
		t.Errorf("the refused reconnects were not logged:\n%s", logs.String())
	}
}

func TestDepcacheClientDedupesAndResumes(t *testing.T) {
	t.Parallel()
	hub, err := stream.NewHub(stream.Options{Authorize: func(*http.Request) bool { return true }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(hub)
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	first, _ := hub.Publish(ctx, tagCall("before-start"))
	caches := &tally{}
	got := make(chan httpinvalidate.Message, 10)
	c, _ := httpinvalidate.NewClient(httpinvalidate.ClientOptions{URL: srv.URL, Caches: []httpinvalidate.Invalidator{caches}, MinBackoff: time.Millisecond,
		OnEvent: func(_ string, m httpinvalidate.Message, n int) { got <- m }})
	go func() { _ = c.Run(ctx) }() // Run returns only ctx's error
	<-c.Ready()
	// The purge queue retried call "k" (another instance failed), so the
	// stream carries it twice; the cache hears of it once.
	for range 2 {
		if _, err := hub.Publish(ctx, tagCall("k")); err != nil {
			t.Fatal(err)
		}
	}
	last, _ := hub.Publish(ctx, []byte(`{"id":"end","kind":"everything","items":[]}`))
	for m := range got {
		if m.ID == "end" {
			break
		}
	}
	items, all := caches.snapshot()
	if strings.Join(items, ",") != "k" || all != 1 {
		t.Errorf("cache saw %v and %d invalidate-alls; want [k] once (the event before the start was not replayed) and 1", items, all)
	}
	if c.LastEventID() != fmt.Sprint(last) {
		t.Errorf("LastEventID = %q, want %d", c.LastEventID(), last)
	}

	// A second client resuming from the first event gets the rest.
	caches2 := &tally{}
	got2 := make(chan httpinvalidate.Message, 10)
	c2, _ := httpinvalidate.NewClient(httpinvalidate.ClientOptions{URL: srv.URL, Caches: []httpinvalidate.Invalidator{caches2}, LastEventID: fmt.Sprint(first),
		OnEvent: func(_ string, m httpinvalidate.Message, n int) { got2 <- m }})
	go func() { _ = c2.Run(ctx) }()
	for m := range got2 {
		if m.ID == "end" {
			break
		}
	}
	if items, _ := caches2.snapshot(); strings.Join(items, ",") != "k" {
		t.Errorf("resumed client saw %v", items)
	}
}
