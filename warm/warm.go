// Package warm fetches purged pages again so that the first visitor after
// a publish gets a cached page: a bounded number of requests at a time, a
// pause between rounds so that an origin that was just purged everywhere is
// not stampeded, and a header (X-Warmup: true by default) so that analytics
// can leave these requests out.
//
// A Warmer given a Scope reaches only configured hosts: a URL or a redirect
// to any other host is not fetched (the outcome says why), a redirect leaves
// a site only for another of that site's hosts, and a connection to a
// private, loopback or link-local address is refused at dial time (so a
// name that resolves there, or is rebound to there, gets nowhere) unless
// the host dialled is one a site is configured on.
package warm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"syscall"
	"time"
)

// Scope says which hosts a Warmer may reach; the resolver, which knows the
// configured sites, implements it.
type Scope interface {
	// HostConfigured reports whether host:port (the port always present)
	// is a host some site is configured on.
	HostConfigured(hostport string) bool
	// SameSite reports whether to is on a configured host of from's site.
	SameSite(from, to *url.URL) bool
}

// ErrOffSite is the error of an outcome that was not fetched because its
// URL, or a redirect, leads to a host the Warmer may not reach.
var ErrOffSite = errors.New("not a configured host")

// ErrPrivateAddress is the error of a dial to a private, loopback or
// link-local address of a host no site is configured on.
var ErrPrivateAddress = errors.New("private, loopback or link-local address refused")

// Options configure a Warmer.
type Options struct {
	Concurrency int
	Delay       time.Duration
	Header      map[string]string
	Client      *http.Client
	// Sleep waits between rounds; tests replace it. nil: a timer that
	// honours ctx.
	Sleep func(ctx context.Context, d time.Duration) error
	// Scope limits the hosts fetched; nil fetches any URL given and follows
	// any redirect (tests only: app always sets it).
	Scope Scope
}

// Outcome is one fetch.
type Outcome struct {
	URL    string
	Status int
	// Header is the response's header (nil when there was no response):
	// the cache tags a page reports are learned from it.
	Header   http.Header
	Err      error
	Duration time.Duration
	// Cache is what the cache in front said of the answer: CacheHit,
	// CacheMiss, or "" when no header said (see CacheStatus).
	Cache string
}

// OK reports a 2xx or 3xx answer.
func (o Outcome) OK() bool { return o.Err == nil && o.Status >= 200 && o.Status < 400 }

// Warmer fetches URLs.
type Warmer struct{ o Options }

// New returns a Warmer with defaults for unset options.
func New(o Options) *Warmer {
	if o.Concurrency <= 0 {
		o.Concurrency = 5
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	if o.Scope != nil {
		o.Client = Scoped(o.Client, o.Scope)
	}
	return &Warmer{o: o}
}

// Scoped returns a copy of c that follows a redirect only within the first
// URL's site (another redirect fails with ErrOffSite; c's own
// CheckRedirect runs after that check) and, when c's transport is an
// *http.Transport (or the default), dials private addresses only for
// configured hosts. The crawler fetches through it too.
func Scoped(c *http.Client, scope Scope) *http.Client {
	cc := *c
	next := c.CheckRedirect
	cc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if !scope.SameSite(via[0].URL, req.URL) {
			return fmt.Errorf("redirect to %s: %w of the site", trim(req.URL.Host), ErrOffSite)
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	var t *http.Transport
	switch rt := c.Transport.(type) {
	case nil:
		t = http.DefaultTransport.(*http.Transport).Clone()
	case *http.Transport:
		t = rt.Clone()
	default:
		return &cc
	}
	// Warm-ups go straight to the origin: a proxy would warm its own cache,
	// not the one purged, and would hide the address dialled from the guard.
	t.Proxy = nil
	open := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	guarded := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: refusePrivate}
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if scope.HostConfigured(addr) {
			return open.DialContext(ctx, network, addr)
		}
		return guarded.DialContext(ctx, network, addr)
	}
	cc.Transport = t
	return &cc
}

// refusePrivate is a net.Dialer Control func: it runs on the address about
// to be connected, after name resolution, so DNS cannot route around it.
func refusePrivate(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return fmt.Errorf("dial %s: not an IP address", trim(address))
	}
	if Private(ip) {
		return fmt.Errorf("dial %s: %w", address, ErrPrivateAddress)
	}
	return nil
}

// Private reports whether ip is loopback, private (RFC 1918, RFC 4193),
// link-local, unspecified or multicast: addresses a warm-up must not reach
// unless a site is configured there.
func Private(ip net.IP) bool {
	return ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified()
}

// trim caps a host taken from a response so that an error stays one short
// line.
func trim(s string) string {
	if len(s) > 100 {
		return s[:100] + "…"
	}
	return s
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// PerRound is how many URLs are fetched at once.
func (w *Warmer) PerRound() int { return w.o.Concurrency }

// RoundTime bounds one round: the pause before it and the slowest
// request (the client's timeout; 30s when it has none).
func (w *Warmer) RoundTime() time.Duration {
	t := w.o.Client.Timeout
	if t <= 0 {
		t = 30 * time.Second
	}
	return w.o.Delay + t
}

// Fetch GETs every URL, Concurrency at a time with Delay between rounds,
// and calls record with each outcome as it arrives (from one goroutine at a
// time). It stops early, returning ctx's error, when ctx ends.
func (w *Warmer) Fetch(ctx context.Context, urls []string, record func(Outcome)) error {
	var mu sync.Mutex
	for start := 0; start < len(urls); start += w.o.Concurrency {
		if start > 0 {
			if err := w.o.Sleep(ctx, w.o.Delay); err != nil {
				return err
			}
		}
		end := min(start+w.o.Concurrency, len(urls))
		var wg sync.WaitGroup
		for _, u := range urls[start:end] {
			wg.Go(func() {
				o := w.one(ctx, u)
				mu.Lock()
				defer mu.Unlock()
				record(o)
			})
		}
		wg.Wait()
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

func (w *Warmer) one(ctx context.Context, u string) Outcome {
	start := time.Now()
	o := Outcome{URL: u}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		o.Err = err
		return o
	}
	if w.o.Scope != nil && !w.o.Scope.HostConfigured(hostPort(req.URL)) {
		o.Err = fmt.Errorf("%s: %w", trim(req.URL.Host), ErrOffSite)
		return o
	}
	for k, v := range w.o.Header {
		req.Header.Set(k, v)
	}
	resp, err := w.o.Client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			// The *url.Error repeats the URL the outcome already names.
			err = ue.Err
		}
		o.Err = err
		o.Duration = time.Since(start)
		return o
	}
	// Read the body: a cache stores an object only once it has it whole.
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	o.Status = resp.StatusCode
	o.Header = resp.Header
	o.Duration = time.Since(start)
	o.Cache = CacheStatus(resp.Header)
	return o
}

// hostPort is u's host with its port, the scheme's default when u has none.
func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}
