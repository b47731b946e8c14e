package httpcall

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"text/template"

	"github.com/purgehook/purgehook/change"
)

// Config is an http provider's own block of the config file.
type Config struct {
	// Request is the templated request made for each item or call.
	Request Request `yaml:"request"`
}

// Request is the templated request; method, url, header values and body
// are templates over Data.
type Request struct {
	// Method defaults to DefaultMethod.
	Method  string            `yaml:"method"`
	URL     string            `yaml:"url"`
	Headers map[string]string `yaml:"headers"`
	Body    string            `yaml:"body"`
	// Per is item (one request per item, DefaultPer) or batch (one per
	// call).
	Per string `yaml:"per"`
	// Kinds are the target kinds the endpoint understands (default
	// DefaultKinds); the planner escalates or drops the others.
	Kinds []change.TargetKind `yaml:"kinds"`
}

// SetDefaults fills the unset fields with their defaults.
func (c *Config) SetDefaults() {
	r := &c.Request
	if r.Method == "" {
		r.Method = DefaultMethod
	}
	if r.Per == "" {
		r.Per = DefaultPer
	}
	if len(r.Kinds) == 0 {
		r.Kinds = slices.Clone(DefaultKinds)
	}
}

// Validate returns every problem, each starting with its field name. It
// parses the templates, so that a syntax error shows when the file is
// loaded rather than on the first purge.
func (c Config) Validate() error {
	_, err := c.compile()
	return err
}

// Limits declares the configured kinds, ItemsPerCall items per call per
// item and BatchPerCall per batch; overrides from the file are applied by
// the caller.
func (c Config) Limits() change.Limits {
	kinds := c.Request.Kinds
	if len(kinds) == 0 {
		kinds = DefaultKinds
	}
	n := ItemsPerCall
	if c.Request.Per == PerBatch {
		n = BatchPerCall
	}
	l := change.Limits{Kinds: slices.Clone(kinds), PerCall: map[change.TargetKind]int{}}
	for _, k := range kinds {
		if k != change.Everything {
			l.PerCall[k] = n
		}
	}
	return l
}

// compiled is a Request's parsed templates.
type compiled struct {
	method, url, body *template.Template
	headers           []header
}

// compile parses the request's templates and returns every problem.
func (c Config) compile() (compiled, error) {
	r := c.Request
	var errs []error
	fail := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("request.%s: %s", field, fmt.Sprintf(format, args...)))
	}
	per := r.Per
	if per == "" {
		per = DefaultPer
	}
	if per != PerItem && per != PerBatch {
		fail("per", "want item or batch, got %q", r.Per)
	}
	if r.URL == "" {
		fail("url", "required for kind http")
	}
	for _, k := range r.Kinds {
		if !slices.Contains(change.AllKinds, k) {
			fail("kinds", "unknown kind %q (want url, tag, prefix, host or everything)", k)
		}
	}
	parse := func(field, text string) *template.Template {
		t, err := template.New(field).Funcs(Funcs).Option("missingkey=error").Parse(text)
		if err != nil {
			errs = append(errs, fmt.Errorf("request.%s: %w", field, err))
			return nil
		}
		if per == PerBatch && usesItem(t) {
			fail(field, "uses .Item or .Index, which are empty with per: batch (use .Items)")
		}
		return t
	}
	var out compiled
	method := r.Method
	if method == "" {
		method = DefaultMethod
	}
	out.method = parse("method", method)
	out.url = parse("url", r.URL)
	out.body = parse("body", r.Body)
	names := make([]string, 0, len(r.Headers))
	for name := range r.Headers {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if name == "" || strings.ContainsAny(name, " :\r\n") {
			fail("headers", "invalid header name %q", name)
			continue
		}
		t := parse("headers."+name, r.Headers[name])
		out.headers = append(out.headers, header{name: http.CanonicalHeaderKey(name), tmpl: t,
			secret: !slices.Contains(publicHeaders, http.CanonicalHeaderKey(name))})
	}
	return out, errors.Join(errs...)
}
