package warm

import (
	"net/http"
	"strconv"
	"strings"
)

// What a cache said of an answer.
const (
	CacheHit  = "hit"
	CacheMiss = "miss"
)

// CacheStatus reads whether the cache in front of a page answered from
// its copy, from the headers caches set: Cloudflare's cf-cache-status,
// X-Cache (Varnish, Fastly, CloudFront, Akamai; for a chain such as
// Fastly's "MISS, HIT" the last cache, nearest the client, counts),
// nginx's X-Cache-Status, and else Age (a copy older than 0s came from a
// cache). It returns "" when none says, or when the answer was not
// cacheable (DYNAMIC, BYPASS): those count neither way in a hit ratio.
func CacheStatus(h http.Header) string {
	for _, name := range []string{"Cf-Cache-Status", "X-Cache", "X-Cache-Status"} {
		v := h.Get(name)
		if v == "" {
			continue
		}
		if i := strings.LastIndexByte(v, ','); i >= 0 {
			v = v[i+1:]
		}
		v = strings.ToUpper(strings.TrimSpace(v))
		switch {
		case strings.HasPrefix(v, "HIT"), v == "STALE", v == "UPDATING", v == "REVALIDATED", strings.HasPrefix(v, "TCP_HIT"), strings.HasPrefix(v, "TCP_MEM_HIT"), strings.HasPrefix(v, "TCP_REFRESH_HIT"):
			return CacheHit
		case strings.HasPrefix(v, "MISS"), v == "EXPIRED", strings.HasPrefix(v, "TCP_MISS"), strings.HasPrefix(v, "TCP_REFRESH_MISS"):
			return CacheMiss
		}
		return ""
	}
	if age, err := strconv.Atoi(strings.TrimSpace(h.Get("Age"))); err == nil {
		if age > 0 {
			return CacheHit
		}
		return CacheMiss
	}
	return ""
}
