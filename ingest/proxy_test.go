package ingest_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/purgehook/purgehook/config"
	"github.com/purgehook/purgehook/ingest"
	"github.com/purgehook/purgehook/pipeline"
	"github.com/purgehook/purgehook/resolve"
	"github.com/purgehook/purgehook/source"
	"github.com/purgehook/purgehook/source/generic"
	"github.com/purgehook/purgehook/store"
)

func cidrs(t *testing.T, ss ...string) []*net.IPNet {
	t.Helper()
	var out []*net.IPNet
	for _, s := range ss {
		n, err := config.ParseCIDR(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

// Behind trusted proxies, allow_ips and the journal see the client that
// called the nearest proxy; X-Forwarded-For from anyone else is ignored.
func TestTrustedProxies(t *testing.T) {
	for _, tt := range []struct {
		name       string
		peer       string
		xff        []string
		wantStatus int
		wantRemote string
	}{
		{"direct, allowed", "20.1.2.3:4000", nil, 202, "20.1.2.3:4000"},
		{"direct, forging the header", "198.51.100.7:4000", []string{"20.1.2.3"}, 403, ""},
		{"through the balancer", "10.0.0.5:4000", []string{"20.1.2.3"}, 202, "20.1.2.3"},
		{"through two proxies", "10.0.0.5:4000", []string{"20.1.2.3, 10.0.0.9"}, 202, "20.1.2.3"},
		{"a client forging the leftmost hop", "10.0.0.5:4000", []string{"20.9.9.9, 198.51.100.7"}, 403, ""},
		{"several headers", "10.0.0.5:4000", []string{"203.0.113.1", "20.1.2.3"}, 202, "20.1.2.3"},
		{"through the balancer from outside", "10.0.0.5:4000", []string{"198.51.100.7"}, 403, ""},
		{"a malformed hop", "10.0.0.5:4000", []string{"20.1.2.3, bogus"}, 403, ""},
		{"the balancer itself", "10.0.0.5:4000", nil, 403, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st, err := store.Open(ctx, "sqlite", filepath.Join(t.TempDir(), "ph.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			r, _ := resolve.New([]config.Site{{Name: "a", BaseURL: "https://a.example"}}, nil)
			pl, err := pipeline.New(pipeline.Options{Store: st, Resolver: r})
			if err != nil {
				t.Fatal(err)
			}
			e := ingest.Endpoint{Name: "cms", Source: generic.New(source.Options{Name: "cms", Secrets: []string{secret}}), MaxBody: 4096, HashDedupe: time.Minute, Allow: cidrs(t, "20.0.0.0/8")}
			h, err := ingest.New([]ingest.Endpoint{e}, pl, slogDiscard(), prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			h.TrustProxies(cidrs(t, "10.0.0.0/8"))
			mux := http.NewServeMux()
			mux.Handle("POST /hooks/{source}", h)

			req := httptest.NewRequest(http.MethodPost, "/hooks/cms", strings.NewReader(good))
			req.RemoteAddr = tt.peer
			for k, v := range sig(good) {
				req.Header.Set(k, v)
			}
			for _, v := range tt.xff {
				req.Header.Add("X-Forwarded-For", v)
			}
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, req)
			if w.Code != tt.wantStatus {
				t.Fatalf("status %d %s, want %d", w.Code, w.Body, tt.wantStatus)
			}
			ds, err := st.DeliveryList(ctx, 10)
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantRemote == "" {
				if len(ds) != 0 {
					t.Errorf("journaled %+v", ds)
				}
				return
			}
			if len(ds) != 1 || ds[0].Remote != tt.wantRemote {
				t.Errorf("journaled %+v, want remote %s", ds, tt.wantRemote)
			}
		})
	}
}
