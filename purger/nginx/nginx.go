// Package nginx purges nginx proxy caches through the ngx_cache_purge
// module (Debian's libnginx-mod-http-cache-purge 2.3): one PURGE request per
// URL to every configured server, a fan-out that succeeds only when every
// server acknowledged every URL (purger.Combine's rule decides what a
// partial failure means).
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
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
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

	// One result per request, in server then item order, which is the
	// order the message describes them in.
	results := make([]purger.ServerResult, len(n.servers)*len(targets))
	var (
		wg  sync.WaitGroup
		sem = make(chan struct{}, n.o.Concurrency)
	)
send:
	for s, srv := range n.servers {
		for i, u := range targets {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				break send
			}
			r := &results[s*len(targets)+i]
			r.Server = srv.Redacted()
			wg.Go(func() {
				defer func() { <-sem }()
				r.Err = n.purgeOne(ctx, srv, u, call.Items[i])
			})
		}
	}
	wg.Wait()
	// Some requests were never sent; the message would not count them.
	if err := ctx.Err(); err != nil {
		return purger.Result{}, fmt.Errorf("%s: purge %d urls: %w", n.label, len(targets), err)
	}
	if err := purger.Combine(n.label, results); err != nil {
		c, _ := purger.Classify(err)
		n.logger.DebugContext(ctx, "purge failed", "urls", len(targets), "servers", len(n.servers), "class", c)
		return purger.Result{}, err
	}
	n.logger.DebugContext(ctx, "purged", "urls", len(targets), "servers", len(n.servers))
	return purger.Result{}, nil
}

// purgeOne sends one PURGE for item and classifies the answer.
func (n *Nginx) purgeOne(ctx context.Context, srv, u *url.URL, item string) error {
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
		return &purger.Error{Provider: n.label, Class: purger.Permanent, Msg: item + ": " + err.Error()}
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
		return &purger.Error{Provider: n.label, Class: purger.Retry, Msg: item, Err: transportError(err)}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	err = classify(n.label, resp, body, n.o.Now())
	var pe *purger.Error
	if errors.As(err, &pe) {
		pe.Msg = item + ": " + pe.Msg
	}
	return err
}

// classify turns one answer into nil or a *purger.Error. What is nginx's
// own is decided here: the module's page is the only proof of a purge, a
// 404 means "not cached" (nothing to purge), and a 403 gets a hint; the
// rest is purger.FromResponse's.
func classify(label string, resp *http.Response, body []byte, now time.Time) error {
	status := resp.StatusCode
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
		return purger.FromResponse(label, resp, "the server URL does not reach a proxy_cache_purge location", now)
	case status == http.StatusForbidden:
		return purger.FromResponse(label, resp, message(status, body)+" (purgehook's address is not allowed by the purge location)", now)
	}
	return purger.FromResponse(label, resp, message(status, body), now)
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

// transportError drops the request URL that *url.Error repeats; the server
// and item are already in the message.
func transportError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
