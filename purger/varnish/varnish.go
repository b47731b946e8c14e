// Package varnish purges one or more Varnish servers over HTTP, speaking
// the requests that examples/varnish/purgehook.vcl understands:
//
//   - url: PURGE with the URL's path and query, Host set to the URL's host
//     (one request per URL: Varnish purges one hash per request);
//   - tag: PURGE with the tags space-separated in the xkey header
//     (xkey-purge unless configured), one request per batch;
//   - prefix: BAN with x-ban-host and x-ban-url (an anchored regex of the
//     escaped path), matched by the VCL against obj.http.x-host and
//     obj.http.x-url so that the ban lurker can work them off;
//   - host: BAN with x-ban-host only;
//   - everything: BAN with x-ban-all: true.
//
// With SoftPurge, PURGE requests carry "purge-mode: soft" and the VCL uses
// xkey.softpurge / purge.soft: objects expire but stay in grace.
//
// Every request goes to every configured server; a call succeeds only when
// every server acknowledged it, and a failure names the servers that did
// not, by purger.Combine's rule. Varnish's built-in vcl_synth sets
// Retry-After: 5 on every synthetic response, the 200 "Purged" too, which
// is harmless since purger.FromResponse reads it only on a 429.
package varnish

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/purger"
)

// Defaults.
const (
	// DefaultXkeyHeader is the request header the VCL reads tags from.
	DefaultXkeyHeader = "xkey-purge"
	// DefaultURLsPerCall bounds a URL call: each URL is one request per
	// server, so this bounds a call's duration, not a Varnish limit.
	DefaultURLsPerCall = 100
	// DefaultTagsPerCall bounds the tags of a call.
	DefaultTagsPerCall = 100
	// DefaultBansPerCall bounds prefix and host calls (one BAN each).
	DefaultBansPerCall = 50
	// MaxXkeyHeader is the most bytes of tags sent in one request; Varnish
	// refuses request headers beyond http_req_hdr_len (8 KiB by default),
	// so longer tag lists are sent in several requests.
	MaxXkeyHeader = 4096
)

// Options configure a Varnish purger: its Config and what the process
// gives it.
type Options struct {
	// Name is the configured provider name.
	Name string
	Config
	// Limits are the effective limits, Config.Limits() with the file's
	// overrides applied; the purger refuses calls above them, so it must
	// see the numbers the planner uses. Zero means Config.Limits().
	Limits change.Limits
	// Client makes the requests; its Timeout bounds one request. Nil means
	// a client with a 10 s timeout. Redirects are never followed.
	Client *http.Client
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Purger purges a set of Varnish servers.
type Purger struct {
	name    string
	label   string
	servers []*url.URL
	xkey    string
	soft    bool
	limits  change.Limits
	client  *http.Client
	logger  *slog.Logger
}

var _ purger.Purger = (*Purger)(nil)

// New checks the options and returns a purger.
func New(o Options) (*Purger, error) {
	label := "varnish[" + o.Name + "]"
	o.Config.SetDefaults()
	if err := o.Config.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	p := &Purger{name: o.Name, label: label, xkey: o.XkeyHeader, soft: o.SoftPurge, limits: o.Limits.Clone()}
	if o.Limits.Kinds == nil {
		p.limits = o.Config.Limits()
	}
	for _, s := range o.Servers {
		// Validate checked the URLs.
		u, _ := url.Parse(s)
		p.servers = append(p.servers, &url.URL{Scheme: u.Scheme, Host: u.Host})
	}
	base := o.Client
	if base == nil {
		base = &http.Client{Timeout: 10 * time.Second}
	}
	p.client = purger.NoRedirects(base)
	logger := o.Logger
	if logger == nil {
		logger = slog.Default()
	}
	p.logger = logger.With("component", "provider", "provider", o.Name, "kind", "varnish")
	return p, nil
}

// Name is the configured name.
func (p *Purger) Name() string { return p.name }

// Limits: every kind; per-call sizes bound the requests of one call.
// Varnish has no rate limit or budget.
func (p *Purger) Limits() change.Limits {
	return p.limits.Clone()
}

// request is one HTTP request to make on every server.
type request struct {
	method string
	uri    string // path and query
	host   string // Host header; "" keeps the server's
	header http.Header
	what   string // for messages: the item
}

// Purge sends the call's requests to every server.
func (p *Purger) Purge(ctx context.Context, call change.Call) (purger.Result, error) {
	if !p.limits.Supports(call.Kind) {
		return purger.Result{}, p.fail(purger.Permanent, fmt.Sprintf("kind %s is not supported", call.Kind))
	}
	if call.Kind != change.Everything && len(call.Items) == 0 {
		return purger.Result{}, nil
	}
	if n := p.limits.Max(call.Kind); n > 0 && len(call.Items) > n {
		return purger.Result{}, p.fail(purger.TooLarge, fmt.Sprintf("%d %s items in one call; the limit is %d", len(call.Items), call.Kind, n))
	}
	reqs, err := p.requests(call)
	if err != nil {
		return purger.Result{}, p.fail(purger.Permanent, err.Error())
	}
	if err := ctx.Err(); err != nil {
		return purger.Result{}, &purger.Error{Provider: p.label, Class: purger.Retry, Err: err}
	}

	results := make([]purger.ServerResult, len(p.servers))
	var wg sync.WaitGroup
	for i, srv := range p.servers {
		results[i].Server = srv.String()
		wg.Go(func() {
			// A server's requests go in order and stop at its first
			// failure: a retry repeats them all anyway.
			for _, r := range reqs {
				if err := p.send(ctx, srv, r); err != nil {
					results[i].Err = err
					return
				}
			}
		})
	}
	wg.Wait()
	if err := purger.Combine(p.label, results); err != nil {
		return purger.Result{}, err
	}
	p.logger.Debug("purged", "call", call.ID, "kind", call.Kind, "items", len(call.Items), "servers", len(p.servers), "requests", len(reqs)*len(p.servers))
	return purger.Result{}, nil
}

// requests turns a call into the requests each server gets.
func (p *Purger) requests(call change.Call) ([]request, error) {
	var out []request
	mode := http.Header{}
	if p.soft {
		mode.Set("Purge-Mode", "soft")
	}
	switch call.Kind {
	case change.URL:
		for _, it := range call.Items {
			u, err := absURL(it)
			if err != nil {
				return nil, err
			}
			out = append(out, request{method: "PURGE", uri: u.RequestURI(), host: u.Host, header: mode, what: it})
		}
	case change.Tag:
		var batch []string
		size := 0
		flush := func() {
			if len(batch) == 0 {
				return
			}
			h := mode.Clone()
			h.Set(p.xkey, strings.Join(batch, " "))
			out = append(out, request{method: "PURGE", uri: "/", header: h, what: fmt.Sprintf("%d tags", len(batch))})
			batch, size = nil, 0
		}
		for _, tag := range call.Items {
			if tag == "" || strings.ContainsAny(tag, " ,\t\r\n") || len(tag) > MaxXkeyHeader {
				return nil, fmt.Errorf("tag %q is empty, too long or contains a space or comma (xkey separators)", tag)
			}
			if size+len(tag)+1 > MaxXkeyHeader {
				flush()
			}
			batch = append(batch, tag)
			size += len(tag) + 1
		}
		flush()
	case change.Prefix:
		for _, it := range call.Items {
			u, err := absURL(it)
			if err != nil {
				return nil, err
			}
			h := http.Header{}
			h.Set("X-Ban-Host", strings.ToLower(u.Hostname()))
			h.Set("X-Ban-Url", PrefixRegex(u.RequestURI()))
			out = append(out, request{method: "BAN", uri: "/", header: h, what: it})
		}
	case change.Host:
		for _, it := range call.Items {
			host := it
			if strings.Contains(it, "://") {
				u, err := url.Parse(it)
				if err != nil {
					return nil, fmt.Errorf("host item %q is not a host name", it)
				}
				host = u.Hostname()
			}
			if host == "" || strings.ContainsAny(host, "/?#\" \t") {
				return nil, fmt.Errorf("host item %q is not a host name", it)
			}
			h := http.Header{}
			h.Set("X-Ban-Host", strings.ToLower(host))
			out = append(out, request{method: "BAN", uri: "/", header: h, what: it})
		}
	case change.Everything:
		h := http.Header{}
		h.Set("X-Ban-All", "true")
		out = append(out, request{method: "BAN", uri: "/", header: h, what: "everything"})
	}
	return out, nil
}

func absURL(it string) (*url.URL, error) {
	u, err := url.Parse(it)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("item %q is not an absolute http(s) URL", it)
	}
	if strings.ContainsAny(u.RequestURI(), "\"\\") {
		return nil, fmt.Errorf("item %q contains a quote or backslash", it)
	}
	return u, nil
}

// PrefixRegex is the anchored regex the VCL bans with for a path prefix.
// Metacharacters are escaped as one-character classes ([.]), never with
// backslashes, and the result has no spaces or quotes: the VCL passes it
// to std.ban unquoted (std.ban would take quotes literally), where a space
// would end the argument and a backslash would be an escape.
func PrefixRegex(path string) string {
	var b strings.Builder
	b.WriteString("^")
	for _, r := range path {
		switch r {
		case '.', '$', '(', ')', '*', '+', '?', '|', '{', '}', '[':
			b.WriteString("[" + string(r) + "]")
		case ']':
			b.WriteString("[]]")
		case '^':
			b.WriteString("[]^]")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// send makes one request to one server and classifies the answer.
func (p *Purger) send(ctx context.Context, srv *url.URL, r request) error {
	target := srv.String() + r.uri
	req, err := http.NewRequestWithContext(ctx, r.method, target, nil)
	if err != nil {
		return p.fail(purger.Permanent, err.Error())
	}
	if r.host != "" {
		req.Host = r.host
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	resp, err := p.client.Do(req)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return &purger.Error{Provider: p.label, Class: purger.Retry, Msg: r.method + " " + r.what, Err: cerr}
		}
		return p.fail(purger.Retry, err.Error())
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	// Varnish's synth puts the VCL's message in the reason phrase.
	reason := strings.TrimSpace(strings.TrimPrefix(resp.Status, fmt.Sprint(resp.StatusCode)))
	return purger.FromResponse(p.label, resp, fmt.Sprintf("%s %s: %s", r.method, r.what, reason), time.Now())
}

func (p *Purger) fail(c purger.Class, msg string) error {
	return &purger.Error{Provider: p.label, Class: c, Msg: msg}
}
