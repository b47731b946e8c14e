// Package warm fetches purged pages again so that the first visitor after
// a publish gets a cached page: a bounded number of requests at a time for
// the whole process and for each origin (a Limiter every warm job shares),
// the most important pages first, a pause after each request so that an
// origin that was just purged everywhere is not stampeded, less of both
// while the origin's latency or error rate is up, once per configured
// variant of the request (a language, a mobile User-Agent) for caches that
// key on it, and a header (X-Warmup: true by default) so that analytics can
// leave these requests out.
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
	// Concurrency and Delay make the Warmer's own Limiter (Total and
	// Delay) when Limiter is nil.
	Concurrency int
	Delay       time.Duration
	// Limiter bounds and paces the requests; share one between Warmers
	// (app makes one per process) so that the bound holds for all.
	Limiter *Limiter
	Header  map[string]string
	// Variants are the extra versions of each page to fetch, for caches
	// that key on a request header: every page is fetched once plainly
	// and once per variant.
	Variants []Variant
	Client   *http.Client
	// Sleep makes the pause after each request; tests replace it. nil: a
	// timer that honours ctx.
	Sleep func(ctx context.Context, d time.Duration) error
	// OnSharedError hears a failure of the Limiter's Shared slots (the
	// request goes ahead under the process's own bound).
	OnSharedError func(error)
	// Scope limits the hosts fetched; nil fetches any URL given and follows
	// any redirect (tests only: app always sets it).
	Scope Scope
}

// Variant is one version of a page a cache keeps apart: the headers a
// reader of that version sends (Accept-Language: de, a mobile User-Agent).
type Variant struct {
	Name   string
	Header map[string]string
}

// Page is a URL to fetch and its importance: a lower tier is fetched first
// (see the Tier constants).
type Page struct {
	URL  string
	Tier int
}

// The tiers, most important first: what readers land on is cached first.
const (
	// TierTop: a site's home page and the pages of its warm list.
	TierTop = iota
	// TierList: list pages (pages the content graph knows report a
	// list:{type} tag, which is how list_of finds them).
	TierList
	// TierRest: every other page.
	TierRest
)

// Outcome is one fetch.
type Outcome struct {
	URL string
	// Variant is the variant's name; "" for the plain request.
	Variant string
	Status  int
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
	if o.Limiter == nil {
		o.Limiter = NewLimiter(LimitOptions{Total: o.Concurrency, Delay: o.Delay})
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

// PerRound is how many pages are fetched at once, at most: the Limiter's
// bound over the requests each page takes (one per variant, plus one).
func (w *Warmer) PerRound() int { return max(1, w.o.Limiter.Total()/(1+len(w.o.Variants))) }

// RoundTime bounds the time one page's requests hold a slot: the pause
// after them and the slowest request (the client's timeout; 30s when it
// has none). Back-off can lengthen the pause: FetchPages's stop ends a job
// in time regardless.
func (w *Warmer) RoundTime() time.Duration {
	t := w.o.Client.Timeout
	if t <= 0 {
		t = 30 * time.Second
	}
	return w.o.Limiter.o.Delay + t
}

// Fetch fetches urls, all of the same importance (see FetchPages).
func (w *Warmer) Fetch(ctx context.Context, urls []string, record func(Outcome)) error {
	pages := make([]Page, len(urls))
	for i, u := range urls {
		pages[i] = Page{URL: u, Tier: TierRest}
	}
	return w.FetchPages(ctx, nil, pages, record)
}

// FetchPages GETs every page, in order, once plainly and once per variant,
// each request when the Limiter grants it a slot, and calls record with
// each outcome as it arrives (from one goroutine at a time). It stops
// starting pages when stop closes, the first page excepted (returning nil
// once the requests under way are done: the pages not recorded are for
// later; a page's variants are all fetched or none), and stops early,
// returning ctx's error, when ctx ends.
func (w *Warmer) FetchPages(ctx context.Context, stop <-chan struct{}, pages []Page, record func(Outcome)) error {
	var mu sync.Mutex
	emit := func(o Outcome) {
		mu.Lock()
		defer mu.Unlock()
		record(o)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	variants := append([]Variant{{}}, w.o.Variants...)
	// waitCtx also ends when stop closes: a page waiting for a slot then
	// is for later.
	waitCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if stop != nil {
		go func() {
			select {
			case <-stop:
				cancel()
			case <-waitCtx.Done():
			}
		}()
	}
	for n, p := range pages {
		// The first page is always fetched, so that every call makes
		// progress however short its window.
		if n > 0 && stopped(stop) {
			return nil
		}
		u, err := url.Parse(p.URL)
		if err == nil && w.o.Scope != nil && !w.o.Scope.HostConfigured(hostPort(u)) {
			err = fmt.Errorf("%s: %w", trim(u.Host), ErrOffSite)
		}
		if err != nil {
			for _, v := range variants {
				emit(Outcome{URL: p.URL, Variant: v.Name, Err: err})
			}
			continue
		}
		host := hostPort(u)
		for i, v := range variants {
			wait := ctx
			if i == 0 && n > 0 {
				wait = waitCtx
			}
			pause, err := w.o.Limiter.Acquire(wait, host, p.Tier)
			if err != nil {
				if ctx.Err() == nil {
					return nil // stopped while this page waited
				}
				return err
			}
			if wait == waitCtx && stopped(stop) {
				w.o.Limiter.Release(host)
				return nil
			}
			wg.Go(func() {
				defer w.o.Limiter.Release(host)
				give, err := w.o.Limiter.takeShared(ctx, host, w.o.Sleep)
				defer give()
				if ctx.Err() != nil {
					emit(Outcome{URL: p.URL, Variant: v.Name, Err: ctx.Err()})
					return
				}
				if err != nil && w.o.OnSharedError != nil {
					w.o.OnSharedError(err)
				}
				o := w.one(ctx, p.URL, v)
				if ctx.Err() == nil {
					w.o.Limiter.Observe(host, o.Duration, failedOutcome(o))
				}
				emit(o)
				_ = w.o.Sleep(ctx, pause)
			})
		}
	}
	wg.Wait()
	return ctx.Err()
}

func stopped(stop <-chan struct{}) bool {
	select {
	case <-stop:
		return true
	default:
		return false
	}
}

func (w *Warmer) one(ctx context.Context, u string, v Variant) Outcome {
	start := time.Now()
	o := Outcome{URL: u, Variant: v.Name}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		o.Err = err
		return o
	}
	for k, v := range w.o.Header {
		req.Header.Set(k, v)
	}
	for k, val := range v.Header {
		req.Header.Set(k, val)
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

// Variants is how many variants each page is fetched in besides the plain
// request.
func (w *Warmer) Variants() int {
	if w == nil {
		return 0
	}
	return len(w.o.Variants)
}
