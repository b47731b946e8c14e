// Package cloudflaretest is a fake of Cloudflare's purge API
// (POST /zones/{zone_id}/purge_cache) for tests in any package: the
// cloudflare adapter's own tests, the conformance suite, and end-to-end
// tests of purgehook that configure a cloudflare provider with api_url
// pointing here.
//
// It follows the documented contract (shared/docs/providers.md §1) and is
// strict on purpose: bearer auth (401 without, 403 with a wrong token), the
// configured zone in the path, a JSON body that validates against the
// OpenAPI fragment Cloudflare publishes (embedded from testdata/) and uses
// exactly one of files, tags, hosts, prefixes, purge_everything, items of
// the right form (absolute URLs; bare hosts; host+path prefixes without
// scheme or query), and the per-call item limits. Every refusal is a 4xx
// in Cloudflare's error envelope. It answers 429 with Retry-After, 5xx, a
// 4xx with a message, or a stalled response on demand (FailNext), and
// records every request with its parsed body (Calls).
//
// The numeric error codes for limits and body errors are not documented by
// Cloudflare (providers.md §1.5: not found); the fake's codes for them are
// its own and only the envelope shape is Cloudflare's.
package cloudflaretest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/purgehook/purgehook/purger"
	"github.com/purgehook/purgehook/purger/purgertest"
)

// Defaults of Options.
const (
	DefaultToken = "cf-test-token-5b0e6f"
	DefaultZone  = "023e105f4ecef8ad9ca31a8372d0c353"
	// DefaultLimit is the per-call item limit for every kind: the safe floor
	// the adapter declares without a plan.
	DefaultLimit = 30
	// BasePath is where the fake mounts the API, like the real
	// https://api.cloudflare.com/client/v4.
	BasePath = "/client/v4"
	// ClientErrorMessage is the message of the ClientError failure.
	ClientErrorMessage = "Purge request refused by the fake: zone is on hold"
	// RefusedMessage starts the message of a request refused for an item
	// (Refuse); the item follows.
	RefusedMessage = "Purge request refused by the fake: item not allowed in this zone: "
)

// Options configure the fake. Zero values take the defaults.
type Options struct {
	Token string
	Zone  string
	// MaxFiles, MaxTags, MaxHosts, MaxPrefixes are the per-call limits.
	MaxFiles, MaxTags, MaxHosts, MaxPrefixes int
	// RetryAfter is announced with RateLimited (default 12s).
	RetryAfter time.Duration
}

// File is one entry of a files body.
type File struct {
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
}

// Call is one request the fake received.
type Call struct {
	// Key is the body's one key: files, tags, hosts, prefixes or
	// purge_everything ("" when the body was unreadable).
	Key string
	// Items are the body's items (file URLs for files).
	Items []string
	// Files are the files entries, with their headers where sent.
	Files []File
	// Status is what the fake answered; ID the result id on success.
	Status int
	ID     string
	// Body is the raw request body.
	Body []byte
	// At is when the request arrived.
	At time.Time
}

// Server is the fake.
type Server struct {
	// Tally gives Requests (refused ones included), MaxItems (the most
	// items seen in one request) and FailNext, which queues: several calls
	// fail the next several requests in order.
	purgertest.Tally

	opts    Options
	srv     *httptest.Server
	schemas *Schemas

	mu         sync.Mutex
	calls      []Call
	retryAfter time.Duration
	stalls     chan struct{}

	gql     graphqlState
	refused map[string]bool
}

var _ purgertest.Fake = (*Server)(nil)

// NewServer starts the fake; it stops when t ends.
func NewServer(t testing.TB, o Options) *Server {
	t.Helper()
	if o.Token == "" {
		o.Token = DefaultToken
	}
	if o.Zone == "" {
		o.Zone = DefaultZone
	}
	for _, n := range []*int{&o.MaxFiles, &o.MaxTags, &o.MaxHosts, &o.MaxPrefixes} {
		if *n == 0 {
			*n = DefaultLimit
		}
	}
	if o.RetryAfter == 0 {
		o.RetryAfter = 12 * time.Second
	}
	sch, err := LoadSchemas()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Tally: purgertest.Tally{Queue: true}, opts: o, schemas: sch, retryAfter: o.RetryAfter, stalls: make(chan struct{})}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		close(s.stalls)
		s.srv.Close()
	})
	return s
}

// APIURL is the value for the provider's api_url.
func (s *Server) APIURL() string { return s.srv.URL + BasePath }

// Token and Zone are the credentials the fake accepts.
func (s *Server) Token() string { return s.opts.Token }
func (s *Server) Zone() string  { return s.opts.Zone }

// Client is an HTTP client for the fake.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// Calls returns every request received so far, refused ones included.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// Accepted returns the calls the fake answered with 200.
func (s *Server) Accepted() []Call {
	var out []Call
	for _, c := range s.Calls() {
		if c.Status == http.StatusOK {
			out = append(out, c)
		}
	}
	return out
}

// SetRetryAfter changes the wait announced with RateLimited; 0 sends the
// 429 without a Retry-After header.
func (s *Server) SetRetryAfter(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retryAfter = d
}

// RetryAfter is the wait a purger must report for RateLimited: the
// announced one, or purger.DefaultRetryAfter when none is announced.
func (s *Server) RetryAfter() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.retryAfter <= 0 {
		return purger.DefaultRetryAfter
	}
	return s.retryAfter
}

// ClientErrorMessage is the message of the ClientError failure.
func (s *Server) ClientErrorMessage() string { return ClientErrorMessage }

// Refuse makes every later request that carries item (a file URL, tag,
// host or prefix, as sent) fail with 400 in Cloudflare's error envelope,
// naming the item, whatever else the request carries: one bad item
// refuses the whole call, as Cloudflare refuses a body with a malformed
// one.
func (s *Server) Refuse(item string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refused == nil {
		s.refused = map[string]bool{}
	}
	s.refused[item] = true
}

// refusedIn returns the first refused item of c ("" when none is).
func (s *Server) refusedIn(c *Call) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, it := range c.Items {
		if s.refused[it] {
			return it
		}
	}
	return ""
}

// envelope is Cloudflare's response envelope.
type envelope struct {
	Success  bool      `json:"success"`
	Errors   []message `json:"errors"`
	Messages []message `json:"messages"`
	Result   any       `json:"result"`
}

type message struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// The fake's error codes. 7000, 7001, 7003, 9106, 10000 and 6003 are
// codes Cloudflare is seen to send for those cases; the others are the
// fake's own (Cloudflare's are undocumented).
const (
	codeNoRoute        = 7000
	codeMethod         = 7001
	codeBadZone        = 7003
	codeBadHeaders     = 6003
	codeMissingAuth    = 9106
	codeAuth           = 10000
	codeBadJSON        = 1012
	codeBadBody        = 1013
	codeTooMany        = 1014
	codeRateLimited    = 10429
	codeClientRejected = 1099
)

func (s *Server) reply(w http.ResponseWriter, c *Call, status int, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	// Since 2025-09 every REST response carries these (providers.md §1.5).
	w.Header().Set("Ratelimit", `"default";r=50;t=30`)
	w.Header().Set("Ratelimit-Policy", `"burst";q=100;w=60`)
	env := envelope{Success: status < 300, Errors: []message{}, Messages: []message{}}
	if status < 300 {
		c.ID = newID()
		env.Result = map[string]string{"id": c.ID}
	} else {
		env.Errors = []message{{Code: code, Message: msg}}
	}
	c.Status = status
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(env)
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == GraphQLPath {
		// Analytics, not a purge: neither recorded as a call nor failed
		// by FailNext.
		s.graphql(w, r)
		return
	}
	c := &Call{At: time.Now()}
	defer func() {
		s.mu.Lock()
		s.calls = append(s.calls, *c)
		s.mu.Unlock()
	}()
	fail := s.Begin()
	s.mu.Lock()
	retryAfter := s.retryAfter
	s.mu.Unlock()

	zone, ok := strings.CutPrefix(r.URL.Path, BasePath+"/zones/")
	zone, ok2 := strings.CutSuffix(zone, "/purge_cache")
	if !ok || !ok2 || zone == "" || strings.Contains(zone, "/") {
		s.reply(w, c, http.StatusNotFound, codeNoRoute, "No route for that URI")
		return
	}
	if r.Method != http.MethodPost {
		s.reply(w, c, http.StatusMethodNotAllowed, codeMethod, "Method not allowed")
		return
	}
	auth := r.Header.Get("Authorization")
	tok, bearer := strings.CutPrefix(auth, "Bearer ")
	switch {
	case auth == "" || !bearer:
		s.reply(w, c, http.StatusUnauthorized, codeMissingAuth, "Missing X-Auth-Key, X-Auth-Email or Authorization headers")
		return
	case tok != s.opts.Token:
		s.reply(w, c, http.StatusForbidden, codeAuth, "Authentication error")
		return
	}
	if zone != s.opts.Zone {
		s.reply(w, c, http.StatusBadRequest, codeBadZone, "Could not route to /zones/"+zone+"/purge_cache, perhaps your object identifier is invalid?")
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		s.reply(w, c, http.StatusBadRequest, codeBadHeaders, "Invalid request headers: Content-Type must be application/json")
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		s.reply(w, c, http.StatusBadRequest, codeBadJSON, "Could not read the request body")
		return
	}
	c.Body = raw
	n, verr := s.parse(raw, c)
	s.Saw(n)

	switch fail {
	case purgertest.RateLimited:
		msg := "Rate limit enforced for cache purge."
		if retryAfter > 0 {
			secs := int((retryAfter + time.Second - 1) / time.Second)
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			msg = fmt.Sprintf("Rate limit enforced for cache purge. (You can try again in %d seconds.)", secs)
		}
		s.reply(w, c, http.StatusTooManyRequests, codeRateLimited, msg)
		return
	case purgertest.ServerError:
		w.Header().Set("Content-Type", "text/html")
		c.Status = http.StatusBadGateway
		w.WriteHeader(http.StatusBadGateway)
		_, _ = io.WriteString(w, "<html><body><h1>502 Bad Gateway</h1></body></html>")
		return
	case purgertest.ClientError:
		s.reply(w, c, http.StatusBadRequest, codeClientRejected, ClientErrorMessage)
		return
	case purgertest.Stall:
		select {
		case <-r.Context().Done():
		case <-s.stalls:
		}
		c.Status = 0
		return
	}
	if verr != nil {
		s.reply(w, c, http.StatusBadRequest, verr.code, verr.msg)
		return
	}
	if it := s.refusedIn(c); it != "" {
		s.reply(w, c, http.StatusBadRequest, codeClientRejected, RefusedMessage+it)
		return
	}
	s.reply(w, c, http.StatusOK, 0, "")
}

type bodyError struct {
	code int
	msg  string
}

// parse decodes and checks a body; it returns the item count even when the
// body is refused, so that MaxItems sees over-limit requests.
func (s *Server) parse(raw []byte, c *Call) (int, *bodyError) {
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		return 0, &bodyError{codeBadJSON, "Request body is not valid JSON: " + err.Error()}
	}
	if len(body) != 1 {
		keys := make([]string, 0, len(body))
		for k := range body {
			keys = append(keys, k)
		}
		return 0, &bodyError{codeBadBody, fmt.Sprintf("Request body must have exactly one of files, tags, hosts, prefixes, purge_everything; got %q", keys)}
	}
	for k := range body {
		c.Key = k
	}
	if _, ok := s.schemas.Shapes[c.Key]; !ok {
		return 0, &bodyError{codeBadBody, fmt.Sprintf("Unknown purge field %q", c.Key)}
	}
	if err := s.schemas.ValidateRequest(body, c.Key); err != nil {
		return 0, &bodyError{codeBadBody, "Request body does not match the purge_cache schema: " + err.Error()}
	}
	if c.Key == "purge_everything" {
		if body[c.Key] != true {
			return 0, &bodyError{codeBadBody, "purge_everything must be true"}
		}
		return 0, nil
	}
	list, _ := body[c.Key].([]any)
	if len(list) == 0 {
		return 0, &bodyError{codeBadBody, c.Key + " must not be empty"}
	}
	for _, v := range list {
		switch v := v.(type) {
		case string:
			c.Items = append(c.Items, v)
			if c.Key == "files" {
				c.Files = append(c.Files, File{URL: v})
			}
		case map[string]any: // files with headers; the schema checked types
			f := File{Headers: map[string]string{}}
			f.URL, _ = v["url"].(string)
			if h, ok := v["headers"].(map[string]any); ok {
				for k, hv := range h {
					f.Headers[k], _ = hv.(string)
				}
			}
			c.Items = append(c.Items, f.URL)
			c.Files = append(c.Files, f)
		}
	}
	n := len(c.Items)
	limit := map[string]int{"files": s.opts.MaxFiles, "tags": s.opts.MaxTags, "hosts": s.opts.MaxHosts, "prefixes": s.opts.MaxPrefixes}[c.Key]
	if n > limit {
		return n, &bodyError{codeTooMany, fmt.Sprintf("You can only purge up to %d %s per request; got %d", limit, c.Key, n)}
	}
	for _, it := range c.Items {
		if err := checkItem(c.Key, it); err != "" {
			return n, &bodyError{codeBadBody, err}
		}
	}
	return n, nil
}

// checkItem enforces the documented forms: files are absolute http(s)
// URLs; hosts are bare host names; prefixes are host/path with no scheme,
// query or fragment; tags are printable ASCII without spaces, ≤ 1024.
func checkItem(key, it string) string {
	switch key {
	case "files":
		u, err := url.Parse(it)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Sprintf("files: %q is not an absolute http(s) URL", it)
		}
	case "hosts":
		if it == "" || strings.ContainsAny(it, ":/?# ") {
			return fmt.Sprintf("hosts: %q is not a bare host name", it)
		}
	case "prefixes":
		host, _, _ := strings.Cut(it, "/")
		if host == "" || strings.Contains(it, "://") || strings.ContainsAny(it, "?# ") || strings.Contains(host, ":") {
			return fmt.Sprintf("prefixes: %q is not host/path without scheme, query or fragment", it)
		}
	case "tags":
		if it == "" || len(it) > 1024 {
			return fmt.Sprintf("tags: a tag must be 1 to 1024 characters, got %d", len(it))
		}
		for _, r := range it {
			if r <= ' ' || r > '~' {
				return fmt.Sprintf("tags: %q contains a space or a non-printable character", it)
			}
		}
	}
	return ""
}
