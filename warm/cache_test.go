package warm

import (
	"net/http"
	"testing"
)

func TestCacheStatus(t *testing.T) {
	for _, tt := range []struct {
		name    string
		headers map[string]string
		want    string
	}{
		{"cloudflare hit", map[string]string{"cf-cache-status": "HIT"}, CacheHit},
		{"cloudflare miss", map[string]string{"cf-cache-status": "MISS"}, CacheMiss},
		{"cloudflare expired", map[string]string{"cf-cache-status": "EXPIRED"}, CacheMiss},
		{"cloudflare revalidated", map[string]string{"cf-cache-status": "REVALIDATED"}, CacheHit},
		{"cloudflare dynamic counts neither way", map[string]string{"cf-cache-status": "DYNAMIC", "Age": "30"}, ""},
		{"cloudflare wins over x-cache", map[string]string{"cf-cache-status": "MISS", "X-Cache": "HIT"}, CacheMiss},
		{"varnish", map[string]string{"X-Cache": "HIT"}, CacheHit},
		{"cloudfront", map[string]string{"X-Cache": "Miss from cloudfront"}, CacheMiss},
		{"fastly shield miss, edge hit", map[string]string{"X-Cache": "MISS, HIT"}, CacheHit},
		{"fastly shield hit, edge miss", map[string]string{"X-Cache": "HIT, MISS"}, CacheMiss},
		{"akamai", map[string]string{"X-Cache": "TCP_MEM_HIT from a23-1-2-3 (AkamaiGHost)"}, CacheHit},
		{"nginx", map[string]string{"X-Cache-Status": "STALE"}, CacheHit},
		{"nginx bypass", map[string]string{"X-Cache-Status": "BYPASS"}, ""},
		{"age only", map[string]string{"Age": "12"}, CacheHit},
		{"age zero", map[string]string{"Age": "0"}, CacheMiss},
		{"nothing", map[string]string{"Cache-Control": "max-age=60"}, ""},
		{"garbage age", map[string]string{"Age": "soon"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tt.headers {
				h.Set(k, v)
			}
			if got := CacheStatus(h); got != tt.want {
				t.Errorf("CacheStatus(%v) = %q, want %q", tt.headers, got, tt.want)
			}
		})
	}
}
