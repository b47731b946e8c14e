package warm

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// FreshSlack absorbs the rounding of Age (whole seconds) and of the time
// since the purge: a copy is stale only when it is older than the purge by
// more than this.
const FreshSlack = time.Second

// Freshness is what a warm-up's answer says of the copy it was served
// from, judged against the purge that came before it.
type Freshness struct {
	// Stale: the answer came from a cache entry older than the purge.
	Stale bool
	// Age is the answer's Age header; -1 when it had none (and then
	// nothing can be told).
	Age time.Duration
	// Nearest: the cache nearest the client answered from its own copy (it
	// said hit, or no cache status header said otherwise). False for a
	// stale answer means the nearest cache said miss and passed on an
	// inner cache's old copy.
	Nearest bool
	// Via names what said it was a cached copy, for the trace: "cf-cache-status HIT",
	// "X-Varnish hit", "Age".
	Via string
}

// Fresh judges an answer fetched since after its purge completed, from
// its headers: a copy whose Age is greater than the time since the purge
// (beyond FreshSlack) was cached before the purge, so the purge did not
// reach the cache that served it. Which cache that was: the nearest one
// when its status header (cf-cache-status, X-Cache, X-Cache-Status) says
// hit, or none says but X-Varnish carries two ids (Varnish's sign of a
// hit), or only Age speaks; an inner one when the nearest said miss and
// still passed on an old copy (its Age is the inner cache's).
func Fresh(h http.Header, since time.Duration) Freshness {
	f := Freshness{Age: -1}
	secs, err := strconv.Atoi(strings.TrimSpace(h.Get("Age")))
	if err != nil || secs < 0 {
		return f
	}
	f.Age = time.Duration(secs) * time.Second
	if f.Age <= since+FreshSlack {
		return f
	}
	f.Stale = true
	name, value := statusHeader(h)
	switch {
	case name == "":
		f.Nearest = true
		f.Via = "Age"
		if varnishHit(h) {
			f.Via = "X-Varnish hit"
		}
	case statusOf(value) == CacheMiss:
		f.Via = name + " " + value
	default:
		// A hit, or a status that is neither (DYNAMIC, BYPASS) but came
		// with an old Age: the nearest cache is the one to ask again.
		f.Nearest = statusOf(value) == CacheHit
		f.Via = name + " " + value
	}
	return f
}

// String is the trace's account of a stale answer.
func (f Freshness) String() string {
	if !f.Stale {
		return "fresh"
	}
	who := "the nearest cache"
	if !f.Nearest {
		who = "an inner cache"
	}
	return fmt.Sprintf("served by %s from a copy %s old (%s)", who, f.Age, f.Via)
}

// statusHeader returns the first cache status header an answer has, with
// its value (trimmed, capped for the trace).
func statusHeader(h http.Header) (name, value string) {
	for _, name := range []string{"Cf-Cache-Status", "X-Cache", "X-Cache-Status"} {
		if v := strings.TrimSpace(h.Get(name)); v != "" {
			return strings.ToLower(name), trim(v)
		}
	}
	return "", ""
}

// statusOf reads one cache status value as CacheStatus does.
func statusOf(v string) string {
	h := http.Header{}
	h.Set("X-Cache", v)
	return CacheStatus(h)
}

// varnishHit reports an X-Varnish header with two transaction ids: this
// request's and the one that stored the object it was served from.
func varnishHit(h http.Header) bool {
	return len(strings.Fields(h.Get("X-Varnish"))) == 2
}
