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
// each instance that did not (its URL without credentials or query), and
// the call's outcome follows purger.Combine's rule.
package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
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

// Options configure an app provider: its Config and what the process
// gives it.
type Options struct {
	// Name is the configured provider name.
	Name string
	Config
	// Publisher receives every call when Config.Stream is set; nil means
	// NoStream.
	Publisher Publisher
	// Limits are the effective limits, Config.Limits() with the file's
	// overrides applied; the purger refuses calls above them, so it must
	// see the numbers the planner uses. Zero means Config.Limits().
	Limits change.Limits
	// Client makes the requests; its Timeout bounds one request (nil: a
	// client with a 10s timeout). Redirects are never followed.
	Client *http.Client
	// Now is the clock the signature's timestamp is read from (tests).
	Now func() time.Time
	// LookupHost resolves Config.Discover's host (nil: the system
	// resolver).
	LookupHost func(ctx context.Context, host string) ([]string, error)
	Logger     *slog.Logger
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

	discover    *url.URL
	lookup      func(ctx context.Context, host string) ([]string, error)
	unreachable time.Duration
	// mu guards failing: since when each instance has failed every call
	// (by name), and whether it is skipped.
	mu      sync.Mutex
	failing map[string]*failure
}

// failure is an instance's run of failed calls.
type failure struct {
	since   time.Time
	skipped bool
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
	if err := o.Config.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	p := &Purger{name: o.Name, label: label, secret: o.Secret, now: o.Now, limits: o.Limits.Clone()}
	if o.Stream {
		p.stream = o.Publisher
		if p.stream == nil {
			p.stream = NoStream
		}
	}
	if o.Limits.Kinds == nil {
		p.limits = o.Config.Limits()
	}
	for _, raw := range o.Instances {
		// Validate checked the URLs.
		u, _ := url.Parse(raw)
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
	if o.Discover != "" {
		p.discover, _ = url.Parse(o.Discover) // Validate checked it
		p.lookup = o.LookupHost
		if p.lookup == nil {
			p.lookup = net.DefaultResolver.LookupHost
		}
	}
	p.unreachable = o.UnreachableAfter
	if p.unreachable == 0 {
		p.unreachable = DefaultUnreachableAfter
	}
	p.failing = map[string]*failure{}
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
	instances, err := p.instancesNow(ctx)
	if err != nil {
		return purger.Result{}, err
	}
	ts := p.now().Unix()
	sig := httpinvalidate.Sign(p.secret, ts, body)
	results := make([]purger.ServerResult, len(instances))
	var wg sync.WaitGroup
	for i, in := range instances {
		results[i].Server = in.name
		wg.Go(func() { results[i].Err = p.deliver(ctx, in, call, ts, sig, body) })
	}
	wg.Wait()
	var counted []purger.ServerResult
	for _, r := range results {
		if !p.skip(r) {
			counted = append(counted, r)
		}
	}
	p.forget(results)
	if err := purger.Combine(p.label, counted); err != nil {
		return purger.Result{}, err
	}
	p.logger.Debug("invalidated", "call", call.ID, "kind", call.Kind, "items", len(call.Items), "instances", len(instances), "skipped", len(results)-len(counted), "stream", p.stream != nil)
	return purger.Result{}, nil
}

// instancesNow is the configured instances and, with Discover, every
// address its name resolves to now.
func (p *Purger) instancesNow(ctx context.Context) ([]instance, error) {
	if p.discover == nil {
		return p.instances, nil
	}
	addrs, err := p.lookup(ctx, p.discover.Hostname())
	if err != nil {
		return nil, &purger.Error{Provider: p.label, Class: purger.Retry, Msg: "discover instances", Err: err}
	}
	out := slices.Clone(p.instances)
	port := p.discover.Port()
	for _, a := range addrs {
		u := *p.discover
		u.Host = a
		if port != "" {
			u.Host = net.JoinHostPort(a, port)
		} else if strings.Contains(a, ":") {
			u.Host = "[" + a + "]"
		}
		out = append(out, instance{url: u.String(), name: u.String()})
	}
	return out, nil
}

// deliver sends the call to one instance; an instance that was skipped
// first gets an invalidate-everything, since it missed calls meanwhile.
func (p *Purger) deliver(ctx context.Context, in instance, call change.Call, ts int64, sig string, body []byte) error {
	p.mu.Lock()
	f := p.failing[in.name]
	cold := f != nil && f.skipped
	p.mu.Unlock()
	if cold {
		all, err := Body(change.Call{Key: call.Key + "/cold", Kind: change.Everything})
		if err != nil {
			return p.fail(purger.Permanent, "encode the call: "+err.Error())
		}
		if err := p.send(ctx, in, ts, httpinvalidate.Sign(p.secret, ts, all), all); err != nil {
			return err
		}
		p.logger.Warn("instance answers again; invalidated everything it holds, since it missed calls", "instance", in.name)
	}
	return p.send(ctx, in, ts, sig, body)
}

// forget drops the failure runs of instances no longer called (gone from
// DNS), so that the record does not grow with every replaced instance.
func (p *Purger) forget(called []purger.ServerResult) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for name := range p.failing {
		if !slices.ContainsFunc(called, func(r purger.ServerResult) bool { return r.Server == name }) {
			delete(p.failing, name)
		}
	}
}

// skip records r's outcome and reports whether to leave it out of the
// call's result: an instance that has failed with a retryable error for
// longer than UnreachableAfter is reported once and skipped until it
// answers.
func (p *Purger) skip(r purger.ServerResult) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r.Err == nil {
		delete(p.failing, r.Server)
		return false
	}
	var pe *purger.Error
	if !errors.As(r.Err, &pe) || pe.Class != purger.Retry {
		return false // a refusal (bad signature, 4xx) is not an absence
	}
	f := p.failing[r.Server]
	if f == nil {
		f = &failure{since: p.now()}
		p.failing[r.Server] = f
	}
	if p.now().Sub(f.since) < p.unreachable {
		return false
	}
	if !f.skipped {
		f.skipped = true
		p.logger.Warn("instance unreachable past unreachable_after; skipped until it answers", "instance", r.Server, "since", f.since, "err", r.Err)
	}
	return true
}

// send makes one instance's request and classifies the answer.
func (p *Purger) send(ctx context.Context, in instance, ts int64, sig string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.url, bytes.NewReader(body))
	if err != nil {
		return p.fail(purger.Permanent, "invalid instance URL")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(httpinvalidate.TimestampHeader, strconv.FormatInt(ts, 10))
	req.Header.Set(httpinvalidate.SignatureHeader, sig)
	resp, err := p.client.Do(req)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return &purger.Error{Provider: p.label, Class: purger.Retry, Err: cerr}
		}
		// *url.Error repeats the URL; keep only what went wrong.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return p.fail(purger.Retry, purger.Redact(err.Error(), in.secrets...))
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 300 {
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
	return purger.FromResponse(p.label, resp, purger.Truncate(purger.Redact(msg, in.secrets...), 200), p.now(), in.secrets...)
}

func (p *Purger) fail(c purger.Class, msg string) error {
	return &purger.Error{Provider: p.label, Class: c, Msg: msg}
}
