// Package cloudflare purges Cloudflare's cache through
// POST {api_url}/zones/{zone}/purge_cache with an API token (permission
// "Cache Purge", #cache_purge:edit): URLs as files, cache tags, hosts,
// prefixes, or the whole zone.
//
// Requests go through Cloudflare's official Go SDK (cloudflare-go/v6), built
// with only the options given here: the base URL (so tests point it at
// cloudflaretest), the token, and zero retries, because retrying is the
// queue's job. The SDK's client constructor is not used because it reads
// CLOUDFLARE_* variables from the environment, which would let a stray
// CLOUDFLARE_API_KEY change the credentials sent.
package cloudflare

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	cf "github.com/cloudflare/cloudflare-go/v6"
	"github.com/cloudflare/cloudflare-go/v6/cache"
	"github.com/cloudflare/cloudflare-go/v6/option"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/purger"
)

// Defaults.
const (
	// DefaultAPIURL is Cloudflare's v4 API.
	DefaultAPIURL = "https://api.cloudflare.com/client/v4"
	// DefaultPerCall is the item limit for every kind when no plan is
	// configured: the legacy per-call limit, which every plan still accepts
	// (providers.md §1.4 reports single-file purges capped at 30 after the
	// documented limit went to 100).
	DefaultPerCall = 30
	// DefaultRetryAfter is the snooze after a 429 without Retry-After.
	DefaultRetryAfter = 60 * time.Second
)

// Plan is a Cloudflare plan's purge limits (providers.md §1.4, docs page
// of 2026-07-29). The rate is the token bucket of tag/host/prefix/everything
// requests per account; single-file purges are limited by URLs per second
// instead, which the same request pacing keeps well under.
type Plan struct {
	Files         int
	Flex          int // tags, hosts and prefixes, each
	RatePerSecond float64
	Burst         int
}

// Plans are the documented plans.
var Plans = map[string]Plan{
	"free":       {Files: 100, Flex: 100, RatePerSecond: 5.0 / 60, Burst: 25},
	"pro":        {Files: 100, Flex: 100, RatePerSecond: 5, Burst: 25},
	"business":   {Files: 100, Flex: 100, RatePerSecond: 10, Burst: 50},
	"enterprise": {Files: 500, Flex: 100, RatePerSecond: 50, Burst: 500},
}

// Options configure a Cloudflare purger: its Config and what the process
// gives it.
type Options struct {
	// Name is the configured provider name.
	Name string
	Config
	// Limits are the effective limits, Config.Limits() with the file's
	// overrides applied; the purger refuses calls above them, so it must
	// see the numbers the planner uses. Zero means Config.Limits().
	Limits change.Limits
	// Client makes the requests; its Timeout bounds one call. Nil means a
	// client with a 30 s timeout.
	Client *http.Client
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Purger purges one Cloudflare zone.
type Purger struct {
	name   string
	label  string
	zone   string
	token  string
	limits change.Limits
	svc    *cache.CacheService
	logger *slog.Logger
}

var _ purger.Purger = (*Purger)(nil)

// zoneID is what a zone id may look like; anything else would change the
// request path.
var zoneID = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// New checks the options and returns a purger.
func New(o Options) (*Purger, error) {
	label := "cloudflare[" + o.Name + "]"
	o.Config.SetDefaults()
	if err := o.Config.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	limits := o.Limits.Clone()
	if o.Limits.Kinds == nil {
		limits = o.Config.Limits()
	}
	client := o.Client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.Default()
	}
	svc := cache.NewCacheService(
		option.WithBaseURL(o.APIURL),
		option.WithAPIToken(o.Token),
		option.WithMaxRetries(0),
		option.WithHTTPClient(client),
	)
	return &Purger{
		name:   o.Name,
		label:  label,
		zone:   o.Zone,
		token:  o.Token,
		limits: limits,
		svc:    svc,
		logger: logger.With("component", "provider", "provider", o.Name, "kind", "cloudflare"),
	}, nil
}

// Name is the configured name.
func (p *Purger) Name() string { return p.name }

// Limits are the plan's (or the safe defaults), with config overrides.
func (p *Purger) Limits() change.Limits {
	return p.limits.Clone()
}

// Purge makes one purge_cache request for the call.
func (p *Purger) Purge(ctx context.Context, call change.Call) (purger.Result, error) {
	if !p.limits.Supports(call.Kind) {
		return purger.Result{}, p.fail(purger.Permanent, 0, fmt.Sprintf("kind %s is not supported", call.Kind))
	}
	if call.Kind != change.Everything && len(call.Items) == 0 {
		return purger.Result{}, nil
	}
	if n := p.limits.Max(call.Kind); n > 0 && len(call.Items) > n {
		return purger.Result{}, p.fail(purger.TooLarge, 0, fmt.Sprintf("%d %s items in one call; the limit is %d", len(call.Items), call.Kind, n))
	}
	body, err := Body(call.Kind, call.Items)
	if err != nil {
		return purger.Result{}, p.fail(purger.Permanent, 0, err.Error())
	}
	if err := ctx.Err(); err != nil {
		return purger.Result{}, &purger.Error{Provider: p.label, Class: purger.Retry, Err: err}
	}

	var (
		raw  []byte
		resp *http.Response
	)
	_, err = p.svc.Purge(ctx, cache.CachePurgeParams{ZoneID: cf.F(p.zone), Body: body},
		option.WithResponseBodyInto(&raw), option.WithResponseInto(&resp))
	if err != nil {
		return purger.Result{}, p.classify(ctx, err, resp)
	}
	var env envelope
	if jerr := json.Unmarshal(raw, &env); jerr != nil {
		return purger.Result{}, p.fail(purger.Retry, resp.StatusCode, "unreadable response: "+purger.Truncate(string(raw), 200))
	}
	if !env.Success {
		// A 2xx that says it failed is not documented; a purge is safe to
		// repeat, so let the queue try again.
		return purger.Result{}, p.fail(purger.Retry, resp.StatusCode, env.message())
	}
	ref := ""
	if env.Result != nil {
		ref = env.Result.ID
	}
	p.logger.Debug("purged", "call", call.ID, "kind", call.Kind, "items", len(call.Items), "purge_id", ref)
	return purger.Result{Ref: ref}, nil
}

// Body is the purge_cache request body for a call (providers.md §1.2):
// files are URLs as given, hosts bare host names, prefixes host+path
// without scheme; query strings and fragments are dropped from prefixes
// because Cloudflare matches prefixes on the path only.
func Body(kind change.TargetKind, items []string) (cache.CachePurgeParamsBodyUnion, error) {
	switch kind {
	case change.Everything:
		return cache.CachePurgeParamsBodyCachePurgeEverything{PurgeEverything: cf.F(true)}, nil
	case change.URL:
		for _, it := range items {
			if u, err := url.Parse(it); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return nil, fmt.Errorf("url item %q is not an absolute http(s) URL", it)
			}
		}
		return cache.CachePurgeParamsBodyCachePurgeSingleFile{Files: cf.F(items)}, nil
	case change.Tag:
		for _, it := range items {
			if it == "" || strings.ContainsAny(it, " \t\r\n") {
				return nil, fmt.Errorf("tag %q is empty or contains spaces", it)
			}
		}
		return cache.CachePurgeParamsBodyCachePurgeFlexPurgeByTags{Tags: cf.F(items)}, nil
	case change.Host:
		hosts := make([]string, len(items))
		for i, it := range items {
			h, err := bareHost(it)
			if err != nil {
				return nil, err
			}
			hosts[i] = h
		}
		return cache.CachePurgeParamsBodyCachePurgeFlexPurgeByHostnames{Hosts: cf.F(hosts)}, nil
	case change.Prefix:
		prefixes := make([]string, len(items))
		for i, it := range items {
			pr, err := prefix(it)
			if err != nil {
				return nil, err
			}
			prefixes[i] = pr
		}
		return cache.CachePurgeParamsBodyCachePurgeFlexPurgeByPrefixes{Prefixes: cf.F(prefixes)}, nil
	}
	return nil, fmt.Errorf("kind %s is not supported", kind)
}

// bareHost accepts a host name or a URL and returns the lower-cased host.
func bareHost(it string) (string, error) {
	h := it
	if strings.Contains(it, "://") {
		u, err := url.Parse(it)
		if err != nil {
			return "", fmt.Errorf("host item %q is not a host name", it)
		}
		h = u.Hostname()
	}
	if h == "" || strings.ContainsAny(h, ":/?# ") {
		return "", fmt.Errorf("host item %q is not a host name", it)
	}
	return strings.ToLower(h), nil
}

// prefix turns https://host/path (or host/path) into host/path.
func prefix(it string) (string, error) {
	s := it
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Hostname() == "" || u.Port() != "" {
		return "", fmt.Errorf("prefix item %q is not a URL prefix (host/path)", it)
	}
	return strings.ToLower(u.Hostname()) + u.EscapedPath(), nil
}

// envelope is Cloudflare's response envelope.
type envelope struct {
	Success bool `json:"success"`
	Errors  []struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"errors"`
	Result *struct {
		ID string `json:"id"`
	} `json:"result"`
}

func (e envelope) message() string {
	msgs := make([]string, 0, len(e.Errors))
	for _, m := range e.Errors {
		msgs = append(msgs, fmt.Sprintf("%s (code %d)", m.Message, m.Code))
	}
	return strings.Join(msgs, "; ")
}

// classify turns an SDK error into a purger.Error: Cloudflare's
// errors[].message classified by purger.FromStatus, network failures
// Retry.
func (p *Purger) classify(ctx context.Context, err error, resp *http.Response) error {
	if cerr := ctx.Err(); cerr != nil {
		return &purger.Error{Provider: p.label, Class: purger.Retry, Err: cerr}
	}
	var apiErr *cf.Error
	switch {
	case errors.As(err, &apiErr):
		msgs := make([]string, 0, len(apiErr.Errors))
		for _, m := range apiErr.Errors {
			msgs = append(msgs, fmt.Sprintf("%s (code %d)", m.Message, m.Code))
		}
		msg := strings.Join(msgs, "; ")
		if msg == "" && apiErr.Response != nil {
			// Not Cloudflare's envelope (an HTML error page from the
			// edge): show the start of what came back.
			raw, _ := io.ReadAll(io.LimitReader(apiErr.Response.Body, 4<<10))
			msg = purger.Truncate(p.redact(string(raw)), 200)
		}
		return p.status(apiErr.StatusCode, apiErr.Response.Header, msg)
	case resp != nil && resp.StatusCode >= 400:
		// A non-JSON error page (a 502 from the edge): the SDK fails to
		// decode it and returns that failure instead of an API error.
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return p.status(resp.StatusCode, resp.Header, purger.Truncate(p.redact(string(raw)), 200))
	}
	return &purger.Error{Provider: p.label, Class: purger.Retry, Err: errors.New(p.redact(err.Error()))}
}

func (p *Purger) status(code int, h http.Header, msg string) error {
	// Cloudflare's own default wait, for a 429 without Retry-After;
	// FromStatus reads it only on a 429.
	after := purger.RetryAfter(h.Get("Retry-After"), time.Now())
	if after <= 0 {
		after = DefaultRetryAfter
	}
	err := purger.FromStatus(p.label, code, after, p.redact(msg))
	if err == nil {
		// The SDK failed on a 2xx it could not read; a purge is safe to
		// repeat.
		return p.fail(purger.Retry, code, msg)
	}
	p.logger.Debug("purge refused", "status", code, "err", err)
	return err
}

func (p *Purger) fail(c purger.Class, status int, msg string) error {
	return &purger.Error{Provider: p.label, Class: c, Status: status, Msg: p.redact(msg)}
}

// redact removes the token and the zone id: the zone appears in request
// URLs that transport errors and Cloudflare's own messages echo.
func (p *Purger) redact(s string) string { return purger.Redact(s, p.token, p.zone) }
