package app_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/purgehook/purgehook/depcache/httpinvalidate"
	"github.com/purgehook/purgehook/purger/purgertest"
)

// fakeInstance is an application instance: the real
// depcache/httpinvalidate.Handler (so signatures are checked by the code
// applications run) in front of a recording cache, plus the failures the
// conformance suite asks for. It also enforces the provider's declared
// per-call item limit, which the handler itself does not have.
type fakeInstance struct {
	purgertest.Tally
	srv      *httptest.Server
	handler  *httpinvalidate.Handler
	cache    *tally
	maxItems int

	mu      sync.Mutex
	bodies  [][]byte
	headers []http.Header
	status  int // answer every request with this status (0: the handler's)
	stall   chan struct{}
}

const path = "/_purgehook/invalidate"

func newFakeInstance(t *testing.T, secret string, maxItems int) *fakeInstance {
	t.Helper()
	return newFakeInstanceAt(t, secret, maxItems, "")
}

// newFakeInstanceAt listens on addr ("": any loopback port).
func newFakeInstanceAt(t *testing.T, secret string, maxItems int, addr string) *fakeInstance {
	t.Helper()
	f := &fakeInstance{cache: &tally{}, maxItems: maxItems, stall: make(chan struct{})}
	h, err := httpinvalidate.NewHandler(httpinvalidate.Options{Secrets: []string{secret}, Caches: []httpinvalidate.Invalidator{f.cache}})
	if err != nil {
		t.Fatal(err)
	}
	f.handler = h
	mux := http.NewServeMux()
	mux.HandleFunc(path, f.serve)
	if addr == "" {
		f.srv = httptest.NewServer(mux)
	} else {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		f.srv = httptest.NewUnstartedServer(mux)
		f.srv.Listener.Close()
		f.srv.Listener = l
		f.srv.Start()
	}
	t.Cleanup(func() { close(f.stall); f.srv.Close() })
	return f
}

func (f *fakeInstance) url() string { return f.srv.URL + path }

func jsonError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":%q}`, msg)
}

func (f *fakeInstance) serve(w http.ResponseWriter, r *http.Request) {
	fail := f.Begin()
	body, _ := io.ReadAll(r.Body)
	var m httpinvalidate.Message
	_ = json.Unmarshal(body, &m) // a body that is no message counts as one of no items
	f.Saw(len(m.Items))
	f.mu.Lock()
	f.bodies = append(f.bodies, body)
	f.headers = append(f.headers, r.Header.Clone())
	status := f.status
	f.mu.Unlock()

	switch fail {
	case purgertest.RateLimited:
		w.Header().Set("Retry-After", "7")
		jsonError(w, http.StatusTooManyRequests, "busy, try later")
		return
	case purgertest.ServerError:
		jsonError(w, http.StatusServiceUnavailable, "instance is shutting down")
		return
	case purgertest.ClientError:
		jsonError(w, http.StatusUnauthorized, "authentication failed")
		return
	case purgertest.Stall:
		select {
		case <-r.Context().Done():
		case <-f.stall:
		}
		return
	}
	if status != 0 {
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "30")
		}
		jsonError(w, status, fmt.Sprintf("status %d on purpose", status))
		return
	}
	if len(m.Items) > f.maxItems {
		jsonError(w, http.StatusBadRequest, fmt.Sprintf("%d items; at most %d", len(m.Items), f.maxItems))
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	f.handler.ServeHTTP(w, r)
}

func (f *fakeInstance) RetryAfter() time.Duration { return 7 * time.Second }

func (f *fakeInstance) ClientErrorMessage() string { return "authentication failed" }

func (f *fakeInstance) answer(status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status = status
}

func (f *fakeInstance) lastBody() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.bodies) == 0 {
		return nil
	}
	return f.bodies[len(f.bodies)-1]
}

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

func newServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}
