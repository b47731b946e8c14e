// Package bunnytest is a fake of Bunny CDN's purge API that follows its
// documented contract (shared/docs/providers.md §6.1): the AccessKey header,
// POST /purge?url= with one URL, POST /pullzone/{id}/purgeCache with an empty
// body or {"CacheTag": "…"}, per-type token buckets (exact 120 burst at 5/s,
// prefix 20 burst at 0.5/s) on an injectable clock, 429 on overflow, and the
// {"ErrorKey","Field","Message"} envelope on 4xx.
package bunnytest

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/purgehook/purgehook/purger/purgertest"
)

// The buckets Bunny documents, per account and per purge type.
const (
	ExactBurst  = 120
	ExactRate   = 5.0
	PrefixBurst = 20
	PrefixRate  = 0.5
	// MaxCacheTag is the longest CacheTag the fake accepts, in bytes.
	MaxCacheTag = 1024
)

// Fake failure answers the conformance suite asks for.
const (
	FailRetryAfter     = 3 * time.Second
	ClientErrorMessage = "The requested URL does not belong to any pull zone on this account."
)

// Purge is one purge the fake accepted.
type Purge struct {
	// Type is exact, prefix, tag or zone.
	Type string
	// Value is the URL for exact and prefix, the tag for tag, "" for zone.
	Value    string
	PullZone string
	// ExactPath and Async are the query flags of a URL purge.
	ExactPath bool
	Async     bool
}

// Options configure a fake.
type Options struct {
	// APIKey is the only AccessKey accepted.
	APIKey string
	// PullZones are the pull zone ids that exist.
	PullZones []string
	// Hostnames, when set, are the only hosts URL purges may name (the
	// hostnames of the account's pull zones).
	Hostnames []string
	// Now is the clock of the token buckets; nil means time.Now.
	Now func() time.Time
}

// Fake is the fake API. Use NewServer, or serve it yourself.
type Fake struct {
	// Tally gives Requests, MaxItems (the most items one request
	// carried: Bunny's API carries one) and FailNext.
	purgertest.Tally

	opts Options
	// URL is the base URL of the server started by NewServer.
	URL string

	mu      sync.Mutex
	buckets map[string]*purgertest.Bucket
	purges  []Purge
}

var _ purgertest.Fake = (*Fake)(nil)

// New returns a fake that is not yet serving.
func New(o Options) *Fake {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Fake{opts: o, buckets: map[string]*purgertest.Bucket{
		"exact":  {Capacity: ExactBurst, Rate: ExactRate},
		"prefix": {Capacity: PrefixBurst, Rate: PrefixRate},
	}}
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

// RetryAfter is the Retry-After of the forced 429.
func (f *Fake) RetryAfter() time.Duration { return FailRetryAfter }

// ClientErrorMessage is the Message of the forced 400.
func (f *Fake) ClientErrorMessage() string { return ClientErrorMessage }

// ServeHTTP implements the API.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fail := f.Begin()

	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "", "Only POST is supported.")
		return
	}
	if r.Header.Get("AccessKey") == "" || r.Header.Get("AccessKey") != f.opts.APIKey {
		// Bunny answers a missing or wrong key with 401 and no envelope.
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	switch fail {
	case purgertest.RateLimited:
		w.Header().Set("Retry-After", strconv.Itoa(int(FailRetryAfter/time.Second)))
		writeError(w, http.StatusTooManyRequests, "purge.rate_limit_exceeded", "", "Purge rate limit exceeded.")
		return
	case purgertest.ServerError:
		writeError(w, http.StatusInternalServerError, "internal_error", "", "An internal error occurred.")
		return
	case purgertest.ClientError:
		writeError(w, http.StatusBadRequest, "purge.hostname_not_found", "url", ClientErrorMessage)
		return
	case purgertest.Stall:
		<-r.Context().Done()
		return
	}

	switch {
	case r.URL.Path == "/purge":
		f.purgeURL(w, r)
	case strings.HasPrefix(r.URL.Path, "/pullzone/") && strings.HasSuffix(r.URL.Path, "/purgeCache"):
		f.purgeZone(w, r, strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/pullzone/"), "/purgeCache"))
	default:
		writeError(w, http.StatusNotFound, "not_found", "", "The requested resource was not found.")
	}
}

func (f *Fake) purgeURL(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if len(q["url"]) != 1 {
		writeError(w, http.StatusBadRequest, "purge.url_required", "url", "Exactly one url query parameter is required.")
		return
	}
	raw := q.Get("url")
	f.Saw(1)
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		writeError(w, http.StatusBadRequest, "purge.url_invalid", "url", "The URL is not a valid absolute URL.")
		return
	}
	if len(f.opts.Hostnames) > 0 && !slices.Contains(f.opts.Hostnames, u.Hostname()) {
		writeError(w, http.StatusBadRequest, "purge.hostname_not_found", "url", "The requested URL does not belong to any pull zone on this account.")
		return
	}
	exactPath, async := q.Get("exactPath") == "true", q.Get("async") == "true"
	// Bunny's rule: a "*" anywhere, or a path ending in "/" (unless
	// exactPath), makes a prefix purge.
	typ := "exact"
	if strings.Contains(raw, "*") || (strings.HasSuffix(u.Path, "/") && !exactPath) {
		typ = "prefix"
	}
	if wait, ok := f.take(typ); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		writeError(w, http.StatusTooManyRequests, "purge.rate_limit_exceeded", "", fmt.Sprintf("The %s purge rate limit has been exceeded.", typ))
		return
	}
	f.record(Purge{Type: typ, Value: raw, ExactPath: exactPath, Async: async})
	w.WriteHeader(http.StatusOK)
}

func (f *Fake) purgeZone(w http.ResponseWriter, r *http.Request, zone string) {
	if !slices.Contains(f.opts.PullZones, zone) {
		writeError(w, http.StatusNotFound, "pullzone.not_found", "id", "The requested pull zone was not found.")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		writeError(w, http.StatusBadRequest, "request.invalid", "", "The request body could not be read.")
		return
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		f.Saw(0)
		f.record(Purge{Type: "zone", PullZone: zone})
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		writeError(w, http.StatusUnsupportedMediaType, "request.content_type", "", "The body must be application/json.")
		return
	}
	var in struct {
		CacheTag *string `json:"CacheTag"`
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil || in.CacheTag == nil {
		writeError(w, http.StatusBadRequest, "pullzone.purge_invalid", "CacheTag", "The request body must be {\"CacheTag\": \"…\"} or empty.")
		return
	}
	f.Saw(1)
	if *in.CacheTag == "" || len(*in.CacheTag) > MaxCacheTag {
		writeError(w, http.StatusBadRequest, "pullzone.cache_tag_invalid", "CacheTag", fmt.Sprintf("The cache tag must be 1 to %d bytes.", MaxCacheTag))
		return
	}
	f.record(Purge{Type: "tag", Value: *in.CacheTag, PullZone: zone})
	w.WriteHeader(http.StatusNoContent)
}

func (f *Fake) record(p Purge) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.purges = append(f.purges, p)
}

// take spends one token of the bucket, or says how long until one is there.
func (f *Fake) take(typ string) (time.Duration, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.buckets[typ].Take(f.opts.Now())
}

func writeError(w http.ResponseWriter, status int, key, field, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"ErrorKey": key, "Field": field, "Message": msg})
}
