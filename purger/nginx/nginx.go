// Package nginx purges nginx proxy caches through the ngx_cache_purge
// module (Debian's libnginx-mod-http-cache-purge 2.3): one PURGE request per
// URL to every configured server, a fan-out that succeeds only when every
// server acknowledged every URL.
//
// The request shape is the module's separate-location form: purgehook sends
// PURGE {server}{path}?{query} with the page's host in the Host header, and
// the server answers it from a location holding
// proxy_cache_purge <zone> <key>, where <key> is the same expression as the
// caching location's proxy_cache_key. The module's same-location form
// (proxy_cache_purge PURGE from …) is not used: with Debian's 2.3 build on
// nginx 1.22 it crashes the worker (signal 11, an upstream incompatibility
// since nginx 1.11.6), which internal/nginxtest reproduced.
package nginx

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/purger"
)

// Defaults.
const (
	// URLsPerCall bounds one call; each URL is one request per server.
	URLsPerCall = 100
	// DefaultConcurrency is how many purge requests run at once per call.
	DefaultConcurrency = 8
	// Method is the request method. The module's separate-location form
	// answers any method; PURGE (not GET) means a request that misses the
	// purge location reaches the application as PURGE, which it refuses,
	// instead of as a GET whose 404 would pass for "not cached".
	Method = "PURGE"

	maxResponse = 64 << 10
)

// Options configure the nginx provider: its Config and what the process
// gives it.
type Options struct {
	// Name is the configured provider name.
	Name string
	Config
	// Limits are the effective limits, Config.Limits() with the file's
	// overrides applied; zero means Config.Limits().
	Limits change.Limits
	// Concurrency bounds the requests in flight (default 8).
	Concurrency int
	// Client makes the requests (default http.DefaultClient).
	Client *http.Client
	Logger *slog.Logger
	// Now is the clock Retry-After dates are read against; nil is time.Now.
	Now func() time.Time
}

// Nginx is the nginx provider.
type Nginx struct {
	o       Options
	label   string
	servers []*url.URL
	logger  *slog.Logger
}

var _ purger.Purger = (*Nginx)(nil)

// New checks the options and returns the provider.
func New(o Options) (*Nginx, error) {
	label := "nginx[" + o.Name + "]"
	if err := o.Config.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	n := &Nginx{label: label}
	for _, s := range o.Servers {
		// Validate checked the URLs.
		u, _ := url.Parse(s)
		u.Path = strings.TrimRight(u.Path, "/")
		u.RawPath = ""
		n.servers = append(n.servers, u)
	}
	if o.Limits.Kinds == nil {
		o.Limits = o.Config.Limits()
	} else {
		o.Limits = o.Limits.Clone()
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	o.Client = purger.NoRedirects(o.Client)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	n.o = o
	n.logger = o.Logger.With("component", "provider", "provider", o.Name, "kind", "nginx")
	return n, nil
}

// Name is the configured name.
func (n *Nginx) Name() string { return n.o.Name }

// Limits are Config.Limits() with the file's overrides.
func (n *Nginx) Limits() change.Limits { return n.o.Limits.Clone() }

// Purge sends one PURGE per URL to every server. A retry after a partial
// failure repeats the requests that succeeded, which is harmless: a URL no
// longer cached answers 404, which counts as success.
func (n *Nginx) Purge(ctx context.Context, call change.Call) (purger.Result, error) {
	if call.Kind != change.URL {
		return purger.Result{}, &purger.Error{Provider: n.label, Class: purger.Permanent,
			Msg: fmt.Sprintf("cannot purge %s targets (ngx_cache_purge purges URLs only)", call.Kind)}
	}
	if len(call.Items) == 0 {
		return purger.Result{}, nil
	}
	if err := ctx.Err(); err != nil {
		return purger.Result{}, err
	}
	targets := make([]*url.URL, len(call.Items))
	for i, item := range call.Items {
		u, err := url.Parse(item)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return purger.Result{}, &purger.Error{Provider: n.label, Class: purger.Permanent,
				Msg: fmt.Sprintf("%q is not an absolute http(s) URL", item)}
		}
		targets[i] = u
	}

	type failure struct {
		srv, idx     int // for a stable order
		server, item string
		err          error
	}
	var (
		mu       sync.Mutex
		failures []failure
		wg       sync.WaitGroup
		sem      = make(chan struct{}, n.o.Concurrency)
	)
	total := 0
send:
	for s, srv := range n.servers {
		for i, u := range targets {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				break send
			}
			total++
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				if err := n.purgeOne(ctx, srv, u); err != nil {
					mu.Lock()
					failures = append(failures, failure{srv: s, idx: i, server: srv.Redacted(), item: call.Items[i], err: err})
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return purger.Result{}, fmt.Errorf("%s: purge %d urls: %w", n.label, len(targets), err)
	}
	if len(failures) == 0 {
		n.logger.DebugContext(ctx, "purged", "urls", len(targets), "servers", len(n.servers))
		return purger.Result{}, nil
	}

	// One verdict for the call: a refusal that no retry can fix wins over
	// a rate limit (snooze for the longest wait), which wins over a
	// transient failure. The message names the first request (in server,
	// then item order) that decided it.
	slices.SortFunc(failures, func(a, b failure) int {
		return cmp.Or(cmp.Compare(a.srv, b.srv), cmp.Compare(a.idx, b.idx))
	})
	rank := map[purger.Class]int{purger.Retry: 1, purger.Snooze: 2, purger.Permanent: 3}
	var (
		worst *purger.Error
		which failure
		after time.Duration
	)
	for _, f := range failures {
		var pe *purger.Error
		if !errors.As(f.err, &pe) {
			pe = &purger.Error{Provider: n.label, Class: purger.Retry, Err: f.err}
		}
		if pe.Class == purger.Snooze {
			after = max(after, pe.After)
		}
		if worst == nil || rank[pe.Class] > rank[worst.Class] {
			worst, which = pe, f
		}
	}
	n.logger.DebugContext(ctx, "purge failed", "failed", len(failures), "requests", total, "class", worst.Class)
	out := &purger.Error{Provider: n.label, Class: worst.Class, Status: worst.Status,
		Msg: fmt.Sprintf("purge %d urls on %d servers: %d of %d requests failed; %s %s: %s",
			len(targets), len(n.servers), len(failures), total, which.server, which.item, detail(worst))}
	if out.Class == purger.Snooze {
		out.After = after
	}
	return purger.Result{}, out
}

// purgeOne sends one PURGE and classifies the answer: 200 with the
// module's page and 404 (not cached) are success; 403 (the client is not
// allowed) and other 4xx are permanent; 429 snoozes; 5xx and network
// errors retry.
func (n *Nginx) purgeOne(ctx context.Context, srv, u *url.URL) error {
	target := *srv
	target.Path = srv.Path + u.Path
	target.RawPath = ""
	if u.RawPath != "" {
		target.RawPath = srv.EscapedPath() + u.RawPath
	}
	if target.Path == "" {
		target.Path = "/"
	}
	target.RawQuery = u.RawQuery
	req, err := http.NewRequestWithContext(ctx, Method, target.String(), nil)
	if err != nil {
		return &purger.Error{Provider: n.label, Class: purger.Permanent, Msg: err.Error()}
	}
	// The purge key is built from $host, so the page's host goes in Host.
	req.Host = u.Host
	// An explicit Accept-Encoding keeps Go from adding "gzip", which would
	// select the gzip variant of an entry cached under Vary.
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := n.o.Client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &purger.Error{Provider: n.label, Class: purger.Retry, Err: transportError(err)}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	return classify(n.label, resp.StatusCode, resp.Header, body, n.o.Now())
}

// classify turns one answer into nil or a *purger.Error.
func classify(label string, status int, h http.Header, body []byte, now time.Time) error {
	switch {
	case status == http.StatusOK && strings.Contains(string(body), "Successful purge"):
		return nil
	case status == http.StatusNotFound:
		return nil // not cached: nothing to purge
	case status < 300:
		// Only the module's page says a purge happened. Anything else came
		// from something other than ngx_cache_purge: a location without
		// proxy_cache_purge passed the request on to the application.
		// Nothing was purged, and retrying will not change that.
		return &purger.Error{Provider: label, Class: purger.Permanent, Status: status,
			Msg: fmt.Sprintf("answered %d without ngx_cache_purge's \"Successful purge\" page: the server URL does not reach a proxy_cache_purge location", status)}
	case status < 400:
		return &purger.Error{Provider: label, Class: purger.Permanent, Status: status,
			Msg: fmt.Sprintf("redirected to %q: the server URL does not reach a proxy_cache_purge location", h.Get("Location"))}
	case status == http.StatusForbidden:
		return &purger.Error{Provider: label, Class: purger.Permanent, Status: status,
			Msg: message(status, body) + " (purgehook's address is not allowed by the purge location)"}
	}
	return purger.FromStatus(label, status, purger.RetryAfter(h.Get("Retry-After"), now), message(status, body))
}

var titleRE = regexp.MustCompile(`(?is)<title>\s*(.*?)\s*</title>`)

// message is nginx's own text for an error: the title of its error page
// ("403 Forbidden"), or the start of whatever came back.
func message(status int, body []byte) string {
	if m := titleRE.FindSubmatch(body); m != nil {
		return purger.Truncate(string(m[1]), 200)
	}
	if s := strings.TrimSpace(string(body)); s != "" {
		return purger.Truncate(s, 200)
	}
	return fmt.Sprintf("%d %s", status, http.StatusText(status))
}

// detail is an error's text without the "nginx[name]: " prefix.
func detail(err error) string {
	var pe *purger.Error
	if !errors.As(err, &pe) {
		return err.Error()
	}
	var parts []string
	if pe.Msg != "" {
		parts = append(parts, pe.Msg)
	} else if pe.Status != 0 {
		parts = append(parts, fmt.Sprintf("%d %s", pe.Status, http.StatusText(pe.Status)))
	}
	if pe.Err != nil {
		parts = append(parts, pe.Err.Error())
	}
	return strings.Join(parts, ": ")
}

// transportError drops the request URL that *url.Error repeats; the server
// and item are already in the message.
func transportError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
