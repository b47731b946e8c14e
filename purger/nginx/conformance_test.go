package nginx

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"
	"time"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/internal/nginxtest"
	"github.com/purgehook/purgehook/purger"
	"github.com/purgehook/purgehook/purger/purgertest"
)

// The conformance fake is a real nginx with ngx_cache_purge. Each of the
// suite's failures is produced by nginx itself on a listener configured to
// produce it; a small proxy in front counts requests and sends the next one
// to the listener the suite asked for:
//
//   - ok: the purge location (404 for the suite's uncached URLs)
//   - ClientError: a purge location that denies purgehook (403 Forbidden)
//   - ServerError: a location whose upstream is a missing socket (502)
//   - RateLimited: a purge location behind limit_req (1r/m,
//     limit_req_status 429, add_header Retry-After 30), primed so that the
//     next request is over the limit
//   - Stall: the proxy holds the request until the client goes away.
const (
	cOK = iota
	cDenied
	cBroken
	cLimited
	conformancePorts

	limitedRetryAfter = 30 * time.Second
)

type faultProxy struct {
	*httptest.Server
	// Tally counts requests; its MaxItems is 1 once there was one, since
	// ngx_cache_purge takes one URL per request.
	purgertest.Tally
	ng *nginxtest.Nginx
	t  *testing.T
}

var _ purgertest.Fake = (*faultProxy)(nil)

func newFaultProxy(t *testing.T) *faultProxy {
	ng := nginxtest.Start(t, nginxtest.Options{Ports: conformancePorts, HTTP: func(c nginxtest.Config) string {
		return fmt.Sprintf(`
proxy_cache_path %[1]s/cache levels=1:2 keys_zone=conf:1m max_size=10m inactive=10m use_temp_path=off;
limit_req_zone $server_port zone=purgelimit:1m rate=1r/m;
server {
	listen %[2]s;
	location / { allow 127.0.0.1; deny all; proxy_cache_purge conf $host$uri$is_args$args; }
}
server {
	listen %[3]s;
	location / { allow 192.0.2.1; deny all; proxy_cache_purge conf $host$uri$is_args$args; }
}
server {
	listen %[4]s;
	location / { proxy_pass http://unix:%[1]s/no-such.sock; }
}
server {
	listen %[5]s;
	location / {
		limit_req zone=purgelimit nodelay;
		limit_req_status 429;
		add_header Retry-After %[6]d always;
		allow 127.0.0.1; deny all;
		proxy_cache_purge conf $host$uri$is_args$args;
	}
}
`, c.Dir, c.Addr(cOK), c.Addr(cDenied), c.Addr(cBroken), c.Addr(cLimited), int(limitedRetryAfter.Seconds()))
	}})
	f := &faultProxy{ng: ng, t: t}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *faultProxy) serve(w http.ResponseWriter, r *http.Request) {
	fail := f.Begin()
	f.Saw(1)
	port := cOK
	switch fail {
	case purgertest.Stall:
		<-r.Context().Done()
		return
	case purgertest.RateLimited:
		port = cLimited
	case purgertest.ServerError:
		port = cBroken
	case purgertest.ClientError:
		port = cDenied
	}
	target, _ := url.Parse(f.ng.URL(port))
	(&httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		pr.Out.Host = pr.In.Host // the purge key is built from $host
	}}).ServeHTTP(w, r)
}

// FailNext is the Tally's, after priming the limited listener for RateLimited.
func (f *faultProxy) FailNext(x purgertest.Failure) {
	if x == purgertest.RateLimited {
		// Spend the listener's one request a minute, so that the next is
		// refused.
		req, _ := http.NewRequest(Method, f.ng.URL(cLimited)+"/prime", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			f.t.Fatalf("priming the rate limit: %v", err)
		}
		resp.Body.Close()
	}
	f.Tally.FailNext(x)
}

func (f *faultProxy) RetryAfter() time.Duration  { return limitedRetryAfter }
func (f *faultProxy) ClientErrorMessage() string { return "403 Forbidden" }

func TestConformance(t *testing.T) {
	purgertest.Run(t, purgertest.Harness{
		New: func(t *testing.T, logger *slog.Logger) (purger.Purger, purgertest.Fake) {
			f := newFaultProxy(t)
			n, err := New(Options{Name: "conf", Logger: logger, Config: Config{Servers: []string{f.URL}}})
			if err != nil {
				t.Fatal(err)
			}
			return n, f
		},
		NewPair: func(t *testing.T, logger *slog.Logger) purgertest.Pair {
			a, b := newFaultProxy(t), newFaultProxy(t)
			servers := [2]string{a.URL, b.URL}
			n, err := New(Options{Name: "conf", Logger: logger, Config: Config{Servers: servers[:]}})
			if err != nil {
				t.Fatal(err)
			}
			return purgertest.Pair{Purger: n, Fakes: [2]purgertest.Fake{a, b}, Servers: servers}
		},
	})
}

// TestConformanceLimitsAreDeclared pins the declaration the suite's limit
// check relies on: URLs only, a bounded call.
func TestConformanceLimitsAreDeclared(t *testing.T) {
	l := mustNew(t, "http://127.0.0.1:1").Limits()
	if !l.Supports(change.URL) || len(l.Kinds) != 1 || l.Max(change.URL) != URLsPerCall {
		t.Errorf("Limits() = %+v", l)
	}
}
