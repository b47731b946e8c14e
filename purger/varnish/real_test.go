package varnish_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/internal/varnishtest"
	"github.com/purgehook/purgehook/purger"
	"github.com/purgehook/purgehook/purger/varnish"
)

// These tests run the VCL we ship, examples/varnish/purgehook.vcl, as it
// is, in a real varnishd (internal/varnishtest), in front of an httptest
// origin.

func shippedVCL(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../examples/varnish/purgehook.vcl")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// origin serves every path with a body that counts its fetches per host
// and path ("www.example.com/a #2"), cacheable for an hour, tagged with
// the xkey header from its tags map.
type origin struct {
	srv  *httptest.Server
	tags map[string]string // path → xkey value

	mu      sync.Mutex
	fetches map[string]int
}

func newOrigin(t *testing.T, tags map[string]string) *origin {
	o := &origin{tags: tags, fetches: map[string]int{}}
	o.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Host + r.URL.RequestURI()
		o.mu.Lock()
		o.fetches[key]++
		n := o.fetches[key]
		o.mu.Unlock()
		w.Header().Set("Cache-Control", "max-age=3600")
		if x := o.tags[r.URL.Path]; x != "" {
			w.Header().Set("xkey", x)
		}
		fmt.Fprintf(w, "%s #%d", key, n)
	}))
	t.Cleanup(o.srv.Close)
	return o
}

func (o *origin) addr() string { return o.srv.Listener.Addr().String() }

func (o *origin) count(key string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.fetches[key]
}

type page struct {
	cache string // X-Cache
	body  string
	hdr   http.Header
}

func get(t *testing.T, v *varnishtest.Varnish, host, uri string) page {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, v.URL+uri, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s%s: %d %s", host, uri, resp.StatusCode, b)
	}
	return page{cache: resp.Header.Get("X-Cache"), body: string(b), hdr: resp.Header}
}

// expect GETs each (host, uri) and checks X-Cache and the fetch number
// in the body.
func expect(t *testing.T, v *varnishtest.Varnish, host, uri, cache string, fetch int) {
	t.Helper()
	p := get(t, v, host, uri)
	want := fmt.Sprintf("%s%s #%d", strings.ToLower(host), uri, fetch)
	if p.cache != cache || p.body != want {
		t.Errorf("GET %s%s: X-Cache %s body %q, want %s %q", host, uri, p.cache, p.body, cache, want)
	}
}

func newVarnishPurger(t *testing.T, o varnish.Options) *varnish.Purger {
	t.Helper()
	if o.Name == "" {
		o.Name = "origin"
	}
	p, err := varnish.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func purge(t *testing.T, p *varnish.Purger, kind change.TargetKind, items ...string) {
	t.Helper()
	if _, err := p.Purge(t.Context(), change.Call{Kind: kind, Items: items}); err != nil {
		t.Fatalf("purge %s %v: %v", kind, items, err)
	}
}

const host = "www.example.com"

func TestRealURLPurge(t *testing.T) {
	t.Parallel()
	o := newOrigin(t, nil)
	v := varnishtest.Start(t, shippedVCL(t), o.addr())
	p := newVarnishPurger(t, varnish.Options{Config: varnish.Config{Servers: []string{v.URL}}})

	expect(t, v, host, "/a", "MISS", 1)
	expect(t, v, host, "/a", "HIT", 1)
	expect(t, v, host, "/a?x=1", "MISS", 1)
	expect(t, v, host, "/b", "MISS", 1)
	expect(t, v, "www.other.com", "/a", "MISS", 1)

	purge(t, p, change.URL, "https://www.example.com/a")
	expect(t, v, host, "/a", "MISS", 2)
	expect(t, v, host, "/a", "HIT", 2)
	expect(t, v, host, "/a?x=1", "HIT", 1)        // the query is part of the URL
	expect(t, v, host, "/b", "HIT", 1)            // other paths stay
	expect(t, v, "www.other.com", "/a", "HIT", 1) // the Host header picks the object

	purge(t, p, change.URL, "http://www.example.com/a?x=1", "https://www.example.com/b")
	expect(t, v, host, "/a?x=1", "MISS", 2)
	expect(t, v, host, "/b", "MISS", 2)

	// Tags and ban bookkeeping stay private; the 200 synth carries
	// Retry-After: 5, which is not a rate limit.
	pg := get(t, v, host, "/a")
	for _, h := range []string{"Xkey", "X-Url", "X-Host"} {
		if pg.hdr.Get(h) != "" {
			t.Errorf("response exposes %s: %q", h, pg.hdr.Get(h))
		}
	}
	req, _ := http.NewRequestWithContext(t.Context(), "PURGE", v.URL+"/a", nil)
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Retry-After") != "5" || !strings.HasPrefix(resp.Status, "200 Purged 1 objects") {
		t.Errorf("raw PURGE: %q Retry-After %q", resp.Status, resp.Header.Get("Retry-After"))
	}
}

func TestRealTagPurge(t *testing.T) {
	t.Parallel()
	o := newOrigin(t, map[string]string{"/rooms/1": "room-1 rooms", "/rooms/2": "room-2 rooms", "/about": "about"})
	v := varnishtest.Start(t, shippedVCL(t), o.addr())
	p := newVarnishPurger(t, varnish.Options{Config: varnish.Config{Servers: []string{v.URL}}})
	for _, u := range []string{"/rooms/1", "/rooms/2", "/about"} {
		expect(t, v, host, u, "MISS", 1)
		expect(t, v, host, u, "HIT", 1)
	}

	purge(t, p, change.Tag, "room-1")
	expect(t, v, host, "/rooms/1", "MISS", 2)
	expect(t, v, host, "/rooms/2", "HIT", 1)

	purge(t, p, change.Tag, "rooms", "no-such-tag")
	expect(t, v, host, "/rooms/1", "MISS", 3)
	expect(t, v, host, "/rooms/2", "MISS", 2)
	expect(t, v, host, "/about", "HIT", 1)
}

func TestRealCustomXkeyHeader(t *testing.T) {
	t.Parallel()
	o := newOrigin(t, map[string]string{"/a": "t1"})
	vcl := strings.ReplaceAll(shippedVCL(t), "req.http.xkey-purge", "req.http.x-purge-tags")
	v := varnishtest.Start(t, vcl, o.addr())
	p := newVarnishPurger(t, varnish.Options{Config: varnish.Config{Servers: []string{v.URL}, XkeyHeader: "X-Purge-Tags"}})
	expect(t, v, host, "/a", "MISS", 1)
	purge(t, p, change.Tag, "t1")
	expect(t, v, host, "/a", "MISS", 2)
}

func TestRealBans(t *testing.T) {
	t.Parallel()
	o := newOrigin(t, nil)
	v := varnishtest.Start(t, shippedVCL(t), o.addr())
	p := newVarnishPurger(t, varnish.Options{Config: varnish.Config{Servers: []string{v.URL}}})
	pages := []struct{ host, uri string }{
		{host, "/news/1"}, {host, "/news/2?page=2"}, {host, "/newsletter"}, {host, "/about"},
		{host, "/v1.0/x"}, {host, "/v1x0/x"}, {"www.other.com", "/news/1"}, {"WWW.Third.com", "/"},
	}
	for _, pg := range pages {
		expect(t, v, pg.host, pg.uri, "MISS", 1)
	}

	// A prefix ban: the path under it, any query, this host only.
	purge(t, p, change.Prefix, "https://www.example.com/news/")
	expect(t, v, host, "/news/1", "MISS", 2)
	expect(t, v, host, "/news/2?page=2", "MISS", 2)
	expect(t, v, host, "/newsletter", "HIT", 1)
	expect(t, v, host, "/about", "HIT", 1)
	expect(t, v, "www.other.com", "/news/1", "HIT", 1)

	// Regex metacharacters in the prefix are literal.
	purge(t, p, change.Prefix, "https://www.example.com/v1.0/")
	expect(t, v, host, "/v1.0/x", "MISS", 2)
	expect(t, v, host, "/v1x0/x", "HIT", 1)

	bans, err := v.Admin("ban.list")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(bans, `obj.http.x-host == www.example.com && obj.http.x-url ~ ^/news/`) || strings.Contains(bans, "req.") {
		t.Errorf("bans are not lurker-friendly obj.* bans:\n%s", bans)
	}

	// The VCL refuses what could change the ban expression, and reports a
	// regex that does not compile instead of ignoring it.
	for _, h := range []map[string]string{
		{"X-Ban-Host": "www.example.com && obj.status != 0"},
		{"X-Ban-Host": host, "X-Ban-Url": "^/a || obj.status != 0"},
		{"X-Ban-Host": host, "X-Ban-Url": "^/news/("},
		{"X-Ban-Url": "^/"},
	} {
		req, _ := http.NewRequestWithContext(t.Context(), "BAN", v.URL+"/", nil)
		for k, val := range h {
			req.Header.Set(k, val)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("BAN %v: %s, want 400", h, resp.Status)
		}
	}
	expect(t, v, host, "/about", "HIT", 1)

	// A host ban, with the host in any case.
	purge(t, p, change.Host, "www.third.com")
	expect(t, v, "WWW.Third.com", "/", "MISS", 2)
	expect(t, v, host, "/about", "HIT", 1)

	purge(t, p, change.Host, "www.example.com")
	expect(t, v, host, "/about", "MISS", 2)
	expect(t, v, host, "/newsletter", "MISS", 2)
	expect(t, v, "www.other.com", "/news/1", "HIT", 1)

	purge(t, p, change.Everything)
	expect(t, v, "www.other.com", "/news/1", "MISS", 2)
	expect(t, v, host, "/about", "MISS", 3)
}

func TestRealSoftPurge(t *testing.T) {
	t.Parallel()
	o := newOrigin(t, map[string]string{"/t": "soft-tag"})
	v := varnishtest.Start(t, shippedVCL(t), o.addr())
	p := newVarnishPurger(t, varnish.Options{Config: varnish.Config{Servers: []string{v.URL}, SoftPurge: true}})

	for _, tc := range []struct {
		kind change.TargetKind
		uri  string
		item string
	}{
		{change.URL, "/s", "https://www.example.com/s"},
		{change.Tag, "/t", "soft-tag"},
	} {
		expect(t, v, host, tc.uri, "MISS", 1)
		purge(t, p, tc.kind, tc.item)
		// Soft: the object stays for grace, so the next visitor gets the
		// stale copy while Varnish refreshes it in the background.
		expect(t, v, host, tc.uri, "HIT", 1)
		// The refresh lands in the background; wait for it (bounded), then
		// it is served from cache.
		fresh := fmt.Sprintf("%s%s #2", host, tc.uri)
		deadline := time.Now().Add(10 * time.Second)
		for get(t, v, host, tc.uri).body != fresh && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		expect(t, v, host, tc.uri, "HIT", 2)
		if n := o.count(host + tc.uri); n != 2 {
			t.Errorf("the origin was fetched %d times for %s, want 2", n, tc.uri)
		}
	}
}

func TestRealFanOut(t *testing.T) {
	t.Parallel()
	o := newOrigin(t, nil)
	v1 := varnishtest.Start(t, shippedVCL(t), o.addr())
	v2 := varnishtest.Start(t, shippedVCL(t), o.addr())
	p := newVarnishPurger(t, varnish.Options{Config: varnish.Config{Servers: []string{v1.URL, v2.URL}}})

	// Both caches fetch from the one origin, so fetch numbers interleave.
	expect(t, v1, host, "/a", "MISS", 1)
	expect(t, v2, host, "/a", "MISS", 2)
	expect(t, v1, host, "/a", "HIT", 1)
	expect(t, v2, host, "/a", "HIT", 2)
	purge(t, p, change.URL, "https://www.example.com/a")
	expect(t, v1, host, "/a", "MISS", 3)
	expect(t, v2, host, "/a", "MISS", 4)

	expect(t, v1, host, "/news/1", "MISS", 1)
	expect(t, v2, host, "/news/1", "MISS", 2)
	purge(t, p, change.Prefix, "https://www.example.com/news")
	expect(t, v1, host, "/news/1", "MISS", 3)
	expect(t, v2, host, "/news/1", "MISS", 4)
}

func TestRealServerDown(t *testing.T) {
	t.Parallel()
	o := newOrigin(t, nil)
	v := varnishtest.Start(t, shippedVCL(t), o.addr())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + l.Addr().String()
	l.Close() // nothing listens there now
	p := newVarnishPurger(t, varnish.Options{Config: varnish.Config{Servers: []string{v.URL, down}}})

	expect(t, v, host, "/a", "MISS", 1)
	_, err = p.Purge(t.Context(), change.Call{Kind: change.URL, Items: []string{"https://www.example.com/a"}})
	var pe *purger.Error
	if !errors.As(err, &pe) || pe.Class != purger.Retry {
		t.Fatalf("got %v, want a retry error", err)
	}
	if !strings.Contains(err.Error(), down) || strings.Contains(err.Error(), v.URL+":") {
		t.Errorf("error %q should name the down server %s and only it", err, down)
	}
	if !strings.Contains(err.Error(), "1 of 2 servers failed") {
		t.Errorf("error %q does not say how many servers failed", err)
	}
	expect(t, v, host, "/a", "MISS", 2) // the live server was purged all the same
}

func TestRealACL(t *testing.T) {
	t.Parallel()
	o := newOrigin(t, nil)
	vcl := shippedVCL(t)
	i := strings.Index(vcl, "acl purgers {")
	j := i + strings.Index(vcl[i:], "}")
	vcl = vcl[:i] + `acl purgers { "192.0.2.1"; ` + vcl[j:]
	v := varnishtest.Start(t, vcl, o.addr())
	p := newVarnishPurger(t, varnish.Options{Config: varnish.Config{Servers: []string{v.URL}}})

	expect(t, v, host, "/a", "MISS", 1)
	for _, k := range []change.TargetKind{change.URL, change.Tag, change.Host} {
		items := map[change.TargetKind]string{change.URL: "https://www.example.com/a", change.Tag: "t", change.Host: host}
		_, err := p.Purge(t.Context(), change.Call{Kind: k, Items: []string{items[k]}})
		var pe *purger.Error
		if !errors.As(err, &pe) || pe.Class != purger.Permanent || pe.Status != 403 || !strings.Contains(pe.Msg, "Forbidden") {
			t.Errorf("%s outside the ACL: got %v, want permanent 403 Forbidden", k, err)
		}
	}
	expect(t, v, host, "/a", "HIT", 1)
}
