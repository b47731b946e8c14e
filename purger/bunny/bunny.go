// Package bunny purges Bunny CDN: one URL (or one URL prefix) per call
// through POST /purge, and, when a pull zone is configured, a cache tag or
// the whole zone through POST /pullzone/{id}/purgeCache. Bunny's API takes
// one item per request, so every call the planner makes here carries one
// item; the per-type token buckets Bunny enforces answer 429 when exceeded,
// which becomes a snooze.
package bunny

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/purger"
)

// Defaults.
const (
	// DefaultAPIURL is Bunny's core API.
	DefaultAPIURL = "https://api.bunny.net"
	// DefaultRateLimitWait is the snooze after a 429 without Retry-After:
	// the refill time of one token in the slower (prefix) bucket, 0.5/s.
	DefaultRateLimitWait = 2 * time.Second
	// DefaultRatePerSecond and DefaultBurst are Bunny's exact-URL bucket
	// (120 tokens, 5 per second). The prefix bucket is smaller (20, 0.5/s);
	// its overflow answers 429 and the queue snoozes.
	DefaultRatePerSecond = 5
	DefaultBurst         = 120
	// MaxCacheTag is the longest CDN-Tag value Bunny matches, in bytes.
	MaxCacheTag = 1024
)

// Options configure a Bunny purger: its Config and what the process
// gives it.
type Options struct {
	// Name is the configured provider name.
	Name string
	Config
	// Limits are the effective limits, Config.Limits() with the file's
	// overrides applied; zero means Config.Limits().
	Limits change.Limits
	// Client makes the requests; its Timeout bounds one call. Nil means a
	// client with a 30 s timeout.
	Client *http.Client
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Purger purges Bunny CDN.
type Purger struct {
	name   string
	label  string
	key    string
	zone   string
	base   string
	limits change.Limits
	client *http.Client
	logger *slog.Logger
}

var _ purger.Purger = (*Purger)(nil)

// New checks the options and returns a purger.
func New(o Options) (*Purger, error) {
	label := "bunny[" + o.Name + "]"
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
	return &Purger{
		name:   o.Name,
		label:  label,
		key:    o.APIKey,
		zone:   o.PullZone,
		base:   strings.TrimRight(o.APIURL, "/"),
		limits: limits,
		client: client,
		logger: logger.With("component", "provider", "provider", o.Name, "kind", "bunny"),
	}, nil
}

// Name is the configured name.
func (p *Purger) Name() string { return p.name }

// Limits are Config.Limits() with the file's overrides.
func (p *Purger) Limits() change.Limits { return p.limits.Clone() }

// Purge makes one request for the call's single item (or the whole zone).
func (p *Purger) Purge(ctx context.Context, call change.Call) (purger.Result, error) {
	if !p.Limits().Supports(call.Kind) {
		msg := fmt.Sprintf("kind %s is not supported", call.Kind)
		if call.Kind == change.Tag || call.Kind == change.Everything {
			msg += " without pull_zone"
		}
		return purger.Result{}, p.fail(purger.Permanent, msg)
	}
	if call.Kind != change.Everything && len(call.Items) == 0 {
		return purger.Result{}, nil
	}
	if len(call.Items) > 1 {
		// Bunny takes one item per request; a larger call comes from a
		// config override and is split by the queue.
		return purger.Result{}, p.fail(purger.TooLarge, fmt.Sprintf("%d %s items in one call; bunny takes one per request", len(call.Items), call.Kind))
	}
	if err := ctx.Err(); err != nil {
		return purger.Result{}, fmt.Errorf("%s: %w", p.label, err)
	}

	var (
		target string
		body   []byte
	)
	switch call.Kind {
	case change.URL, change.Prefix:
		u, exact, err := purgeURL(call.Kind, call.Items[0])
		if err != nil {
			return purger.Result{}, p.fail(purger.Permanent, err.Error())
		}
		q := url.Values{"url": {u}, "async": {"false"}}
		if exact {
			q.Set("exactPath", "true")
		}
		target = p.base + "/purge?" + q.Encode()
	case change.Tag:
		tag := call.Items[0]
		if tag == "" || len(tag) > MaxCacheTag {
			return purger.Result{}, p.fail(purger.Permanent, fmt.Sprintf("cache tag of %d bytes; bunny takes 1 to %d", len(tag), MaxCacheTag))
		}
		body, _ = json.Marshal(struct {
			CacheTag string `json:"CacheTag"`
		}{tag})
		target = p.base + "/pullzone/" + p.zone + "/purgeCache"
	case change.Everything:
		target = p.base + "/pullzone/" + p.zone + "/purgeCache"
	}

	if err := p.do(ctx, target, body); err != nil {
		return purger.Result{}, err
	}
	p.logger.Debug("purged", "call", call.ID, "kind", call.Kind, "items", len(call.Items))
	return purger.Result{}, nil
}

// purgeURL turns an item into the url parameter of POST /purge. Bunny reads
// a "*" anywhere, or a path ending in "/", as a prefix purge: prefix items get
// a trailing "*", URL items get a literal "*" escaped and, when they end in
// "/", exactPath=true so that the homepage purge does not purge the site.
func purgeURL(kind change.TargetKind, item string) (string, bool, error) {
	scheme, rest, ok := strings.Cut(item, "://")
	if s := strings.ToLower(scheme); !ok || (s != "http" && s != "https") || rest == "" || strings.IndexAny(rest[:1], "/?#") == 0 {
		return "", false, fmt.Errorf("%s item %q is not an absolute http(s) URL", kind, item)
	}
	if i := strings.IndexByte(item, '#'); i >= 0 {
		item = item[:i]
	}
	if kind == change.Prefix {
		if !strings.ContainsAny(rest, "/?") {
			item += "/" // https://host covers the whole host
		}
		if !strings.HasSuffix(item, "*") {
			item += "*"
		}
		return item, false, nil
	}
	item = strings.ReplaceAll(item, "*", "%2A")
	path := item
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	// A bare host ("https://host") is the homepage, like "https://host/".
	exact := strings.HasSuffix(path, "/") || !strings.Contains(path[len(scheme)+3:], "/")
	return item, exact, nil
}

// errorBody is Bunny's error envelope on 4xx.
type errorBody struct {
	ErrorKey string `json:"ErrorKey"`
	Field    string `json:"Field"`
	Message  string `json:"Message"`
}

// do sends one POST and classifies the answer.
func (p *Purger) do(ctx context.Context, target string, body []byte) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, rd)
	if err != nil {
		return p.fail(purger.Permanent, purger.Redact(err.Error(), p.key))
	}
	req.Header.Set("AccessKey", p.key)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := p.client.Do(req)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return &purger.Error{Provider: p.label, Class: purger.Retry, Err: cerr}
		}
		return &purger.Error{Provider: p.label, Class: purger.Retry, Err: errors.New(purger.Redact(err.Error(), p.key))}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 300 {
		return nil
	}

	msg := purger.Truncate(purger.Redact(string(raw), p.key), 300)
	var eb errorBody
	if json.Unmarshal(raw, &eb) == nil && (eb.Message != "" || eb.ErrorKey != "") {
		msg = eb.Message
		if eb.ErrorKey != "" {
			msg = strings.TrimSpace(msg + " (" + eb.ErrorKey + ")")
		}
		if eb.Field != "" {
			msg += " field " + eb.Field
		}
	}
	msg = purger.Redact(msg, p.key)
	// Bunny's own default wait, for a 429 without Retry-After; FromStatus
	// reads it only on a 429.
	after := purger.RetryAfter(resp.Header.Get("Retry-After"), time.Now())
	if after <= 0 {
		after = DefaultRateLimitWait
	}
	return purger.FromStatus(p.label, resp.StatusCode, after, msg)
}

func (p *Purger) fail(c purger.Class, msg string) error {
	return &purger.Error{Provider: p.label, Class: c, Msg: msg}
}
