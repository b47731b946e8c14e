package warm

import (
	"net/http"
	"testing"
	"time"
)

func TestFresh(t *testing.T) {
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	for _, c := range []struct {
		name    string
		h       http.Header
		since   time.Duration
		stale   bool
		nearest bool
		via     string
	}{
		{"no Age: nothing to tell", hdr("Cf-Cache-Status", "HIT"), 0, false, false, ""},
		{"cached after the purge", hdr("Cf-Cache-Status", "HIT", "Age", "3"), 5 * time.Second, false, false, ""},
		{"within the slack", hdr("X-Cache", "HIT", "Age", "6"), 5 * time.Second, false, false, ""},
		{"a CDN hit older than the purge", hdr("Cf-Cache-Status", "HIT", "Age", "120"), 2 * time.Second, true, true, "cf-cache-status HIT"},
		{"a Varnish hit older than the purge", hdr("X-Varnish", "32770 3", "Age", "30"), time.Second, true, true, "X-Varnish hit"},
		{"Age alone", hdr("Age", "30"), time.Second, true, true, "Age"},
		{"the CDN missed, an inner cache passed an old copy", hdr("Cf-Cache-Status", "MISS", "X-Varnish", "5 2", "Age", "30"), time.Second, true, false, "cf-cache-status MISS"},
		{"a chain whose nearest cache hit", hdr("X-Cache", "MISS, HIT", "Age", "40"), 0, true, true, "x-cache MISS, HIT"},
		{"a bad Age", hdr("Age", "soon"), 0, false, false, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := Fresh(c.h, c.since)
			if f.Stale != c.stale || f.Nearest != c.nearest || f.Via != c.via {
				t.Errorf("got %+v, want stale=%v nearest=%v via=%q", f, c.stale, c.nearest, c.via)
			}
		})
	}
}
