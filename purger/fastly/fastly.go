// Package fastly purges Fastly's edge through its purge API: single URLs,
// surrogate keys (one, or up to 256 in a bulk request) and purge_all, hard
// or soft. It speaks the documented HTTP API with net/http, because
// go-fastly is not served by the module proxy and the purge API is four
// small requests.
package fastly

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/purger"
)

// Fastly's documented limits and defaults.
const (
	// DefaultAPIURL is the real API.
	DefaultAPIURL = "https://api.fastly.com"
	// MaxKeysPerRequest is the most surrogate keys one bulk purge takes.
	MaxKeysPerRequest = 256
	// MaxKeyHeaderBytes bounds the Surrogate-Key request header. Fastly
	// does not reject a longer header: it silently ignores the key it was
	// parsing and every key after it, so the adapter must never send one.
	MaxKeyHeaderBytes = 16384
	// MaxKeyBytes bounds one surrogate key; a longer key is ignored with
	// every key after it.
	MaxKeyBytes = 1024
	// URLsPerCall is the declared per-call limit for URL purges: Fastly
	// purges one URL per request, and one call is one request.
	URLsPerCall = 1

	maxResponse = 1 << 20
)

// Options configure one Fastly service: its Config and what the process
// gives it.
type Options struct {
	// Name is the configured provider name.
	Name string
	Config
	// Limits are the effective limits, Config.Limits() with the file's
	// overrides applied; zero means Config.Limits().
	Limits change.Limits
	// Client makes the requests (default http.DefaultClient); its timeout
	// bounds one request.
	Client *http.Client
	Logger *slog.Logger
	// Now is the clock that Fastly-RateLimit-Reset is read against (tests
	// set it); nil means time.Now.
	Now func() time.Time
}

// Fastly is the fastly provider.
type Fastly struct {
	o      Options
	label  string
	logger *slog.Logger
}

var _ purger.Purger = (*Fastly)(nil)

// New checks the options and returns the provider.
func New(o Options) (*Fastly, error) {
	label := "fastly[" + o.Name + "]"
	o.Config.SetDefaults()
	if err := o.Config.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	if o.Limits.Kinds == nil {
		o.Limits = o.Config.Limits()
	} else {
		o.Limits = o.Limits.Clone()
	}
	o.APIURL = strings.TrimRight(o.APIURL, "/")
	// A redirect is answered as a misconfigured api_url.
	o.Client = purger.NoRedirects(o.Client)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Fastly{
		o:      o,
		label:  label,
		logger: o.Logger.With("component", "provider", "provider", o.Name, "kind", "fastly"),
	}, nil
}

// Name is the configured name.
func (f *Fastly) Name() string { return f.o.Name }

// Limits are Config.Limits() with the file's overrides.
func (f *Fastly) Limits() change.Limits { return f.o.Limits.Clone() }

// Purge makes the call. A call that still carries more than one request's
// worth of items (limits overridden in config) is sent as several requests
// in order; the first failure ends the call with that request's
// classification. Retrying the whole call is safe because a purge is
// idempotent: URLs and keys already purged are purged again.
func (f *Fastly) Purge(ctx context.Context, call change.Call) (purger.Result, error) {
	if err := ctx.Err(); err != nil {
		return purger.Result{}, err
	}
	switch call.Kind {
	case change.Everything:
		return f.purgeAll(ctx)
	case change.URL:
		return f.purgeURLs(ctx, call.Items)
	case change.Tag:
		return f.purgeKeys(ctx, call.Items)
	}
	return purger.Result{}, &purger.Error{Provider: f.label, Class: purger.Permanent,
		Msg: fmt.Sprintf("cannot purge %s targets (url, tag and everything only)", call.Kind)}
}

func (f *Fastly) purgeAll(ctx context.Context) (purger.Result, error) {
	// purge_all cannot be soft: Fastly always invalidates everything at once.
	var r purgeResponse
	if err := f.post(ctx, "purge everything", f.servicePath("purge_all"), nil, false, &r); err != nil {
		return purger.Result{}, err
	}
	f.logger.DebugContext(ctx, "purged everything", "purge_id", r.ID)
	return purger.Result{Ref: r.ID}, nil
}

func (f *Fastly) purgeURLs(ctx context.Context, items []string) (purger.Result, error) {
	if len(items) == 0 {
		return purger.Result{}, nil
	}
	var ref string
	for i, item := range items {
		u, err := url.Parse(item)
		if err != nil || u.Host == "" {
			return purger.Result{}, &purger.Error{Provider: f.label, Class: purger.Permanent,
				Msg: fmt.Sprintf("%q is not an absolute URL", item)}
		}
		// The documented form is POST /purge/{host}{path}; a query string
		// rides on the API request's own query, as go-fastly sends it,
		// because ?page=2 is a different object from the bare path.
		p := "/purge/" + u.Host + u.EscapedPath()
		if u.EscapedPath() == "" {
			p += "/"
		}
		if u.RawQuery != "" {
			p += "?" + u.RawQuery
		}
		what := "purge url " + item
		if len(items) > 1 {
			what = fmt.Sprintf("purge %d urls (request %d of %d, %s)", len(items), i+1, len(items), item)
		}
		var r purgeResponse
		if err := f.post(ctx, what, p, nil, f.o.SoftPurge, &r); err != nil {
			return purger.Result{}, err
		}
		ref = r.ID
	}
	f.logger.DebugContext(ctx, "purged urls", "items", len(items), "soft", f.o.SoftPurge)
	return refIfOne(len(items), ref), nil
}

// refIfOne is the Result of a call: Fastly's purge id when the call was one
// request that returned one, nothing otherwise.
func refIfOne(requests int, ref string) purger.Result {
	if requests != 1 {
		return purger.Result{}
	}
	return purger.Result{Ref: ref}
}

func (f *Fastly) purgeKeys(ctx context.Context, items []string) (purger.Result, error) {
	if len(items) == 0 {
		return purger.Result{}, nil
	}
	var bad []string
	keys := make([]string, 0, len(items))
	for _, k := range items {
		if validKey(k) {
			keys = append(keys, k)
		} else {
			bad = append(bad, k)
		}
	}
	var ref string
	chunks := chunkKeys(keys, MaxKeysPerRequest, MaxKeyHeaderBytes)
	for i, chunk := range chunks {
		what := fmt.Sprintf("purge %d tags", len(chunk))
		if len(chunks) > 1 {
			what = fmt.Sprintf("purge %d tags (request %d of %d)", len(keys), i+1, len(chunks))
		}
		if len(chunk) == 1 {
			var r purgeResponse
			if err := f.post(ctx, "purge tag "+chunk[0], f.servicePath("purge", chunk[0]), nil, f.o.SoftPurge, &r); err != nil {
				return purger.Result{}, err
			}
			ref = r.ID
			continue
		}
		// Bulk purge with the Surrogate-Key header (as go-fastly does); the
		// answer maps each key to its own purge id, so there is no one Ref.
		hdr := http.Header{"Surrogate-Key": {strings.Join(chunk, " ")}}
		var ids map[string]string
		if err := f.post(ctx, what, f.servicePath("purge"), hdr, f.o.SoftPurge, &ids); err != nil {
			return purger.Result{}, err
		}
		ref = ""
	}
	res := refIfOne(len(chunks), ref)
	f.logger.DebugContext(ctx, "purged tags", "items", len(keys), "requests", len(chunks), "soft", f.o.SoftPurge)
	if len(bad) > 0 {
		// The valid keys are purged; the invalid ones never can be, since
		// Fastly would split or silently drop them (and the keys after them).
		return res, &purger.Error{Provider: f.label, Class: purger.Permanent,
			Msg: fmt.Sprintf("%d tags are not valid surrogate keys (printable ASCII without spaces, at most %d bytes): %s",
				len(bad), MaxKeyBytes, purger.Truncate(strings.Join(quoteAll(bad), ", "), 300))}
	}
	return res, nil
}

func (f *Fastly) servicePath(parts ...string) string {
	p := "/service/" + url.PathEscape(f.o.ServiceID)
	for _, s := range parts {
		p += "/" + url.PathEscape(s)
	}
	return p
}

// purgeResponse is the answer to single URL, single key and purge_all.
type purgeResponse struct {
	Status string `json:"status"`
	ID     string `json:"id"`
}

// post sends one purge request and classifies the answer; on success it
// decodes the body into out.
func (f *Fastly) post(ctx context.Context, what, pathAndQuery string, hdr http.Header, soft bool, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.o.APIURL+pathAndQuery, nil)
	if err != nil {
		return &purger.Error{Provider: f.label, Class: purger.Permanent, Msg: what + ": " + purger.Redact(err.Error(), f.o.Token)}
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Fastly-Key", f.o.Token)
	req.Header.Set("Accept", "application/json")
	if soft {
		req.Header.Set("Fastly-Soft-Purge", "1")
	}
	resp, err := f.o.Client.Do(req)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("%s: %s: %w", f.label, what, cerr)
		}
		return &purger.Error{Provider: f.label, Class: purger.Retry, Msg: what, Err: redacted{err, f.o.Token}}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("%s: %s: %w", f.label, what, cerr)
		}
		return &purger.Error{Provider: f.label, Class: purger.Retry, Msg: what + ": reading the answer", Err: redacted{err, f.o.Token}}
	}
	if resp.StatusCode >= 300 {
		msg := what + ": " + purger.Redact(errorMessage(body), f.o.Token)
		// Fastly says when its rate limit resets in its own header;
		// FromStatus reads the wait only on a 429.
		return purger.FromStatus(f.label, resp.StatusCode, f.rateLimitWait(resp.Header), msg)
	}
	if err := json.Unmarshal(body, out); err != nil {
		// Fastly accepted the purge (2xx); an unreadable answer does not undo
		// it, so it is logged rather than retried.
		f.logger.WarnContext(ctx, "unreadable purge answer", "what", what, "err", err)
	}
	return nil
}

// rateLimitWait reads Fastly-RateLimit-Reset (UTC epoch seconds when the
// hourly window resets), then Retry-After, then falls back to the default.
func (f *Fastly) rateLimitWait(h http.Header) time.Duration {
	if v := strings.TrimSpace(h.Get("Fastly-RateLimit-Reset")); v != "" {
		if s, err := strconv.ParseInt(v, 10, 64); err == nil {
			if d := time.Unix(s, 0).Sub(f.o.Now()); d > 0 {
				return d.Round(time.Second)
			}
			// The window has already reset by our clock (skew): try again
			// soon rather than at once.
			return time.Second
		}
	}
	if d := purger.RetryAfter(h.Get("Retry-After"), f.o.Now()); d > 0 {
		return d
	}
	return purger.DefaultRetryAfter
}

// errorMessage extracts Fastly's own message from an error body: the
// legacy {"msg","detail"} shape, the JSON:API {"errors":[{title,detail}]}
// shape, or the start of whatever text came back.
func errorMessage(body []byte) string {
	var legacy struct {
		Msg    string `json:"msg"`
		Detail string `json:"detail"`
	}
	if json.Unmarshal(body, &legacy) == nil && legacy.Msg != "" {
		if legacy.Detail != "" {
			return purger.Truncate(legacy.Msg+": "+legacy.Detail, 300)
		}
		return purger.Truncate(legacy.Msg, 300)
	}
	var api struct {
		Errors []struct {
			Title  string `json:"title"`
			Detail string `json:"detail"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &api) == nil && len(api.Errors) > 0 {
		var parts []string
		for _, e := range api.Errors {
			s := e.Title
			if e.Detail != "" {
				s += ": " + e.Detail
			}
			parts = append(parts, s)
		}
		return purger.Truncate(strings.Join(parts, "; "), 300)
	}
	return purger.Truncate(string(body), 200)
}

// validKey reports whether k is a surrogate key Fastly takes as one key:
// printable ASCII without spaces (0x21–0x7E), at most 1,024 bytes.
func validKey(k string) bool {
	if k == "" || len(k) > MaxKeyBytes {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// chunkKeys splits keys into requests of at most n keys whose
// space-joined length is at most maxBytes.
func chunkKeys(keys []string, n, maxBytes int) [][]string {
	var out [][]string
	var cur []string
	size := 0
	for _, k := range keys {
		add := len(k)
		if len(cur) > 0 {
			add++ // the separating space
		}
		if len(cur) == n || (len(cur) > 0 && size+add > maxBytes) {
			out = append(out, cur)
			cur, size, add = nil, 0, len(k)
		}
		cur = append(cur, k)
		size += add
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = strconv.Quote(v)
	}
	return out
}

// redacted wraps a transport error so that its message never carries the
// token while errors.Is still sees the cause (context.DeadlineExceeded).
type redacted struct {
	err    error
	secret string
}

func (r redacted) Error() string { return purger.Redact(r.err.Error(), r.secret) }
func (r redacted) Unwrap() error { return r.err }
