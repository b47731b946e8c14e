// Package akamai purges Akamai through Fast Purge API v3 (CCU):
// POST /ccu/v3/{invalidate|delete}/{url|tag|cpcode}/{network} with
// {"objects": [...]}, signed with EdgeGrid (EG1-HMAC-SHA256) by Akamai's own
// pkg/edgegrid. URL and tag calls carry the planned items; an everything call
// purges the CP codes configured for the provider. Fast Purge has no status
// endpoint: a 201 carries estimatedSeconds, which the purger reports as a
// pending result whose completion is that much time later.
package akamai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/akamai/AkamaiOPEN-edgegrid-golang/v11/pkg/edgegrid"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/purger"
)

// Networks and actions.
const (
	Production = "production"
	Staging    = "staging"
	Invalidate = "invalidate"
	Delete     = "delete"
)

// Defaults and Fast Purge's own numbers.
const (
	DefaultNetwork = Production
	DefaultAction  = Invalidate
	// MaxBodyBytes is Fast Purge's request body limit; above it the API
	// answers 413.
	MaxBodyBytes = 50000
	// DefaultBodyBytes bounds the body the planner plans for (it counts
	// quotes and commas and an envelope). The 2,000 bytes below
	// MaxBodyBytes absorb the percent-encoding of non-ASCII characters in
	// URLs; a body that still comes out larger is split, never sent.
	DefaultBodyBytes = 48000
	// DefaultPerCall bounds URL and tag objects per call: 500 URLs is 1/20
	// of the URL object bucket (10,000), 500 tags 1/10 of the tag bucket.
	DefaultPerCall = 500
	// DefaultRatePerSecond and DefaultBurst pace calls to the URL object
	// bucket's refill (12,000 per minute = 200/s, 0.4 full calls a second)
	// with a burst of half the bucket; the tag bucket refills slower and
	// answers 429 when exceeded, which becomes a snooze.
	DefaultRatePerSecond = 0.4
	DefaultBurst         = 10
	// DefaultRateLimitWait is Akamai's guidance after a 429 that names no
	// refresh time: wait five seconds.
	DefaultRateLimitWait = 5 * time.Second
	// DefaultEstimate is used when a 201 carries no estimatedSeconds.
	DefaultEstimate = 5 * time.Second
)

// Options configure an Akamai purger: its Config and what the process
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
	// Now is the clock completion is measured with; nil means time.Now.
	Now func() time.Time
}

// Purger purges through Fast Purge v3.
type Purger struct {
	name    string
	label   string
	base    string
	network string
	action  string
	cpcodes []int
	limits  change.Limits
	signer  edgegrid.Config
	secrets []string
	client  *http.Client
	logger  *slog.Logger
	now     func() time.Time
}

var (
	_ purger.Purger    = (*Purger)(nil)
	_ purger.Completer = (*Purger)(nil)
)

// New checks the options and returns a purger. Errors name the config
// field.
func New(o Options) (*Purger, error) {
	label := "akamai[" + o.Name + "]"
	o.Config.SetDefaults()
	if err := o.Config.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	cpcodes, _ := o.cpcodes() // Validate checked them
	limits := o.Limits.Clone()
	if o.Limits.Kinds == nil {
		limits = o.Config.Limits()
	}
	base := o.APIURL
	if base == "" {
		base = "https://" + o.Host
	}
	client := o.Client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.Default()
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	return &Purger{
		name:    o.Name,
		label:   label,
		base:    strings.TrimRight(base, "/"),
		network: o.Network,
		action:  o.Action,
		limits:  limits,
		cpcodes: cpcodes,
		signer: edgegrid.Config{
			Host:         o.Host,
			ClientToken:  o.ClientToken,
			ClientSecret: o.ClientSecret,
			AccessToken:  o.AccessToken,
			// A zero MaxBody would hash an empty body: the signature
			// must cover the body.
			MaxBody: edgegrid.MaxBodySize,
		},
		secrets: []string{o.ClientSecret, o.ClientToken, o.AccessToken},
		client:  client,
		logger:  logger.With("component", "provider", "provider", o.Name, "kind", "akamai"),
		now:     now,
	}, nil
}

// Name is the configured name.
func (p *Purger) Name() string { return p.name }

// Limits are Config.Limits() with the file's overrides.
func (p *Purger) Limits() change.Limits { return p.limits.Clone() }

// Purge makes one Fast Purge request.
func (p *Purger) Purge(ctx context.Context, call change.Call) (purger.Result, error) {
	if !p.Limits().Supports(call.Kind) {
		msg := fmt.Sprintf("kind %s is not supported", call.Kind)
		if call.Kind == change.Everything {
			msg += " without cpcodes"
		}
		return purger.Result{}, p.fail(purger.Permanent, msg)
	}
	if call.Kind != change.Everything && len(call.Items) == 0 {
		return purger.Result{}, nil
	}
	if err := ctx.Err(); err != nil {
		return purger.Result{}, fmt.Errorf("%s: %w", p.label, err)
	}

	var (
		typ     string
		objects any
	)
	switch call.Kind {
	case change.URL:
		typ = "url"
		urls := make([]string, len(call.Items))
		for i, it := range call.Items {
			u, err := objectURL(it)
			if err != nil {
				return purger.Result{}, p.fail(purger.Permanent, err.Error())
			}
			urls[i] = u
		}
		objects = urls
	case change.Tag:
		typ, objects = "tag", call.Items
	case change.Everything:
		typ, objects = "cpcode", p.cpcodes
	}
	body, err := encode(objects)
	if err != nil {
		return purger.Result{}, p.fail(purger.Permanent, err.Error())
	}
	if len(body) > MaxBodyBytes {
		// Splitting helps unless the call is down to one object.
		c := purger.TooLarge
		if len(call.Items) <= 1 {
			c = purger.Permanent
		}
		return purger.Result{}, p.fail(c, fmt.Sprintf("%d %s objects make a body of %d bytes, over Fast Purge's %d", len(call.Items), typ, len(body), MaxBodyBytes))
	}

	target := p.base + "/ccu/v3/" + p.action + "/" + typ + "/" + p.network
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return purger.Result{}, p.fail(purger.Permanent, p.redact(err.Error()))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	p.signer.SignRequest(req)

	resp, err := p.client.Do(req)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return purger.Result{}, &purger.Error{Provider: p.label, Class: purger.Retry, Err: cerr}
		}
		return purger.Result{}, &purger.Error{Provider: p.label, Class: purger.Retry, Err: errors.New(p.redact(err.Error()))}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 300 {
		return purger.Result{}, p.classify(resp, raw)
	}

	var ok struct {
		EstimatedSeconds *float64 `json:"estimatedSeconds"`
		PurgeID          string   `json:"purgeId"`
		SupportID        string   `json:"supportId"`
	}
	if err := json.Unmarshal(raw, &ok); err != nil {
		// The purge was accepted; an unreadable body must not make the
		// queue send it again.
		p.logger.Warn("unreadable response to an accepted purge", "call", call.ID, "status", resp.StatusCode, "err", err)
	}
	estimate := DefaultEstimate
	if ok.EstimatedSeconds != nil && *ok.EstimatedSeconds >= 0 {
		estimate = time.Duration(*ok.EstimatedSeconds * float64(time.Second))
	}
	id := ok.PurgeID
	if id == "" {
		id = ok.SupportID
	}
	if id == "" {
		id = "purge"
	}
	done := p.now().Add(estimate)
	p.logger.Debug("purge accepted", "call", call.ID, "type", typ, "objects", len(call.Items),
		"purge_id", ok.PurgeID, "support_id", ok.SupportID, "estimated", estimate)
	return purger.Result{Ref: formatRef(id, done), Pending: true, CheckAfter: estimate}, nil
}

// Completed reports a purge done once its estimated time has passed. Fast
// Purge v3 has no status endpoint, so this makes no request; the time is
// kept in the Ref so that it survives a restart.
func (p *Purger) Completed(ctx context.Context, call change.Call) (bool, time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return false, 0, fmt.Errorf("%s: %w", p.label, err)
	}
	_, done, ok := parseRef(call.Ref)
	if !ok {
		// A ref without a time (written by hand or by an older purgehook)
		// has had its estimate long ago.
		return true, 0, nil
	}
	if wait := done.Sub(p.now()); wait > 0 {
		return false, wait, nil
	}
	return true, 0, nil
}

// formatRef keeps the estimated completion time with the purge id:
// "edcp-…@2026-01-02T03:04:05.5Z".
func formatRef(id string, done time.Time) string {
	return id + "@" + done.UTC().Format(time.RFC3339Nano)
}

func parseRef(ref string) (string, time.Time, bool) {
	i := strings.LastIndexByte(ref, '@')
	if i < 0 {
		return ref, time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, ref[i+1:])
	if err != nil {
		return ref, time.Time{}, false
	}
	return ref[:i], t, true
}

// encode writes {"objects": [...]} without HTML escaping, so that "&" in a
// query string costs one byte, not six.
func encode(objects any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(struct {
		Objects any `json:"objects"`
	}{objects}); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// objectURL checks an item is an absolute http(s) URL and makes it ASCII:
// Fast Purge rejects non-ASCII characters ("bad URL"), and an edge cache
// key holds the percent-encoded form a browser sends. Escapes the item
// carries are kept; a stray "%" is escaped. The fragment is never part of a
// cache key.
func objectURL(item string) (string, error) {
	scheme, rest, ok := strings.Cut(item, "://")
	if s := strings.ToLower(scheme); !ok || (s != "http" && s != "https") || rest == "" || strings.IndexAny(rest[:1], "/?#") == 0 {
		return "", fmt.Errorf("url item %q is not an absolute http(s) URL", item)
	}
	if i := strings.IndexByte(item, '#'); i >= 0 {
		item = item[:i]
	}
	var b strings.Builder
	for i := 0; i < len(item); i++ {
		c := item[i]
		switch {
		case c == '%' && i+2 < len(item) && ishex(item[i+1]) && ishex(item[i+2]):
			b.WriteByte(c)
		case c == '%', c >= 0x80, c <= ' ', c == 0x7f:
			fmt.Fprintf(&b, "%%%02X", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

func ishex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// problem is Akamai's application/problem+json error body; 429s add the
// rateLimit fields.
type problem struct {
	HTTPStatus                  int    `json:"httpStatus"`
	Title                       string `json:"title"`
	Detail                      string `json:"detail"`
	SupportID                   string `json:"supportId"`
	DescribedBy                 string `json:"describedBy"`
	RateLimit                   *int   `json:"rateLimit"`
	RateLimitRemaining          *int   `json:"rateLimitRemaining"`
	RateLimitCurrentRequestSize *int   `json:"rateLimitCurrentRequestSize"`
}

// classify turns an error response into a *purger.Error.
func (p *Purger) classify(resp *http.Response, raw []byte) error {
	var pr problem
	msg := ""
	if ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); strings.HasSuffix(ct, "json") || json.Valid(raw) {
		if json.Unmarshal(raw, &pr) == nil {
			msg = strings.TrimSpace(strings.Join(nonEmpty(pr.Title, pr.Detail), ": "))
			if pr.SupportID != "" {
				msg += " (support id " + pr.SupportID + ")"
			}
		}
	}
	if msg == "" {
		msg = purger.Truncate(p.redact(string(raw)), 300)
	}
	msg = p.redact(msg)

	if pr.RateLimit != nil && pr.RateLimitCurrentRequestSize != nil && pr.RateLimitRemaining != nil {
		msg += fmt.Sprintf(" (limit %d, remaining %d, request size %d)", *pr.RateLimit, *pr.RateLimitRemaining, *pr.RateLimitCurrentRequestSize)
	}
	// Akamai says how long to wait in its own headers; FromStatus reads the
	// wait only on a 429.
	return purger.FromStatus(p.label, resp.StatusCode, rateLimitWait(resp.Header, pr.Title), msg)
}

// rateLimitWait reads how long to wait after a 429: Retry-After if a proxy
// added one, else the refresh time of the bucket the title names (objects
// for "URL/TAG/CPCODE Rate Limit exceeded", requests otherwise), else
// Akamai's documented five seconds.
func rateLimitWait(h http.Header, title string) time.Duration {
	if d := purger.RetryAfter(h.Get("Retry-After"), time.Now()); d > 0 {
		return d
	}
	names := []string{"X-Ratelimit-Seconds-To-Refresh-Limit", "X-Ratelimit-Seconds-To-Refresh-Limit-Objects"}
	t := strings.ToUpper(title)
	if strings.Contains(t, "URL") || strings.Contains(t, "TAG") || strings.Contains(t, "CPCODE") {
		names[0], names[1] = names[1], names[0]
	}
	for _, n := range names {
		if s, err := strconv.ParseFloat(strings.TrimSpace(h.Get(n)), 64); err == nil && s > 0 {
			return time.Duration(s * float64(time.Second))
		}
	}
	return DefaultRateLimitWait
}

func (p *Purger) redact(s string) string { return purger.Redact(s, p.secrets...) }

func (p *Purger) fail(c purger.Class, msg string) error {
	return &purger.Error{Provider: p.label, Class: c, Msg: msg}
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
