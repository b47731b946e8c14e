package httpinvalidate

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
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

// roundTrip is a fake transport for tests in a synctest bubble.
type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func streamResponse(body io.ReadCloser) *http.Response {
	return &http.Response{
		StatusCode: http.StatusOK, Status: "200 OK",
		Header: http.Header{"Content-Type": {"text/event-stream"}},
		Body:   body,
	}
}

func TestClientBackoff(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var mu sync.Mutex
		var at []time.Duration
		rt := roundTrip(func(r *http.Request) (*http.Response, error) {
			mu.Lock()
			defer mu.Unlock()
			at = append(at, time.Since(start))
			if len(at) == 6 { // accepted, then the stream ends at once
				return streamResponse(io.NopCloser(strings.NewReader(": hello\n\n"))), nil
			}
			return nil, errors.New("connection refused")
		})
		c, _ := NewClient(ClientOptions{
			URL: "http://purgehook.test/v1/stream", HTTPClient: &http.Client{Transport: rt},
			MinBackoff: time.Second, MaxBackoff: 8 * time.Second,
			Rand:   func() float64 { return 0.5 },
			Logger: slog.New(slog.DiscardHandler),
		})
		ctx, cancel := context.WithCancel(t.Context())
		go func() { _ = c.Run(ctx) }() // Run returns only ctx's error
		time.Sleep(30 * time.Second)
		cancel()
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		// Waits of d/2 + 0.5·d/2 for d = 1s, 2s, 4s, 8s, 8s (the cap); the
		// accepted sixth connection starts the doubling over.
		want := []time.Duration{750 * time.Millisecond, 1500 * time.Millisecond, 3 * time.Second, 6 * time.Second, 6 * time.Second, 750 * time.Millisecond, 1500 * time.Millisecond}
		for i, w := range want {
			if i+1 >= len(at) {
				t.Fatalf("only %d attempts: %v", len(at), at)
			}
			if gap := at[i+1] - at[i]; gap != w {
				t.Errorf("wait before attempt %d: %s, want %s (attempts at %v)", i+2, gap, w, at)
			}
		}
	})
}

func TestBackoffBounds(t *testing.T) {
	t.Parallel()
	for _, r := range []float64{0, 0.999999} {
		c, _ := NewClient(ClientOptions{URL: "http://x", MinBackoff: 100 * time.Millisecond, MaxBackoff: 10 * time.Second, Rand: func() float64 { return r }})
		for n := range 70 {
			d := min(10*time.Second, 100*time.Millisecond<<min(n, 20))
			if got := c.backoff(n); got < d/2 || got >= d {
				t.Errorf("backoff(%d) with rand %v = %s, want in [%s, %s)", n, r, got, d/2, d)
			}
		}
	}
}

func TestClientIdleTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var mu sync.Mutex
		var at []time.Duration
		var writers []*io.PipeWriter
		rt := roundTrip(func(r *http.Request) (*http.Response, error) {
			pr, pw := io.Pipe()
			mu.Lock()
			at = append(at, time.Since(start))
			writers = append(writers, pw)
			mu.Unlock()
			return streamResponse(pr), nil
		})
		logs := &syncBuffer{}
		c, _ := NewClient(ClientOptions{
			URL: "http://purgehook.test/v1/stream", HTTPClient: &http.Client{Transport: rt},
			MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond, IdleTimeout: 45 * time.Second,
			Rand:   func() float64 { return 0 },
			Logger: slog.New(slog.NewTextHandler(logs, nil)),
		})
		ctx, cancel := context.WithCancel(t.Context())
		go func() { _ = c.Run(ctx) }() // Run returns only ctx's error
		synctest.Wait()
		// Heartbeats every 30s keep the connection.
		for range 3 {
			time.Sleep(30 * time.Second)
			mu.Lock()
			w := writers[0]
			mu.Unlock()
			_, _ = w.Write([]byte(": heartbeat\n\n")) // a gone client is the next read's news
		}
		synctest.Wait()
		mu.Lock()
		if len(at) != 1 {
			t.Fatalf("reconnected although heartbeats kept arriving: %v", at)
		}
		mu.Unlock()
		// Then silence: 45s after the last heartbeat the client gives up
		// and reconnects (after a 0.5ms backoff).
		time.Sleep(46 * time.Second)
		synctest.Wait()
		cancel()
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		if len(at) != 2 || at[1] != 90*time.Second+45*time.Second+500*time.Microsecond {
			t.Fatalf("attempts at %v, want a second one at 2m15.0005s", at)
		}
		if !strings.Contains(logs.String(), "no event or heartbeat for 45s") {
			t.Errorf("the idle timeout was not logged:\n%s", logs.String())
		}
	})
}

func TestClientUnreadableEventInvalidatesEverything(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		body := "id: 7\nevent: invalidate\ndata: {not json\n\n" +
			"id: 8\nevent: something-else\ndata: {}\n\n" +
			"id: 9\n\n"
		var once atomic.Bool
		rt := roundTrip(func(r *http.Request) (*http.Response, error) {
			if once.Swap(true) {
				return nil, errors.New("done")
			}
			return streamResponse(io.NopCloser(strings.NewReader(body))), nil
		})
		caches := &tally{}
		c, _ := NewClient(ClientOptions{URL: "http://purgehook.test/v1/stream", HTTPClient: &http.Client{Transport: rt},
			Caches: []Invalidator{caches}, Logger: slog.New(slog.DiscardHandler)})
		ctx, cancel := context.WithCancel(t.Context())
		go func() { _ = c.Run(ctx) }() // Run returns only ctx's error
		synctest.Wait()
		cancel()
		if _, all := caches.snapshot(); all != 1 {
			t.Errorf("an unreadable event caused %d invalidate-alls, want 1", all)
		}
		if c.LastEventID() != "9" {
			t.Errorf("LastEventID = %q, want 9 (id-only messages move it too)", c.LastEventID())
		}
	})
}

func TestClientRedactsCredentials(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "bad token "+strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "), http.StatusUnauthorized)
	}))
	t.Cleanup(srv.Close)
	c, _ := NewClient(ClientOptions{URL: strings.Replace(srv.URL, "http://", "http://user:pa55word@", 1), Token: "tok-secret-123"})
	_, err := c.follow(t.Context())
	if err == nil || strings.Contains(err.Error(), "tok-secret-123") || strings.Contains(err.Error(), "pa55word") {
		t.Errorf("error %v", err)
	}
	if !strings.Contains(err.Error(), "401") {
		t.Errorf("error %v does not say 401", err)
	}
}
