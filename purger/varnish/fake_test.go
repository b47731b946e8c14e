package varnish_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/purgehook/purgehook/purger"
	"github.com/purgehook/purgehook/purger/purgertest"
	"github.com/purgehook/purgehook/purger/varnish"
)

// fakeVarnish answers like a Varnish running purgehook.vcl, for the
// conformance suite: a real varnishd cannot produce a 429 or a stall on
// demand. Its answers copy Varnish's: synthetic responses whose reason
// phrase is the VCL's message, each with Retry-After: 5 (the built-in
// vcl_synth sets it on every synthetic response, the 200s too); the 429 is
// what vmod_vsthrottle (varnish-modules) would be used to send.
type fakeVarnish struct {
	purgertest.Tally

	srv     *httptest.Server
	maxTags int
	xkey    string
	stall   chan struct{}
}

func newFakeVarnish(t *testing.T, maxTags int) *fakeVarnish {
	f := &fakeVarnish{maxTags: maxTags, xkey: varnish.DefaultXkeyHeader, stall: make(chan struct{})}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() { close(f.stall); f.srv.Close() })
	return f
}

func synth(w http.ResponseWriter, status int, reason string) {
	// net/http cannot set a custom reason phrase, so hijack the
	// connection and write the status line Varnish would.
	h := w.Header()
	if h.Get("Retry-After") == "" {
		h.Set("Retry-After", "5")
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	body := fmt.Sprintf("<!DOCTYPE html><html><head><title>%d %s</title></head><body><h1>Error %d %s</h1><p>%s</p><h3>Guru Meditation:</h3><p>XID: 2</p><hr><p>Varnish cache server</p></body></html>", status, reason, status, reason, reason)
	hj, ok := w.(http.Hijacker)
	if !ok {
		w.WriteHeader(status)
		fmt.Fprint(w, body)
		return
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	fmt.Fprintf(buf, "HTTP/1.1 %d %s\r\n", status, reason)
	for k, vs := range h {
		for _, v := range vs {
			fmt.Fprintf(buf, "%s: %s\r\n", k, v)
		}
	}
	fmt.Fprintf(buf, "Content-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
	_ = buf.Flush() // the client hung up: nothing to answer
}

func (f *fakeVarnish) serve(w http.ResponseWriter, r *http.Request) {
	fail := f.Begin()
	items := 1
	if v := r.Header.Get(f.xkey); v != "" {
		items = len(strings.Fields(v))
	}
	f.Saw(items)

	switch fail {
	case purgertest.RateLimited:
		w.Header().Set("Retry-After", "7")
		synth(w, http.StatusTooManyRequests, "Too Many Requests")
		return
	case purgertest.ServerError:
		synth(w, http.StatusServiceUnavailable, "Backend fetch failed")
		return
	case purgertest.ClientError:
		synth(w, http.StatusMethodNotAllowed, "Purging not allowed from this address")
		return
	case purgertest.Stall:
		select {
		case <-r.Context().Done():
		case <-f.stall:
		}
		return
	}
	switch r.Method {
	case "PURGE":
		if v := r.Header.Get(f.xkey); v != "" {
			if items > f.maxTags {
				synth(w, http.StatusBadRequest, "Too many keys")
				return
			}
			synth(w, http.StatusOK, fmt.Sprintf("Invalidated %d objects", items))
			return
		}
		synth(w, http.StatusOK, "Purged 1 objects")
	case "BAN":
		if r.Header.Get("X-Ban-All") != "true" && r.Header.Get("X-Ban-Host") == "" {
			synth(w, http.StatusBadRequest, "BAN needs x-ban-host or x-ban-all")
			return
		}
		synth(w, http.StatusOK, "Ban added")
	default:
		synth(w, http.StatusMethodNotAllowed, "Method not allowed")
	}
}

func (f *fakeVarnish) RetryAfter() time.Duration  { return 7 * time.Second }
func (f *fakeVarnish) ClientErrorMessage() string { return "Purging not allowed from this address" }

func TestConformance(t *testing.T) {
	t.Parallel()
	for _, soft := range []bool{false, true} {
		t.Run(fmt.Sprintf("soft=%v", soft), func(t *testing.T) {
			t.Parallel()
			purgertest.Run(t, purgertest.Harness{
				New: func(t *testing.T, logger *slog.Logger) (purger.Purger, purgertest.Fake) {
					f := newFakeVarnish(t, varnish.DefaultTagsPerCall)
					p, err := varnish.New(varnish.Options{Name: "conf", Logger: logger, Config: varnish.Config{Servers: []string{f.srv.URL}, SoftPurge: soft}})
					if err != nil {
						t.Fatal(err)
					}
					return p, f
				},
				NewPair: func(t *testing.T, logger *slog.Logger) purgertest.Pair {
					a, b := newFakeVarnish(t, varnish.DefaultTagsPerCall), newFakeVarnish(t, varnish.DefaultTagsPerCall)
					servers := [2]string{a.srv.URL, b.srv.URL}
					p, err := varnish.New(varnish.Options{Name: "conf", Logger: logger, Config: varnish.Config{Servers: servers[:], SoftPurge: soft}})
					if err != nil {
						t.Fatal(err)
					}
					return purgertest.Pair{Purger: p, Fakes: [2]purgertest.Fake{a, b}, Servers: servers}
				},
			})
		})
	}
}
