// Package fastlyfake is an in-process Fastly purge API for tests. It holds
// the adapter to the contract in shared/docs/providers.md §3 rather than
// accepting anything: Fastly-Key auth with token scopes (purge_select for
// URL and key purges, purge_all for purge_all), POST only, the bulk limit
// of 256 keys, the Surrogate-Key header rule (a key over 1,024 bytes, or the
// key that crosses 16,384 header bytes, is silently ignored together with
// every key after it), the hourly limit on non-read requests that
// purge_all counts against (429 with Fastly-RateLimit-Remaining and
// Fastly-RateLimit-Reset), and error bodies in Fastly's {"msg","detail"}
// shape. The message texts are modelled; Fastly does not document them.
package fastlyfake

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/purgehook/purgehook/purger/purgertest"
)

// Token scopes the fake knows.
const (
	ScopeGlobal      = "global"
	ScopePurgeSelect = "purge_select"
	ScopePurgeAll    = "purge_all"
)

// Limits the fake enforces (Fastly's documented numbers).
const (
	MaxBulkKeys     = 256
	MaxHeaderBytes  = 16384
	MaxKeyBytes     = 1024
	DefaultHourly   = 1000
	rateLimitWindow = time.Hour
)

// Options configure the fake.
type Options struct {
	// ServiceID is the one service the fake knows.
	ServiceID string
	// Tokens maps each valid API token to its scopes.
	Tokens map[string][]string
	// OpenURLPurge models a service without Fastly-Purge-Requires-Auth:
	// URL purges then need no token. By default URL purges need a token with
	// purge_select, as Fastly recommends.
	OpenURLPurge bool
	// Hourly is the number of non-read requests per hour that purge_all
	// counts against (default 1000).
	Hourly int
	// Now is the fake's clock (default time.Now).
	Now func() time.Time
}

// Purge is one purge the fake performed.
type Purge struct {
	// Kind is url, key or all.
	Kind string
	// Target is host+path(+?query) for url, the surrogate key for key.
	Target string
	Soft   bool
	ID     string
}

// Request is what the fake saw of one request.
type Request struct {
	Method string
	Path   string
	Query  string
	Header http.Header
	Body   string
}

type failure struct {
	status int
	ctype  string
	body   string
	stall  bool
}

// clientErrorDetail is the message of the fake's ClientError response.
const clientErrorDetail = "Invalid purge request: the URL is not a valid cached object"

// Fake is a running fake API.
type Fake struct {
	// URL is the base to configure as api_url.
	URL string

	o   Options
	srv *httptest.Server

	mu       sync.Mutex
	purges   []Purge
	requests []Request
	maxItems int
	fail     []failure
	used     int
	window   time.Time
	nextID   int
}

// The suite drives the fake through purgertest.Fake.
var _ purgertest.Fake = (*Fake)(nil)

// New starts a fake on a free loopback port.
func New(o Options) *Fake {
	if o.Hourly == 0 {
		o.Hourly = DefaultHourly
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	f := &Fake{o: o}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	f.URL = f.srv.URL
	return f
}

// Close stops the fake.
func (f *Fake) Close() { f.srv.Close() }

// Purges returns every purge performed so far.
func (f *Fake) Purges() []Purge {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.purges)
}

// Received returns every request received so far, refused ones included.
func (f *Fake) Received() []Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

// Requests counts the requests received so far, refused ones included.
func (f *Fake) Requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

// MaxItems is the most items (URLs or keys) seen in one request.
func (f *Fake) MaxItems() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.maxItems
}

// Fail makes the next request that passes auth answer status with body
// instead of purging; failures queue up. A 429 also gets the rate-limit
// headers.
func (f *Fake) Fail(status int, contentType, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = append(f.fail, failure{status: status, ctype: contentType, body: body})
}

// FailNext queues one of the conformance suite's failures: the hourly
// limit's 429, a 503 from Fastly's edge, a 400 in Fastly's error shape, or
// a stall until the client goes away.
func (f *Fake) FailNext(x purgertest.Failure) {
	switch x {
	case purgertest.RateLimited:
		f.Fail(http.StatusTooManyRequests, "application/json", `{"msg":"Too many requests","detail":"You have exceeded your hourly rate limit"}`)
	case purgertest.ServerError:
		f.Fail(http.StatusServiceUnavailable, "text/html", "<html><head><title>Error 503 Backend unavailable</title></head><body>Guru Meditation</body></html>")
	case purgertest.ClientError:
		f.Fail(http.StatusBadRequest, "application/json", `{"msg":"Bad request","detail":"`+clientErrorDetail+`"}`)
	case purgertest.Stall:
		f.mu.Lock()
		defer f.mu.Unlock()
		f.fail = append(f.fail, failure{stall: true})
	}
}

// RetryAfter is the wait a 429 announces: the time to the end of the
// current hourly window, by the fake's clock.
func (f *Fake) RetryAfter() time.Duration {
	return time.Unix(f.Reset(), 0).Sub(f.o.Now())
}

// ClientErrorMessage is the detail of the ClientError response.
func (f *Fake) ClientErrorMessage() string { return clientErrorDetail }

// SetRemaining sets how many rate-limited requests the current window still
// allows.
func (f *Fake) SetRemaining(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.roll()
	f.used = f.o.Hourly - n
}

// Reset is the epoch second the current rate-limit window ends.
func (f *Fake) Reset() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.roll()
	return f.window.Add(rateLimitWindow).Unix()
}

// roll starts a new window when the clock has left the current one. The
// caller holds mu.
func (f *Fake) roll() {
	start := f.o.Now().UTC().Truncate(rateLimitWindow)
	if !start.Equal(f.window) {
		f.window, f.used = start, 0
	}
}

func (f *Fake) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	f.mu.Lock()
	f.requests = append(f.requests, Request{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: string(body)})
	f.maxItems = max(f.maxItems, countItems(r, body))
	if len(f.fail) > 0 && f.fail[0].stall {
		f.fail = f.fail[1:]
		f.mu.Unlock()
		<-r.Context().Done()
		return
	}
	defer f.mu.Unlock()
	soft := r.Header.Get("Fastly-Soft-Purge") != ""

	if r.Method != http.MethodPost {
		writeErr(w, http.StatusMethodNotAllowed, "Method not allowed", "purge endpoints take POST")
		return
	}
	path := r.URL.EscapedPath()
	if rest, ok := strings.CutPrefix(path, "/purge/"); ok {
		if !f.o.OpenURLPurge && !f.authorize(w, r, ScopePurgeSelect) {
			return
		}
		target, err := url.PathUnescape(rest)
		host, _, _ := strings.Cut(target, "/")
		if err != nil || host == "" || strings.Contains(host, "://") || strings.HasSuffix(host, ":") {
			writeErr(w, http.StatusBadRequest, "Bad request", "want POST /purge/{host}{path}")
			return
		}
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		if f.failed(w) {
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "id": f.purge("url", target, soft).ID})
		return
	}

	rest, ok := strings.CutPrefix(path, "/service/")
	if !ok {
		writeErr(w, http.StatusNotFound, "Record not found", "no such endpoint")
		return
	}
	sid, op, _ := strings.Cut(rest, "/")
	switch {
	case op == "purge_all":
		if !f.authorize(w, r, ScopePurgeAll) || !f.service(w, sid) || !f.limit(w) || f.failed(w) {
			return
		}
		// purge_all cannot be soft; Soft records whether the header was
		// (wrongly) sent.
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "id": f.purge("all", "", soft).ID})
	case op == "purge":
		if !f.authorize(w, r, ScopePurgeSelect) || !f.service(w, sid) {
			return
		}
		keys, ok := f.bulkKeys(w, r, body)
		if !ok || f.failed(w) {
			return
		}
		ids := map[string]string{}
		for _, k := range keys {
			ids[k] = f.purge("key", k, soft).ID
		}
		writeJSON(w, http.StatusOK, ids)
	case strings.HasPrefix(op, "purge/"):
		if !f.authorize(w, r, ScopePurgeSelect) || !f.service(w, sid) {
			return
		}
		key, err := url.PathUnescape(strings.TrimPrefix(op, "purge/"))
		if err != nil || key == "" || strings.Contains(key, "/") {
			writeErr(w, http.StatusBadRequest, "Bad request", "want POST /service/{service_id}/purge/{surrogate_key}")
			return
		}
		if f.failed(w) {
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "id": f.purge("key", key, soft).ID})
	default:
		writeErr(w, http.StatusNotFound, "Record not found", "no such endpoint")
	}
}

func (f *Fake) authorize(w http.ResponseWriter, r *http.Request, scope string) bool {
	scopes, ok := f.o.Tokens[r.Header.Get("Fastly-Key")]
	if r.Header.Get("Fastly-Key") == "" || !ok {
		writeErr(w, http.StatusUnauthorized, "Provided credentials are missing or invalid", "")
		return false
	}
	if !slices.Contains(scopes, scope) && !slices.Contains(scopes, ScopeGlobal) {
		writeErr(w, http.StatusForbidden, "Forbidden", fmt.Sprintf("this token does not have the %s scope", scope))
		return false
	}
	return true
}

func (f *Fake) service(w http.ResponseWriter, sid string) bool {
	if sid != f.o.ServiceID {
		writeErr(w, http.StatusNotFound, "Record not found", fmt.Sprintf("Cannot find service '%s'", sid))
		return false
	}
	return true
}

// limit counts a rate-limited request, answering 429 when the window is
// spent. The caller holds mu.
func (f *Fake) limit(w http.ResponseWriter) bool {
	f.roll()
	reset := f.window.Add(rateLimitWindow).Unix()
	w.Header().Set("Fastly-RateLimit-Reset", strconv.FormatInt(reset, 10))
	if f.used >= f.o.Hourly {
		w.Header().Set("Fastly-RateLimit-Remaining", "0")
		writeErr(w, http.StatusTooManyRequests, "Too many requests", "You have exceeded your hourly rate limit")
		return false
	}
	f.used++
	w.Header().Set("Fastly-RateLimit-Remaining", strconv.Itoa(f.o.Hourly-f.used))
	return true
}

// bulkKeys reads the keys of a bulk purge from the Surrogate-Key header or
// the JSON body, applying Fastly's header rules.
func (f *Fake) bulkKeys(w http.ResponseWriter, r *http.Request, body []byte) ([]string, bool) {
	var keys []string
	if h := r.Header.Get("Surrogate-Key"); h != "" {
		pos := 0
		for _, k := range strings.Split(h, " ") {
			start := pos
			pos += len(k) + 1
			if k == "" {
				continue
			}
			if start+len(k) > MaxHeaderBytes || len(k) > MaxKeyBytes {
				break // this key and all that follow are ignored
			}
			keys = append(keys, k)
		}
	} else if len(body) > 0 {
		var b struct {
			Keys []string `json:"surrogate_keys"`
		}
		if err := json.Unmarshal(body, &b); err != nil {
			writeErr(w, http.StatusBadRequest, "Bad request", "body is not JSON: "+err.Error())
			return nil, false
		}
		keys = b.Keys
	}
	if len(keys) == 0 {
		writeErr(w, http.StatusBadRequest, "Bad request", "no surrogate keys: send a Surrogate-Key header or {\"surrogate_keys\":[...]}")
		return nil, false
	}
	if len(keys) > MaxBulkKeys {
		writeErr(w, http.StatusBadRequest, "Bad request", fmt.Sprintf("at most %d surrogate keys per request, got %d", MaxBulkKeys, len(keys)))
		return nil, false
	}
	return keys, true
}

// countItems is how many URLs or keys a request carries.
func countItems(r *http.Request, body []byte) int {
	switch {
	case strings.HasPrefix(r.URL.Path, "/purge/"):
		return 1
	case strings.HasSuffix(r.URL.Path, "/purge_all"):
		return 0
	case strings.HasSuffix(r.URL.Path, "/purge"):
		if h := r.Header.Get("Surrogate-Key"); h != "" {
			return len(strings.Fields(h))
		}
		var b struct {
			Keys []string `json:"surrogate_keys"`
		}
		_ = json.Unmarshal(body, &b) // the handler refuses a malformed body; here it counts 0
		return len(b.Keys)
	}
	return 1
}

// failed answers a queued failure, if any. The caller holds mu.
func (f *Fake) failed(w http.ResponseWriter) bool {
	if len(f.fail) == 0 {
		return false
	}
	fl := f.fail[0]
	f.fail = f.fail[1:]
	if fl.status == http.StatusTooManyRequests && w.Header().Get("Fastly-RateLimit-Reset") == "" {
		f.roll()
		w.Header().Set("Fastly-RateLimit-Remaining", "0")
		w.Header().Set("Fastly-RateLimit-Reset", strconv.FormatInt(f.window.Add(rateLimitWindow).Unix(), 10))
	}
	if fl.ctype != "" {
		w.Header().Set("Content-Type", fl.ctype)
	}
	w.WriteHeader(fl.status)
	io.WriteString(w, fl.body)
	return true
}

// purge records one purge. The caller holds mu.
func (f *Fake) purge(kind, target string, soft bool) Purge {
	f.nextID++
	p := Purge{Kind: kind, Target: target, Soft: soft, ID: fmt.Sprintf("%d-%s", 100000+f.nextID, "fakepurge")}
	f.purges = append(f.purges, p)
	return p
}

func writeErr(w http.ResponseWriter, status int, msg, detail string) {
	b := map[string]string{"msg": msg}
	if detail != "" {
		b["detail"] = detail
	}
	writeJSON(w, status, b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the status is sent: a failed write has nobody to tell
}
