package nginx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/internal/nginxtest"
	"github.com/purgehook/purgehook/purger"
)

// origin is the application behind nginx: every fetch of a path returns a
// new version, so a test can tell a cached copy from a fresh one.
type origin struct {
	*httptest.Server
	mu       sync.Mutex
	versions map[string]int
}

func newOrigin(t *testing.T) *origin {
	o := &origin{versions: map[string]int{}}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		key := r.Host + " " + r.URL.RequestURI()
		o.versions[key]++
		v := o.versions[key]
		o.mu.Unlock()
		w.Header().Set("Cache-Control", "max-age=600")
		fmt.Fprintf(w, "%s %s %s v%d", r.Method, r.Host, r.URL.RequestURI(), v)
	}))
	t.Cleanup(o.Close)
	return o
}

func (o *origin) addr() string { return strings.TrimPrefix(o.URL, "http://") }

// Ports of the test site.
const (
	pCacheA  = iota // caching server, zone a, with a /purge prefix location
	pPurgeA         // purge listener for zone a
	pCacheB         // caching server, zone b
	pPurgeB         // purge listener for zone b
	pDenied         // purge listener for zone a that allows nobody
	pMisconf        // a listener whose location proxies PURGE to the application
	sitePorts
)

// startSite starts one nginx holding two independent caches (two "servers"
// to fan out to) and the purge locations the tests aim at.
func startSite(t *testing.T, o *origin) *nginxtest.Nginx {
	return nginxtest.Start(t, nginxtest.Options{Ports: sitePorts, HTTP: func(c nginxtest.Config) string {
		cache := func(port int, zone string) string {
			return fmt.Sprintf(`
server {
	listen %s;
	location / {
		proxy_pass http://%s;
		proxy_set_header Host $host;
		proxy_cache %s;
		proxy_cache_key $host$uri$is_args$args;
		proxy_cache_valid 200 10m;
		proxy_set_header Accept-Encoding "";
		proxy_ignore_headers Vary;
		add_header X-Cache-Status $upstream_cache_status always;
	}
	location ~ ^/purge(/.*)$ {
		allow 127.0.0.1;
		deny all;
		proxy_cache_purge %s $host$1$is_args$args;
	}
}`, c.Addr(port), o.addr(), zone, zone)
		}
		purge := func(port int, zone, allow string) string {
			return fmt.Sprintf(`
server {
	listen %s;
	location / {
		allow %s;
		deny all;
		proxy_cache_purge %s $host$uri$is_args$args;
	}
}`, c.Addr(port), allow, zone)
		}
		return fmt.Sprintf(`
proxy_cache_path %[1]s/cache-a levels=1:2 keys_zone=a:1m max_size=10m inactive=10m use_temp_path=off;
proxy_cache_path %[1]s/cache-b levels=1:2 keys_zone=b:1m max_size=10m inactive=10m use_temp_path=off;
`, c.Dir) + cache(pCacheA, "a") + purge(pPurgeA, "a", "127.0.0.1") +
			cache(pCacheB, "b") + purge(pPurgeB, "b", "127.0.0.1") +
			purge(pDenied, "a", "192.0.2.1") +
			fmt.Sprintf("\nserver {\n\tlisten %s;\n\tlocation / { proxy_pass http://%s; }\n}\n", c.Addr(pMisconf), o.addr())
	}})
}

// fetch GETs a page through a caching listener and returns the cache status
// and body.
func fetch(t *testing.T, base, page string) (cacheStatus, body string) {
	t.Helper()
	u, err := http.NewRequest(http.MethodGet, page, nil)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, base+u.URL.RequestURI(), nil)
	req.Host = u.URL.Host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s via %s: %d %s", page, base, resp.StatusCode, b)
	}
	return resp.Header.Get("X-Cache-Status"), string(b)
}

// warm fetches page until it is a HIT and returns the cached body.
func warm(t *testing.T, base, page string) string {
	t.Helper()
	st, first := fetch(t, base, page)
	if st != "MISS" {
		t.Fatalf("first GET %s via %s: X-Cache-Status %q, want MISS", page, base, st)
	}
	st, second := fetch(t, base, page)
	if st != "HIT" || second != first {
		t.Fatalf("second GET %s via %s: %q %q, want HIT %q", page, base, st, second, first)
	}
	return first
}

func mustNew(t *testing.T, servers ...string) *Nginx {
	t.Helper()
	n, err := New(Options{Name: "origin", Config: Config{Servers: servers}})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

var pages = []string{
	"https://www.example.com/news/a",
	"https://www.example.com/caf%C3%A9?page=2&x=a%20b",
	"http://shop.example.com/",
}

func TestRealNginxPurgesEveryServer(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	ng := startSite(t, o)
	caches := []string{ng.URL(pCacheA), ng.URL(pCacheB)}
	cached := map[string]string{}
	for _, c := range caches {
		for _, p := range pages {
			cached[c+p] = warm(t, c, p)
		}
	}
	n := mustNew(t, ng.URL(pPurgeA), ng.URL(pPurgeB))
	if _, err := n.Purge(t.Context(), change.Call{Kind: change.URL, Items: pages}); err != nil {
		t.Fatalf("Purge: %v", err)
	}
	for _, c := range caches {
		for _, p := range pages {
			st, body := fetch(t, c, p)
			if st != "MISS" || body == cached[c+p] {
				t.Errorf("after the purge, GET %s via %s: %s %q (cached %q), want a MISS with fresh content", p, c, st, body, cached[c+p])
			}
		}
	}
	// Not cached (any more): the module answers 404, which is success.
	if _, err := n.Purge(t.Context(), change.Call{Kind: change.URL, Items: []string{"https://www.example.com/never-cached"}}); err != nil {
		t.Errorf("purge of an uncached URL: %v", err)
	}
}

func TestRealNginxPrefixLocation(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	ng := startSite(t, o)
	page := pages[1]
	before := warm(t, ng.URL(pCacheA), page)
	n := mustNew(t, ng.URL(pCacheA)+"/purge/")
	if _, err := n.Purge(t.Context(), change.Call{Kind: change.URL, Items: []string{page}}); err != nil {
		t.Fatalf("Purge: %v", err)
	}
	if st, body := fetch(t, ng.URL(pCacheA), page); st != "MISS" || body == before {
		t.Errorf("after the purge: %s %q, want a fresh MISS", st, body)
	}
}

func TestRealNginxFailures(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	ng := startSite(t, o)
	closed := closedPort(t)
	tests := []struct {
		name      string
		servers   []string
		wantClass purger.Class
		wantMsg   string
	}{
		{"a refused server is permanent", []string{ng.URL(pPurgeA), ng.URL(pDenied)}, purger.Permanent, "403 Forbidden"},
		{"a server that is down retries", []string{ng.URL(pPurgeA), closed}, purger.Retry, "connection refused"},
		{"a location without proxy_cache_purge is permanent", []string{ng.URL(pMisconf)}, purger.Permanent, `"Successful purge"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page := "https://www.example.com/failures/" + strings.ReplaceAll(tt.name, " ", "-")
			before := warm(t, ng.URL(pCacheA), page)
			_, err := mustNew(t, tt.servers...).Purge(t.Context(), change.Call{Kind: change.URL, Items: []string{page}})
			var pe *purger.Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want *purger.Error", err)
			}
			if pe.Class != tt.wantClass || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("err = %v (%s), want %s containing %q", err, pe.Class, tt.wantClass, tt.wantMsg)
			}
			if !strings.HasPrefix(err.Error(), "nginx[origin]: ") {
				t.Errorf("err = %q does not name the provider", err)
			}
			if tt.servers[0] == ng.URL(pPurgeA) {
				// The healthy server was purged all the same.
				if st, body := fetch(t, ng.URL(pCacheA), page); st != "MISS" || body == before {
					t.Errorf("the healthy server was not purged: %s %q", st, body)
				}
			}
		})
	}
}

// closedPort returns the URL of a loopback port nothing listens on.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + l.Addr().String()
	l.Close()
	return u
}

// TestExampleConfig runs examples/nginx/purgehook.conf itself, with only
// its ports, cache path and upstream replaced.
func TestExampleConfig(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join("..", "..", "examples", "nginx", "purgehook.conf"))
	if err != nil {
		t.Fatal(err)
	}
	o := newOrigin(t)
	ng := nginxtest.Start(t, nginxtest.Options{Ports: 2, HTTP: func(c nginxtest.Config) string {
		conf := string(raw)
		for _, r := range [][2]string{
			{"/var/cache/nginx/purgehook", filepath.Join(c.Dir, "cache")},
			{"server 127.0.0.1:8080;", "server " + o.addr() + ";"},
			{"listen 80;", "listen " + c.Addr(0) + ";"},
			{"listen 8081;", "listen " + c.Addr(1) + ";"},
		} {
			if !strings.Contains(conf, r[0]) {
				t.Fatalf("examples/nginx/purgehook.conf no longer contains %q; update this test with it", r[0])
			}
			conf = strings.ReplaceAll(conf, r[0], r[1])
		}
		return conf
	}})
	before := map[string]string{}
	for _, p := range pages {
		before[p] = warm(t, ng.URL(0), p)
	}
	if _, err := mustNew(t, ng.URL(1)).Purge(t.Context(), change.Call{Kind: change.URL, Items: pages}); err != nil {
		t.Fatalf("Purge: %v", err)
	}
	for _, p := range pages {
		if st, body := fetch(t, ng.URL(0), p); st != "MISS" || body == before[p] {
			t.Errorf("after the purge, GET %s: %s %q, want a fresh MISS", p, st, body)
		}
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	page := func(title string) []byte {
		return []byte("<html>\r\n<head><title>" + title + "</title></head>\r\n<body>\r\n<center><h1>" + title + "</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n")
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		status    int
		hdr       http.Header
		body      []byte
		ok        bool
		wantClass purger.Class
		wantAfter time.Duration
		wantMsg   string
	}{
		{status: 200, body: page("Successful purge"), ok: true},
		{status: 404, body: page("404 Not Found"), ok: true},
		{status: 204, wantClass: purger.Permanent, wantMsg: "answered 204 without"},
		{status: 301, hdr: http.Header{"Location": {"https://www.example.com/news/"}}, body: page("301 Moved Permanently"), wantClass: purger.Permanent, wantMsg: "redirected to https://www.example.com/news/ (redirects are not followed)"},
		{status: 200, body: []byte("GET /news/a v1"), wantClass: purger.Permanent, wantMsg: "Successful purge"},
		{status: 403, body: page("403 Forbidden"), wantClass: purger.Permanent, wantMsg: "403 Forbidden (purgehook's address"},
		{status: 405, body: page("405 Not Allowed"), wantClass: purger.Permanent, wantMsg: "405 Not Allowed"},
		{status: 429, hdr: http.Header{"Retry-After": {"30"}}, body: page("429 Too Many Requests"), wantClass: purger.Snooze, wantAfter: 30 * time.Second, wantMsg: "429 Too Many Requests"},
		{status: 503, body: page("503 Service Temporarily Unavailable"), wantClass: purger.Retry, wantMsg: "503 Service Temporarily Unavailable"},
		{status: 500, body: nil, wantClass: purger.Retry, wantMsg: "500 Internal Server Error"},
		{status: 502, body: []byte("upstream says no"), wantClass: purger.Retry, wantMsg: "upstream says no"},
	}
	for _, tt := range tests {
		err := classify("nginx[x]", &http.Response{StatusCode: tt.status, Header: tt.hdr}, tt.body, now)
		if tt.ok {
			if err != nil {
				t.Errorf("%d: %v, want success", tt.status, err)
			}
			continue
		}
		var pe *purger.Error
		if !errors.As(err, &pe) || pe.Class != tt.wantClass || pe.After != tt.wantAfter || !strings.Contains(pe.Msg, tt.wantMsg) {
			t.Errorf("%d %q: %v, want %s after %s with %q", tt.status, tt.body, err, tt.wantClass, tt.wantAfter, tt.wantMsg)
		}
	}
}

func TestPurgeWithoutRequests(t *testing.T) {
	t.Parallel()
	var hits int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	defer srv.Close()
	n := mustNew(t, srv.URL)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := n.Purge(ctx, change.Call{Kind: change.URL, Items: pages}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if _, err := n.Purge(context.Background(), change.Call{Kind: change.URL}); err != nil {
		t.Errorf("zero items: %v", err)
	}
	_, err := n.Purge(context.Background(), change.Call{Kind: change.URL, Items: []string{"/relative"}})
	if c, _ := purger.Classify(err); err == nil || c != purger.Permanent {
		t.Errorf("relative URL: %v, want permanent", err)
	}
	_, err = n.Purge(context.Background(), change.Call{Kind: change.Everything})
	if c, _ := purger.Classify(err); err == nil || c != purger.Permanent {
		t.Errorf("everything: %v, want permanent", err)
	}
	if hits != 0 {
		t.Errorf("%d requests, want none", hits)
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	for _, servers := range [][]string{nil, {"10.0.0.5:8081"}, {"ftp://x"}, {"http://u:p@x"}, {"http://x/?a=1"}} {
		if _, err := New(Options{Name: "x", Config: Config{Servers: servers}}); err == nil {
			t.Errorf("New(servers %q) succeeded", servers)
		}
	}
}

// TestVerdictAcrossServers checks how the answers of several servers make
// one verdict, with stand-ins that answer as nginx does.
func TestVerdictAcrossServers(t *testing.T) {
	t.Parallel()
	answer := func(status int, retryAfter string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != Method {
				t.Errorf("method %s, want %s", r.Method, Method)
			}
			if retryAfter != "" {
				w.Header().Set("Retry-After", retryAfter)
			}
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(status)
			title := fmt.Sprintf("%d %s", status, http.StatusText(status))
			if status == http.StatusOK {
				title = "Successful purge"
			}
			fmt.Fprintf(w, "<html>\r\n<head><title>%s</title></head>\r\n<body></body></html>\r\n", title)
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	ok, gone := answer(200, ""), answer(404, "")
	slow5, slow20 := answer(429, "5"), answer(429, "20")
	broken, denied := answer(502, ""), answer(403, "")
	tests := []struct {
		name      string
		servers   []string
		wantClass purger.Class
		wantAfter time.Duration
		wantMsg   string
	}{
		{"all acknowledged", []string{ok, gone}, -1, 0, ""},
		{"one broken retries", []string{ok, broken}, purger.Retry, 0, "1 of 2 servers failed: " + broken + ": 502 https://www.example.com/a: 502 Bad Gateway (and 1 more failed request)"},
		{"a rate limit outranks a retry, longest wait", []string{broken, slow5, slow20}, purger.Snooze, 20 * time.Second, "429 Too Many Requests"},
		{"a refusal outranks everything", []string{slow20, broken, denied, ok}, purger.Permanent, 0, "403 Forbidden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items := []string{"https://www.example.com/a", "https://www.example.com/b"}
			_, err := mustNew(t, tt.servers...).Purge(t.Context(), change.Call{Kind: change.URL, Items: items})
			if tt.wantClass < 0 {
				if err != nil {
					t.Fatalf("err = %v, want success", err)
				}
				return
			}
			var pe *purger.Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want *purger.Error", err)
			}
			if pe.Class != tt.wantClass || pe.After != tt.wantAfter || !strings.Contains(pe.Msg, tt.wantMsg) {
				t.Errorf("err = %v (%s after %s), want %s after %s with %q", err, pe.Class, pe.After, tt.wantClass, tt.wantAfter, tt.wantMsg)
			}
		})
	}
}
