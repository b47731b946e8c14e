// Package akamaitest is a fake of Akamai's Fast Purge API v3 that follows
// its documented contract (shared/docs/providers.md §4): it recomputes every
// EdgeGrid (EG1-HMAC-SHA256) signature and refuses a wrong one with 401,
// refuses reused nonces, takes only POST /ccu/v3/{invalidate|delete}/
// {url|cpcode|tag}[/{staging|production}] with a strict {"objects": [...]}
// body, answers 413 above 50,000 bytes, keeps the per-account token buckets
// (requests, URL, CP code and tag objects) on an injectable clock with
// 429 application/problem+json and X-Ratelimit-* headers when one is empty,
// and answers 201 with estimatedSeconds.
package akamaitest

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/purgehook/purgehook/purger/purgertest"
)

// Fast Purge's numbers.
const (
	MaxBodyBytes = 50000
	// maxSignedBody is how much of a body EdgeGrid hashes (max_body).
	maxSignedBody = 131072
	// MaxTagLength is the longest cache tag, in characters.
	MaxTagLength = 128
	// DefaultEstimatedSeconds is what a 201 says when Options leave it 0.
	DefaultEstimatedSeconds = 5
)

// Buckets are Fast Purge's per-account token buckets.
var Buckets = map[string]struct {
	Size    float64
	PerSec  float64
	TooMany string // the 429's title
}{
	"requests": {100, 50, "Rate Limit exceeded"},
	"url":      {10000, 12000.0 / 60, "URL Rate Limit exceeded"},
	"cpcode":   {300, 30.0 / 60, "CPCODE Rate Limit exceeded"},
	"tag":      {5000, 500.0 / 60, "TAG Rate Limit exceeded"},
}

// ClientErrorMessage is the detail of the forced 403.
const ClientErrorMessage = "www.example.com is not an Akamaized hostname of this account"

// Credentials are one API client's EdgeGrid credentials.
type Credentials struct {
	ClientToken  string
	ClientSecret string
	AccessToken  string
}

// Options configure a fake.
type Options struct {
	Credentials Credentials
	// Hostnames, when set, are the only hosts URL objects may name
	// (otherwise 403 "unauthorized arl").
	Hostnames []string
	// CPCodes are the CP codes the API client may purge.
	CPCodes []int
	// MaxObjects, when set, refuses requests with more objects with 413,
	// as a body too large: Fast Purge bounds bytes, not objects, but the
	// conformance suite wants the purger's declared per-call count enforced.
	MaxObjects int
	// EstimatedSeconds is put in every 201 (default 5).
	EstimatedSeconds int
	// Now is the buckets' clock; nil means time.Now.
	Now func() time.Time
}

// Purge is one purge the fake accepted.
type Purge struct {
	ID      string
	Action  string
	Type    string
	Network string
	// Objects are the body's objects as JSON values: URL and tag strings,
	// CP codes as numbers.
	Objects []any
	// Body is the raw request body.
	Body []byte
}

// Fake is the fake API. Use NewServer, or serve it yourself.
type Fake struct {
	// Tally gives Requests, MaxItems (the most objects one request
	// carried) and FailNext.
	purgertest.Tally

	opts Options
	// URL is the base URL of the server started by NewServer.
	URL string

	mu      sync.Mutex
	buckets map[string]*purgertest.Bucket
	nonces  map[string]bool
	purges  []Purge
}

var _ purgertest.Fake = (*Fake)(nil)

// New returns a fake that is not yet serving.
func New(o Options) *Fake {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.EstimatedSeconds == 0 {
		o.EstimatedSeconds = DefaultEstimatedSeconds
	}
	f := &Fake{opts: o, buckets: map[string]*purgertest.Bucket{}, nonces: map[string]bool{}}
	for name, b := range Buckets {
		f.buckets[name] = &purgertest.Bucket{Capacity: b.Size, Rate: b.PerSec}
	}
	return f
}

// NewServer starts the fake on a loopback port for the test's lifetime.
func NewServer(t testing.TB, o Options) *Fake {
	f := New(o)
	f.URL = purgertest.Serve(t, f)
	return f
}

// Purges returns the purges accepted so far.
func (f *Fake) Purges() []Purge {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Purge(nil), f.purges...)
}

// RetryAfter is the wait after the forced 429: it carries no refresh
// header, so the purger must use Akamai's documented five seconds.
func (f *Fake) RetryAfter() time.Duration { return 5 * time.Second }

// ClientErrorMessage is the detail of the forced 403.
func (f *Fake) ClientErrorMessage() string { return ClientErrorMessage }

var (
	pathRE = regexp.MustCompile(`^/ccu/v3/(invalidate|delete)/(url|cpcode|tag)(?:/(staging|production))?$`)
	// tagRE is the stricter of Akamai's two documented tag alphabets.
	tagRE = regexp.MustCompile("^[A-Za-z0-9!#$%'+./^_`|~-]+$")
)

// ServeHTTP implements the API.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fail := f.Begin()

	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		problem(w, http.StatusBadRequest, "bad request", "the body could not be read", nil)
		return
	}
	if status, detail := f.verify(r, body); status != 0 {
		problem(w, status, "Not authorized", detail, nil)
		return
	}
	switch fail {
	case purgertest.RateLimited:
		problem(w, http.StatusTooManyRequests, "Rate Limit exceeded", "The request rate limit has been exceeded; wait five seconds and retry.",
			map[string]any{"rateLimit": 100, "rateLimitRemaining": 0, "rateLimitCurrentRequestSize": 1})
		return
	case purgertest.ServerError:
		problem(w, http.StatusServiceUnavailable, "Service Unavailable", "The service is temporarily unavailable.", nil)
		return
	case purgertest.ClientError:
		problem(w, http.StatusForbidden, "unauthorized arl", ClientErrorMessage, nil)
		return
	case purgertest.Stall:
		<-r.Context().Done()
		return
	}

	if r.Method != http.MethodPost {
		problem(w, http.StatusMethodNotAllowed, "Method Not Allowed", "only POST is supported", nil)
		return
	}
	m := pathRE.FindStringSubmatch(r.URL.Path)
	if m == nil {
		problem(w, http.StatusNotFound, "Not Found", "no such resource: "+r.URL.Path, nil)
		return
	}
	action, typ, network := m[1], m[2], m[3]
	if network == "" {
		network = "production"
	}
	if len(body) > MaxBodyBytes {
		problem(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large", fmt.Sprintf("the body of %d bytes is over the limit of %d bytes", len(body), MaxBodyBytes), nil)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		problem(w, http.StatusUnsupportedMediaType, "Unsupported Media Type", "the body must be application/json", nil)
		return
	}

	var in struct {
		Objects  []json.RawMessage `json:"objects"`
		Hostname *string           `json:"hostname"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil || dec.More() {
		problem(w, http.StatusBadRequest, "bad request", "the body must be {\"objects\": [...]}", nil)
		return
	}
	f.Saw(len(in.Objects))
	if len(in.Objects) == 0 {
		problem(w, http.StatusBadRequest, "bad request", "objects must not be empty", nil)
		return
	}
	if in.Hostname != nil && typ != "url" {
		problem(w, http.StatusBadRequest, "bad request", "hostname is only allowed with url purges", nil)
		return
	}
	if f.opts.MaxObjects > 0 && len(in.Objects) > f.opts.MaxObjects {
		problem(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large", fmt.Sprintf("%d objects are over the limit of %d", len(in.Objects), f.opts.MaxObjects), nil)
		return
	}
	objects, status, title, detail := f.checkObjects(typ, in.Hostname, in.Objects)
	if status != 0 {
		problem(w, status, title, detail, nil)
		return
	}
	if status, title, extra, hdr := f.spend(typ, len(objects)); status != 0 {
		for k, v := range hdr {
			w.Header().Set(k, v)
		}
		problem(w, status, title, "Rate limit exceeded; see the X-Ratelimit headers for when to retry.", extra)
		return
	}

	f.mu.Lock()
	id := fmt.Sprintf("edcp-fake%04d", len(f.purges)+1)
	f.purges = append(f.purges, Purge{ID: id, Action: action, Type: typ, Network: network, Objects: objects, Body: body})
	est := f.opts.EstimatedSeconds
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"httpStatus": 201, "estimatedSeconds": est, "purgeId": id, "supportId": id + "-support", "detail": "Request accepted",
	})
}

// verify recomputes the EdgeGrid signature (providers.md §4.6) and returns
// 401 with a reason when it does not hold.
func (f *Fake) verify(r *http.Request, body []byte) (int, string) {
	auth := r.Header.Get("Authorization")
	const scheme = "EG1-HMAC-SHA256 "
	if !strings.HasPrefix(auth, scheme) {
		return http.StatusUnauthorized, "missing EG1-HMAC-SHA256 Authorization header"
	}
	i := strings.LastIndex(auth, "signature=")
	if i < 0 {
		return http.StatusUnauthorized, "the Authorization header has no signature"
	}
	prefix, sig := auth[:i], auth[i+len("signature="):]
	fields := map[string]string{}
	for _, kv := range strings.Split(strings.TrimSuffix(strings.TrimPrefix(prefix, scheme), ";"), ";") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return http.StatusUnauthorized, "malformed Authorization header"
		}
		fields[k] = v
	}
	c := f.opts.Credentials
	if fields["client_token"] != c.ClientToken {
		return http.StatusUnauthorized, "Invalid authorization client_token"
	}
	if fields["access_token"] != c.AccessToken {
		return http.StatusUnauthorized, "Invalid authorization access_token"
	}
	ts := fields["timestamp"]
	if _, err := time.Parse("20060102T15:04:05-0700", ts); err != nil {
		return http.StatusUnauthorized, "Invalid timestamp"
	}
	nonce := fields["nonce"]
	if nonce == "" {
		return http.StatusUnauthorized, "Invalid nonce"
	}

	scheme2 := "http"
	if r.TLS != nil {
		scheme2 = "https"
	}
	path := r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		path += "?" + r.URL.RawQuery
	}
	hash := ""
	if r.Method == http.MethodPost && len(body) > 0 {
		b := body[:min(len(body), maxSignedBody)]
		sum := sha256.Sum256(b)
		hash = base64.StdEncoding.EncodeToString(sum[:])
	}
	// No headers are configured to be signed, so the canonical headers
	// field is empty but keeps its tab.
	data := strings.Join([]string{r.Method, scheme2, r.Host, path, "", hash, prefix}, "\t")
	key := hmacB64([]byte(c.ClientSecret), ts)
	want := hmacB64([]byte(key), data)
	if subtle.ConstantTimeCompare([]byte(want), []byte(sig)) != 1 {
		return http.StatusUnauthorized, "The signature does not match"
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.nonces[nonce] {
		return http.StatusUnauthorized, "Nonce already used"
	}
	f.nonces[nonce] = true
	return 0, ""
}

func hmacB64(key []byte, msg string) string {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// checkObjects validates objects for the purge type; the whole request
// fails if any object does.
func (f *Fake) checkObjects(typ string, hostname *string, raw []json.RawMessage) ([]any, int, string, string) {
	out := make([]any, 0, len(raw))
	for _, m := range raw {
		switch typ {
		case "cpcode":
			var n json.Number
			dec := json.NewDecoder(bytes.NewReader(m))
			dec.UseNumber()
			if err := dec.Decode(&n); err != nil {
				return nil, http.StatusBadRequest, "bad CP code", "CP codes must be integers: " + string(m)
			}
			code, err := strconv.Atoi(n.String())
			if err != nil {
				return nil, http.StatusBadRequest, "bad CP code", "CP codes must be integers: " + string(m)
			}
			if !slices.Contains(f.opts.CPCodes, code) {
				return nil, http.StatusForbidden, "unauthorized cpcode", strconv.Itoa(code)
			}
			out = append(out, code)
		case "tag":
			var s string
			if err := json.Unmarshal(m, &s); err != nil {
				return nil, http.StatusBadRequest, "bad tag", "tags must be strings: " + string(m)
			}
			if len(s) == 0 || len([]rune(s)) > MaxTagLength || !tagRE.MatchString(s) {
				return nil, http.StatusBadRequest, "bad tag", s
			}
			out = append(out, s)
		case "url":
			var s string
			if err := json.Unmarshal(m, &s); err != nil {
				return nil, http.StatusBadRequest, "bad URL", "URLs must be strings: " + string(m)
			}
			for _, c := range []byte(s) {
				if c >= 0x80 || c <= ' ' {
					return nil, http.StatusBadRequest, "bad URL", s
				}
			}
			host := ""
			switch {
			case hostname != nil:
				if !strings.HasPrefix(s, "/") {
					return nil, http.StatusBadRequest, "bad URL", s
				}
				host = *hostname
			case strings.HasPrefix(s, "/L/"): // an ARL names its host in its path
				parts := strings.Split(s, "/")
				if len(parts) < 7 {
					return nil, http.StatusBadRequest, "bad ARL", s
				}
				host = parts[6]
			default:
				u, err := url.Parse(s)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					return nil, http.StatusBadRequest, "bad URL", s
				}
				host = u.Hostname()
			}
			if len(f.opts.Hostnames) > 0 && !slices.Contains(f.opts.Hostnames, host) {
				return nil, http.StatusForbidden, "unauthorized arl", s
			}
			out = append(out, s)
		}
	}
	return out, 0, "", ""
}

// spend takes a request token and n object tokens, or none of them.
func (f *Fake) spend(typ string, n int) (int, string, map[string]any, map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.opts.Now()
	req, obj := f.buckets["requests"], f.buckets[typ]
	reqTokens, objTokens := req.Refill(now), obj.Refill(now)
	hdr := map[string]string{
		"X-Ratelimit-Limit":                    ftoa(req.Capacity),
		"X-Ratelimit-Remaining":                ftoa(math.Floor(reqTokens)),
		"X-Ratelimit-Limit-Per-Second":         ftoa(req.Rate),
		"X-Ratelimit-Limit-Objects":            ftoa(obj.Capacity),
		"X-Ratelimit-Remaining-Objects":        ftoa(math.Floor(objTokens)),
		"X-Ratelimit-Limit-Per-Second-Objects": ftoa(obj.Rate),
	}
	if reqTokens < 1 {
		hdr["X-Ratelimit-Seconds-To-Refresh-Limit"] = ftoa(math.Ceil((1 - reqTokens) / req.Rate))
		return http.StatusTooManyRequests, Buckets["requests"].TooMany, map[string]any{
			"rateLimit": int(req.Capacity), "rateLimitRemaining": int(reqTokens), "rateLimitCurrentRequestSize": 1,
		}, hdr
	}
	if objTokens < float64(n) {
		hdr["X-Ratelimit-Seconds-To-Refresh-Limit-Objects"] = ftoa(math.Ceil((float64(n) - objTokens) / obj.Rate))
		return http.StatusTooManyRequests, Buckets[typ].TooMany, map[string]any{
			"rateLimit": int(obj.Capacity), "rateLimitRemaining": int(objTokens), "rateLimitCurrentRequestSize": n,
		}, hdr
	}
	req.Spend(1)
	obj.Spend(float64(n))
	return 0, "", nil, nil
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// problem writes an application/problem+json error the way Fast Purge does.
func problem(w http.ResponseWriter, status int, title, detail string, extra map[string]any) {
	body := map[string]any{
		"httpStatus":  status,
		"title":       title,
		"detail":      detail,
		"supportId":   "17PY1234567890-fake",
		"describedBy": "https://techdocs.akamai.com/purge-cache/reference/" + strconv.Itoa(status),
	}
	for k, v := range extra {
		body[k] = v
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
