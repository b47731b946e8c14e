// Package app is the `app` provider: the innermost cache layer, caches
// inside the applications themselves (depcache). A call is POSTed, signed,
// to every configured application instance, where
// depcache/httpinvalidate.Handler verifies it and invalidates; with
// stream: true it is also published on purgehook's /v1/stream for instances
// that cannot accept inbound calls and follow the stream instead
// (depcache/httpinvalidate.Client).
//
// depcache/httpinvalidate defines the message, its headers and its
// signature; this package only maps a change.Call onto them, so the sender
// and the receiver cannot drift apart. The request, identical for every
// instance:
//
//	POST <instance URL>
//	Content-Type: application/json
//	X-Purgehook-Timestamp: <unix seconds>
//	X-Purgehook-Signature: v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>
//
//	{"id": "<call key>", "kind": "url|tag|prefix|host|everything", "items": [...]}
//
// The id is the call's key, stable across retries, so instances that
// already applied a call drop the retry. Instances are called in parallel
// and the call succeeds only when every one answered 2xx; a failure names
// each instance that did not (its URL without credentials or query).
package app

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
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/depcache/httpinvalidate"
	"github.com/purgehook/purgehook/purger"
)

// Defaults.
const (
	// DefaultPerCall is the item limit of every kind: what one instance
	// invalidates in one request, far under its body limit.
	DefaultPerCall = 1000
	// DefaultBodyBytes bounds a call's item bytes at half the handler's 1
	// MiB body limit, leaving room for JSON quoting and escapes.
	DefaultBodyBytes = 512 << 10
	// DefaultTimeout bounds one request when no client is given.
	DefaultTimeout = 10 * time.Second
)

// Publisher is where stream: true sends each call: purgehook's /v1/stream
// hub (*stream.Hub).
type Publisher interface {
	Publish(ctx context.Context, body []byte) (int64, error)
}

// NoStream is the Publisher of a process without a /v1/stream hub (the
// commands that only plan): the purger builds, and a call fails clearly
// instead of skipping the stream.
var NoStream Publisher = noStream{}

type noStream struct{}

func (noStream) Publish(context.Context, []byte) (int64, error) {
	return 0, errors.New("this process serves no /v1/stream")
}

// Options configure an app provider.
type Options struct {
	// Name is the configured provider name.
	Name string
	// Instances are the full URLs of the application instances' handlers
	// (http://10.0.0.5:8080/_purgehook/invalidate). Optional when Stream
	// is set.
	Instances []string
	// Secret signs the requests; required with Instances.
	Secret string
	// Stream, when set, receives every call too.
	Stream Publisher
	// PerCall overrides the per-call limit of a kind (0 keeps the default);
	// BodyBytes the bound on a call's item bytes.
	PerCall   map[change.TargetKind]int
	BodyBytes int
	// Client makes the requests; its Timeout bounds one request (nil: a
	// client with a 10s timeout). Redirects are never followed.
	Client *http.Client
	// Now is the clock the signature's timestamp is read from (tests).
	Now    func() time.Time
	Logger *slog.Logger
}

// Purger fans calls out to application instances.
type Purger struct {
	name      string
	label     string
	instances []instance
	secret    string
	stream    Publisher
	limits    change.Limits
	client    *http.Client
	now       func() time.Time
	logger    *slog.Logger
}

// instance is one application instance: where to call, and how to name it
// in messages.
type instance struct {
	url  string
	name string
	// secrets of the URL (userinfo) that errors must not repeat.
	secrets []string
}

var _ purger.Purger = (*Purger)(nil)

// New checks the options and returns a purger.
func New(o Options) (*Purger, error) {
	label := "app[" + o.Name + "]"
	if len(o.Instances) == 0 && o.Stream == nil {
		return nil, fmt.Errorf("%s: instances: at least one instance is required (or stream: true)", label)
	}
	if len(o.Instances) > 0 && o.Secret == "" {
		return nil, fmt.Errorf("%s: secret: required to sign calls to instances", label)
	}
	p := &Purger{name: o.Name, label: label, secret: o.Secret, stream: o.Stream, now: o.Now}
	for i, raw := range o.Instances {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("%s: instances[%d]: want an http(s) URL", label, i)
		}
		in := instance{url: raw}
		if u.User != nil {
			in.secrets = append(in.secrets, u.User.Username())
			if pw, ok := u.User.Password(); ok {
				in.secrets = append(in.secrets, pw)
			}
		}
		if u.RawQuery != "" {
			in.secrets = append(in.secrets, u.RawQuery)
		}
		shown := *u
		shown.User, shown.RawQuery, shown.Fragment = nil, "", ""
		in.name = shown.String()
		p.instances = append(p.instances, in)
	}
	p.limits = change.Limits{
		Kinds:     slices.Clone(change.AllKinds),
		PerCall:   map[change.TargetKind]int{},
		BodyBytes: DefaultBodyBytes,
	}
	for _, k := range change.AllKinds {
		if k != change.Everything {
			p.limits.PerCall[k] = DefaultPerCall
		}
	}
	for k, n := range o.PerCall {
		if n > 0 && k != change.Everything {
			p.limits.PerCall[k] = n
		}
	}
	if o.BodyBytes > 0 {
		p.limits.BodyBytes = o.BodyBytes
	}
	p.client = o.Client
	if p.client == nil {
		p.client = &http.Client{Timeout: DefaultTimeout}
	}
	// A redirect would send the signed call somewhere else, or nowhere.
	p.client = purger.NoRedirects(p.client)
	if p.now == nil {
		p.now = time.Now
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.Default()
	}
	p.logger = logger.With("component", "provider", "provider", o.Name, "kind", "app")
	return p, nil
}

// Name is the configured name.
func (p *Purger) Name() string { return p.name }

// Limits: every kind, DefaultPerCall items per call, no rate or budget:
// the instances are the application's own servers.
func (p *Purger) Limits() change.Limits { return p.limits.Clone() }

// Body returns the JSON body of a call: the httpinvalidate.Message that
// instances and the stream receive.
func Body(call change.Call) ([]byte, error) {
	items := call.Items
	if items == nil || call.Kind == change.Everything {
		items = []string{}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // URLs keep their & and < as they are
	if err := enc.Encode(httpinvalidate.Message{ID: call.Key, Kind: string(call.Kind), Items: items}); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// Purge publishes the call on the stream (if configured) and sends it to
// every instance.
func (p *Purger) Purge(ctx context.Context, call change.Call) (purger.Result, error) {
	if !p.limits.Supports(call.Kind) {
		return purger.Result{}, p.fail(purger.Permanent, fmt.Sprintf("kind %q is not supported", call.Kind))
	}
	if call.Kind != change.Everything && len(call.Items) == 0 {
		return purger.Result{}, nil
	}
	if n := p.limits.Max(call.Kind); n > 0 && len(call.Items) > n {
		return purger.Result{}, p.fail(purger.TooLarge, fmt.Sprintf("%d %s items in one call; the limit is %d", len(call.Items), call.Kind, n))
	}
	if call.Key == "" {
		return purger.Result{}, p.fail(purger.Permanent, "the call has no key (instances drop retries by it)")
	}
	if err := ctx.Err(); err != nil {
		return purger.Result{}, &purger.Error{Provider: p.label, Class: purger.Retry, Err: err}
	}
	body, err := Body(call)
	if err != nil {
		return purger.Result{}, p.fail(purger.Permanent, "encode the call: "+err.Error())
	}
	// The stream first: it is local and cheap, and a retry after an
	// instance failed publishes again under the same id, which followers
	// drop as a duplicate.
	if p.stream != nil {
		if _, err := p.stream.Publish(ctx, body); err != nil {
			return purger.Result{}, &purger.Error{Provider: p.label, Class: purger.Retry, Msg: "publish on the stream", Err: err}
		}
	}
	ts := p.now().Unix()
	sig := httpinvalidate.Sign(p.secret, ts, body)
	errs := make([]*instanceError, len(p.instances))
	var wg sync.WaitGroup
	for i, in := range p.instances {
		wg.Go(func() { errs[i] = p.send(ctx, in, ts, sig, body) })
	}
	wg.Wait()
	if err := p.combine(ctx, errs); err != nil {
		return purger.Result{}, err
	}
	p.logger.Debug("invalidated", "call", call.ID, "kind", call.Kind, "items", len(call.Items), "instances", len(p.instances), "stream", p.stream != nil)
	return purger.Result{}, nil
}

// instanceError is one instance's failure.
type instanceError struct {
	instance string
	class    purger.Class
	status   int
	after    time.Duration
	msg      string
	err      error // a context error, kept for errors.Is
}

// send makes one instance's request and classifies the answer.
func (p *Purger) send(ctx context.Context, in instance, ts int64, sig string, body []byte) *instanceError {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.url, bytes.NewReader(body))
	if err != nil {
		return &instanceError{instance: in.name, class: purger.Permanent, msg: "invalid instance URL"}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(httpinvalidate.TimestampHeader, strconv.FormatInt(ts, 10))
	req.Header.Set(httpinvalidate.SignatureHeader, sig)
	resp, err := p.client.Do(req)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return &instanceError{instance: in.name, class: purger.Retry, err: cerr}
		}
		// *url.Error repeats the URL; keep only what went wrong.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return &instanceError{instance: in.name, class: purger.Retry, msg: purger.Redact(err.Error(), in.secrets...)}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	msg := http.StatusText(resp.StatusCode)
	var env struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(raw, &env) == nil && env.Error != "" {
		msg = env.Error
	} else if s := strings.TrimSpace(string(raw)); s != "" {
		msg = s
	}
	msg = purger.Truncate(purger.Redact(msg, in.secrets...), 200)
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return &instanceError{instance: in.name, class: purger.Permanent, status: resp.StatusCode, msg: msg + " (redirect not followed)"}
	}
	if resp.StatusCode == http.StatusRequestEntityTooLarge {
		return &instanceError{instance: in.name, class: purger.TooLarge, status: resp.StatusCode, msg: msg}
	}
	var after time.Duration
	if resp.StatusCode == http.StatusTooManyRequests {
		after = purger.RetryAfter(resp.Header.Get("Retry-After"), p.now())
	}
	var pe *purger.Error
	errors.As(purger.FromStatus(p.label, resp.StatusCode, after, msg), &pe)
	return &instanceError{instance: in.name, class: pe.Class, status: resp.StatusCode, after: pe.After, msg: msg}
}

// combine folds the instances' failures into one purger.Error that names
// each failed instance. The class is chosen so that a call is given up
// only when retrying can help no instance:
//   - every failure permanent (4xx) → Permanent (TooLarge when every one
//     was a 413, so the queue splits the call);
//   - every failure a 429 → Snooze for the longest Retry-After;
//   - otherwise Retry. That includes a permanent failure beside a
//     transient one: the flaky instance deserves its retries, and the
//     attempts still run out for the broken one. (A Snooze there could
//     repeat for ever, since snoozes do not use up attempts.)
func (p *Purger) combine(ctx context.Context, errs []*instanceError) error {
	var (
		parts               []string
		failed              int
		permanent, tooLarge int
		limited             int
		after               time.Duration
		status              int
		cause               error
	)
	for _, e := range errs {
		if e == nil {
			continue
		}
		failed++
		detail := e.msg
		if e.err != nil {
			detail = e.err.Error()
			cause = e.err
		}
		if e.status != 0 {
			detail = fmt.Sprintf("%d %s", e.status, detail)
		}
		parts = append(parts, e.instance+": "+detail)
		switch e.class {
		case purger.Permanent:
			permanent++
		case purger.TooLarge:
			tooLarge++
		case purger.Snooze:
			limited++
			after = max(after, e.after)
		}
		if status == 0 {
			status = e.status
		} else if status != e.status {
			status = -1
		}
	}
	if failed == 0 {
		return nil
	}
	if cause == nil && ctx.Err() != nil {
		cause = ctx.Err()
	}
	if len(p.instances) > 1 {
		parts = append(parts, fmt.Sprintf("(%d of %d instances failed)", failed, len(p.instances)))
	}
	class := purger.Retry
	switch {
	case tooLarge == failed:
		class = purger.TooLarge
	case permanent+tooLarge == failed:
		class = purger.Permanent
	case limited == failed:
		class = purger.Snooze
	}
	if class != purger.Snooze {
		after = 0
	}
	if status < 0 {
		status = 0
	}
	return &purger.Error{Provider: p.label, Class: class, Status: status, After: after, Msg: strings.Join(parts, "; "), Err: cause}
}

func (p *Purger) fail(c purger.Class, msg string) error {
	return &purger.Error{Provider: p.label, Class: c, Msg: msg}
}
