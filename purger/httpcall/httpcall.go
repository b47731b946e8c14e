// Package httpcall is the "http" provider: a templated HTTP request, one per
// item or one per call, for any cache or index purgehook has no adapter for
// (an internal cache service, a search index, a home-made CDN API). The
// method, URL, header values and body are Go text/template templates over
// Data; the answer is classified like every provider's, by
// purger.FromResponse (429 and Retry-After → snooze, 5xx → retry, 413 →
// split, other 4xx → permanent).
//
// Header values usually carry credentials, from ${ENV} in the config file.
// They are never logged, and they are redacted from every error message,
// as is the request URL's query string, which may carry a key too.
package httpcall

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
	"strings"
	"text/template"
	"text/template/parse"
	"time"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/purger"
)

// Per says how many requests a call makes.
const (
	// PerItem makes one request per item, in order; the first failure ends
	// the call.
	PerItem = "item"
	// PerBatch makes one request per call carrying every item.
	PerBatch = "batch"
)

// Defaults.
const (
	DefaultMethod = http.MethodPost
	DefaultPer    = PerItem
	// ItemsPerCall bounds a call per item: a failure retries the whole
	// call, so calls stay small.
	ItemsPerCall = 20
	// BatchPerCall bounds a batch request.
	BatchPerCall = 100

	maxResponse = 64 << 10
)

// DefaultKinds is what an endpoint is assumed to understand when config
// does not say: URLs.
var DefaultKinds = []change.TargetKind{change.URL}

// Data is what the templates see.
type Data struct {
	// Provider is the provider's configured name.
	Provider string
	// Kind is url, tag, prefix, host or everything.
	Kind string
	// Item is the item of a per-item request ("" per batch).
	Item string
	// Items are the call's items per batch, or [Item] per item (none for
	// an everything call).
	Items []string
	// Index is Item's position in the call (0 per batch).
	Index int
	// Key is stable across retries of the same request: the call's key,
	// with "-<index>" per item. Send it where the endpoint takes an
	// idempotency key.
	Key string
	// Call and Batch are purgehook's ids of the call and its batch.
	Call, Batch int64
}

// Funcs are the template functions beside text/template's own (urlquery,
// html, js, printf, len, index, …):
//
//	json     any value as JSON: {{json .Items}} → ["a","b"], {{json .Item}} → "a"
//	join     {{join "," .Items}}
//	host     the host of a URL item: {{host .Item}}
//	path     the escaped path of a URL item: {{path .Item}}
//	uri      path and query of a URL item: {{uri .Item}}
var Funcs = template.FuncMap{
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	"join": func(sep string, items []string) string { return strings.Join(items, sep) },
	"host": func(s string) (string, error) {
		u, err := url.Parse(s)
		if err != nil {
			return "", err
		}
		return u.Host, nil
	},
	"path": func(s string) (string, error) {
		u, err := url.Parse(s)
		if err != nil {
			return "", err
		}
		return u.EscapedPath(), nil
	},
	"uri": func(s string) (string, error) {
		u, err := url.Parse(s)
		if err != nil {
			return "", err
		}
		return u.RequestURI(), nil
	},
}

// Options configure the http provider: its Config and what the process
// gives it.
type Options struct {
	// Name is the configured provider name.
	Name string
	Config
	// Limits are the effective limits, Config.Limits() with the file's
	// overrides applied; zero means Config.Limits().
	Limits change.Limits
	// Client makes the requests (default http.DefaultClient). Redirects are
	// never followed: a redirected POST would arrive as a GET.
	Client *http.Client
	Logger *slog.Logger
	// Now is the clock for Retry-After dates; nil is time.Now.
	Now func() time.Time
}

// HTTP is the http provider.
type HTTP struct {
	o       Options
	label   string
	method  *template.Template
	url     *template.Template
	body    *template.Template
	headers []header
	client  *http.Client
	logger  *slog.Logger
}

type header struct {
	name string
	tmpl *template.Template
	// secret: the value is redacted from messages. Only a few headers are
	// known to carry nothing secret.
	secret bool
}

var _ purger.Purger = (*HTTP)(nil)

// publicHeaders never carry credentials, so their values are not redacted
// (redacting "application/json" from every message would only confuse).
var publicHeaders = []string{"Accept", "Content-Type", "User-Agent", "Content-Encoding", "Accept-Encoding"}

// New parses the templates; errors name the config field.
func New(o Options) (*HTTP, error) {
	h := &HTTP{label: "http[" + o.Name + "]"}
	o.Config.SetDefaults()
	c, err := o.Config.compile()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", h.label, err)
	}
	h.method, h.url, h.body, h.headers = c.method, c.url, c.body, c.headers
	if o.Limits.Kinds == nil {
		o.Limits = o.Config.Limits()
	} else {
		o.Limits = o.Limits.Clone()
	}
	h.client = purger.NoRedirects(o.Client)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	h.o = o
	h.logger = o.Logger.With("component", "provider", "provider", o.Name, "kind", "http")
	return h, nil
}

// Name is the configured name.
func (h *HTTP) Name() string { return h.o.Name }

// Limits are Config.Limits() with the file's overrides.
func (h *HTTP) Limits() change.Limits { return h.o.Limits.Clone() }

// Purge makes the call's requests. An everything call is one request with
// no items whatever Per says. Per item, requests go in order and the first
// failure ends the call with its classification; retrying the call repeats
// the items already done, so the endpoint must treat a repeated purge as
// harmless (purges and invalidations are).
func (h *HTTP) Purge(ctx context.Context, call change.Call) (purger.Result, error) {
	if !slices.Contains(h.o.Request.Kinds, call.Kind) {
		return purger.Result{}, &purger.Error{Provider: h.label, Class: purger.Permanent,
			Msg: fmt.Sprintf("cannot purge %s targets (request.kinds is %v)", call.Kind, h.o.Request.Kinds)}
	}
	if call.Kind != change.Everything && len(call.Items) == 0 {
		return purger.Result{}, nil
	}
	if err := ctx.Err(); err != nil {
		return purger.Result{}, err
	}
	d := Data{Provider: h.o.Name, Kind: string(call.Kind), Key: call.Key, Call: call.ID, Batch: call.Batch}
	if h.o.Request.Per == PerBatch || call.Kind == change.Everything {
		d.Items = call.Items
		return purger.Result{}, h.send(ctx, d, len(call.Items))
	}
	for i, item := range call.Items {
		d.Item, d.Items, d.Index = item, []string{item}, i
		d.Key = fmt.Sprintf("%s-%d", call.Key, i)
		if err := h.send(ctx, d, 1); err != nil {
			if pe, ok := errors.AsType[*purger.Error](err); ok && len(call.Items) > 1 {
				pe.Msg = fmt.Sprintf("item %d of %d: %s", i+1, len(call.Items), pe.Msg)
			}
			return purger.Result{}, err
		}
	}
	return purger.Result{}, nil
}

// send renders and makes one request and classifies its answer.
func (h *HTTP) send(ctx context.Context, d Data, items int) error {
	req, secrets, err := h.render(ctx, d)
	if err != nil {
		return &purger.Error{Provider: h.label, Class: purger.Permanent, Msg: purger.Redact(err.Error(), secrets...)}
	}
	// What the messages say about the request: never the query string.
	where := req.Method + " " + req.URL.Scheme + "://" + req.URL.Host + req.URL.EscapedPath()
	where = purger.Redact(where, secrets...)
	resp, err := h.client.Do(req)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("%s: %s: %w", h.label, where, cerr)
		}
		return &purger.Error{Provider: h.label, Class: purger.Retry,
			Msg: where + ": " + purger.Redact(transportError(err).Error(), secrets...)}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	h.logger.DebugContext(ctx, "request", "method", req.Method, "host", req.URL.Host, "path", req.URL.Path,
		"items", items, "status", resp.StatusCode)
	if resp.StatusCode < 300 {
		return nil
	}
	msg := where
	if m := message([]byte(purger.Redact(string(body), secrets...))); m != "" {
		msg += ": " + m
	}
	return purger.FromResponse(h.label, resp, msg, h.o.Now(), secrets...)
}

// render executes the templates into a request, and returns the rendered
// secret values for redaction.
func (h *HTTP) render(ctx context.Context, d Data) (*http.Request, []string, error) {
	var secrets []string
	// Values shorter than this are not credentials, and redacting "1" from
	// every message would garble it; the call's own items are not secret.
	secret := func(v string) {
		if len(v) >= 6 && !slices.Contains(d.Items, v) {
			secrets = append(secrets, v)
		}
	}
	exec := func(t *template.Template) (string, error) {
		var b bytes.Buffer
		if err := t.Execute(&b, d); err != nil {
			return "", err
		}
		return b.String(), nil
	}
	hdr := http.Header{}
	for _, hd := range h.headers {
		v, err := exec(hd.tmpl)
		if err != nil {
			return nil, secrets, err
		}
		if strings.ContainsAny(v, "\r\n") {
			return nil, secrets, fmt.Errorf("header %s renders a line break", hd.name)
		}
		if hd.secret {
			secret(v)
			// Also the credential alone, in case the answer echoes it
			// without its scheme ("Bearer ").
			if _, cred, ok := strings.Cut(v, " "); ok {
				secret(cred)
			}
		}
		hdr.Set(hd.name, v)
	}
	method, err := exec(h.method)
	if err != nil {
		return nil, secrets, err
	}
	rawURL, err := exec(h.url)
	if err != nil {
		return nil, secrets, err
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, secrets, fmt.Errorf("request.url renders %q, not an absolute http(s) URL", stripQuery(rawURL))
	}
	if u.RawQuery != "" {
		for _, vs := range u.Query() {
			for _, v := range vs {
				secret(v)
			}
		}
	}
	if u.User != nil {
		secret(u.User.String())
		if p, ok := u.User.Password(); ok {
			secret(p)
		}
	}
	body, err := exec(h.body)
	if err != nil {
		return nil, secrets, err
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, strings.TrimSpace(method), u.String(), rd)
	if err != nil {
		return nil, secrets, fmt.Errorf("request: %w", transportError(err))
	}
	req.Header = hdr
	if body != "" && hdr.Get("Content-Type") == "" {
		if json.Valid([]byte(body)) {
			req.Header.Set("Content-Type", "application/json")
		} else {
			req.Header.Set("Content-Type", "text/plain; charset=utf-8")
		}
	}
	if hdr.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "purgehook")
	}
	return req, secrets, nil
}

// message is the endpoint's own text for an error: a JSON body's message,
// error, msg, detail or title field, else the start of the body.
func message(body []byte) string {
	var m map[string]any
	if json.Unmarshal(body, &m) == nil {
		for _, k := range []string{"message", "error", "msg", "detail", "title", "error_description"} {
			if s, ok := m[k].(string); ok && s != "" {
				return purger.Truncate(s, 300)
			}
			if o, ok := m[k].(map[string]any); ok {
				if s, ok := o["message"].(string); ok && s != "" {
					return purger.Truncate(s, 300)
				}
			}
		}
	}
	return purger.Truncate(string(body), 200)
}

func stripQuery(s string) string {
	s, _, _ = strings.Cut(s, "?")
	return s
}

// transportError drops the request URL (and its query string) that
// *url.Error repeats.
func transportError(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}

// usesItem reports whether a template refers to .Item or .Index (or
// $.Item), which per-batch requests leave empty.
func usesItem(t *template.Template) bool {
	found := false
	var walk func(n parse.Node)
	walk = func(n parse.Node) {
		if n == nil || found {
			return
		}
		switch n := n.(type) {
		case *parse.ListNode:
			if n == nil {
				return
			}
			for _, c := range n.Nodes {
				walk(c)
			}
		case *parse.ActionNode:
			walk(n.Pipe)
		case *parse.PipeNode:
			if n == nil {
				return
			}
			for _, c := range n.Cmds {
				walk(c)
			}
		case *parse.CommandNode:
			for _, a := range n.Args {
				walk(a)
			}
		case *parse.FieldNode:
			found = len(n.Ident) > 0 && (n.Ident[0] == "Item" || n.Ident[0] == "Index")
		case *parse.VariableNode:
			found = len(n.Ident) > 1 && n.Ident[0] == "$" && (n.Ident[1] == "Item" || n.Ident[1] == "Index")
		case *parse.ChainNode:
			walk(n.Node)
		case *parse.IfNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.TemplateNode:
			walk(n.Pipe)
		}
	}
	for _, tt := range t.Templates() {
		if tt.Tree != nil {
			walk(tt.Tree.Root)
		}
	}
	return found
}
