package cloudflare_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/purger"
	"github.com/purgehook/purgehook/purger/cloudflare"
	"github.com/purgehook/purgehook/purger/cloudflare/cloudflaretest"
	"github.com/purgehook/purgehook/purger/purgertest"
)

func newPurger(t *testing.T, s *cloudflaretest.Server, o cloudflare.Options) *cloudflare.Purger {
	t.Helper()
	if o.Name == "" {
		o.Name = "prod"
	}
	if o.Zone == "" {
		o.Zone = s.Zone()
	}
	if o.Token == "" {
		o.Token = s.Token()
	}
	if o.APIURL == "" {
		o.APIURL = s.APIURL()
	}
	p, err := cloudflare.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConformance(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		plan string
		fake cloudflaretest.Options
	}{
		{"", cloudflaretest.Options{}},
		{"enterprise", cloudflaretest.Options{MaxFiles: 500, MaxTags: 100, MaxHosts: 100, MaxPrefixes: 100}},
	} {
		t.Run("plan="+tc.plan, func(t *testing.T) {
			t.Parallel()
			purgertest.Run(t, purgertest.Harness{
				New: func(t *testing.T, logger *slog.Logger) (purger.Purger, purgertest.Fake) {
					s := cloudflaretest.NewServer(t, tc.fake)
					return newPurger(t, s, cloudflare.Options{Logger: logger, Config: cloudflare.Config{Plan: tc.plan}}), s
				},
				Secrets: []string{cloudflaretest.DefaultToken, cloudflaretest.DefaultZone},
			})
		})
	}
}

// TestBodies pins the exact request bodies of providers.md §1.2.
func TestBodies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind  change.TargetKind
		items []string
		want  string
	}{
		{change.URL, []string{"https://www.example.com/a", "http://www.example.com/b?x=1"}, `{"files":["https://www.example.com/a","http://www.example.com/b?x=1"]}`},
		{change.Tag, []string{"product-1", "list:rooms"}, `{"tags":["product-1","list:rooms"]}`},
		{change.Host, []string{"www.example.com", "https://Images.Example.com/"}, `{"hosts":["www.example.com","images.example.com"]}`},
		{change.Prefix, []string{"https://www.example.com/news", "http://www.example.com/pt/rooms?page=2#x", "www.example.com/en/"}, `{"prefixes":["www.example.com/news","www.example.com/pt/rooms","www.example.com/en/"]}`},
		{change.Everything, nil, `{"purge_everything":true}`},
	}
	s := cloudflaretest.NewServer(t, cloudflaretest.Options{})
	p := newPurger(t, s, cloudflare.Options{})
	for i, tt := range tests {
		res, err := p.Purge(t.Context(), change.Call{ID: int64(i), Kind: tt.kind, Items: tt.items})
		if err != nil {
			t.Fatalf("%s: %v", tt.kind, err)
		}
		calls := s.Calls()
		got := calls[len(calls)-1]
		if string(bytes.TrimSpace(got.Body)) != tt.want {
			t.Errorf("%s body:\n got %s\nwant %s", tt.kind, got.Body, tt.want)
		}
		if got.Status != http.StatusOK || res.Ref != got.ID || res.Ref == "" || res.Pending {
			t.Errorf("%s: result %+v, fake answered %d with id %q", tt.kind, res, got.Status, got.ID)
		}
	}
}

func TestRejectsBadItems(t *testing.T) {
	t.Parallel()
	s := cloudflaretest.NewServer(t, cloudflaretest.Options{})
	p := newPurger(t, s, cloudflare.Options{})
	for _, c := range []change.Call{
		{Kind: change.URL, Items: []string{"/relative"}},
		{Kind: change.Tag, Items: []string{"two words"}},
		{Kind: change.Host, Items: []string{"www.example.com/path"}},
		{Kind: change.Prefix, Items: []string{"https://www.example.com:8443/x"}},
	} {
		_, err := p.Purge(t.Context(), c)
		if c, _ := purger.Classify(err); err == nil || c != purger.Permanent {
			t.Errorf("%v: got %v, want a permanent error", c, err)
		}
	}
	if n := s.Requests(); n != 0 {
		t.Errorf("bad items made %d requests", n)
	}
	_, err := p.Purge(t.Context(), change.Call{Kind: change.URL, Items: purgertest.DefaultItems(change.URL, 31)})
	if c, _ := purger.Classify(err); c != purger.TooLarge {
		t.Errorf("31 urls with a limit of 30: got %v, want too_large", err)
	}
}

// TestNoSDKRetries checks that the SDK's own retries are off: a 5xx and a
// 429 each reach the fake exactly once, however many failures are queued.
func TestNoSDKRetries(t *testing.T) {
	t.Parallel()
	for _, f := range []purgertest.Failure{purgertest.ServerError, purgertest.RateLimited} {
		s := cloudflaretest.NewServer(t, cloudflaretest.Options{})
		p := newPurger(t, s, cloudflare.Options{})
		for range 3 {
			s.FailNext(f)
		}
		_, err := p.Purge(t.Context(), change.Call{Kind: change.Tag, Items: []string{"a"}})
		if err == nil {
			t.Fatalf("%s: no error", f)
		}
		if n := s.Requests(); n != 1 {
			t.Errorf("%s reached the fake %d times, want 1", f, n)
		}
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		setup  func(s *cloudflaretest.Server, o *cloudflare.Options)
		class  purger.Class
		status int
		after  time.Duration
		msg    string
	}{
		{"429 with Retry-After", func(s *cloudflaretest.Server, o *cloudflare.Options) { s.FailNext(purgertest.RateLimited) }, purger.Snooze, 429, 12 * time.Second, "Rate limit enforced"},
		{"429 without Retry-After", func(s *cloudflaretest.Server, o *cloudflare.Options) {
			s.SetRetryAfter(0)
			s.FailNext(purgertest.RateLimited)
		}, purger.Snooze, 429, 60 * time.Second, "Rate limit enforced"},
		{"502 html", func(s *cloudflaretest.Server, o *cloudflare.Options) { s.FailNext(purgertest.ServerError) }, purger.Retry, 502, 0, "Bad Gateway"},
		{"wrong token", func(s *cloudflaretest.Server, o *cloudflare.Options) { o.Token = "wrong-token-123" }, purger.Permanent, 403, 0, "Authentication error (code 10000)"},
		{"wrong zone", func(s *cloudflaretest.Server, o *cloudflare.Options) { o.Zone = "ffffffffffffffffffffffffffffffff" }, purger.Permanent, 400, 0, "Could not route to /zones/[redacted]/purge_cache"},
		{"client error", func(s *cloudflaretest.Server, o *cloudflare.Options) { s.FailNext(purgertest.ClientError) }, purger.Permanent, 400, 0, cloudflaretest.ClientErrorMessage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := cloudflaretest.NewServer(t, cloudflaretest.Options{})
			var logs bytes.Buffer
			o := cloudflare.Options{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
			tt.setup(s, &o)
			p := newPurger(t, s, o)
			_, err := p.Purge(t.Context(), change.Call{Kind: change.Tag, Items: []string{"a"}})
			var pe *purger.Error
			if !errors.As(err, &pe) {
				t.Fatalf("got %v, want *purger.Error", err)
			}
			if pe.Class != tt.class || pe.Status != tt.status || pe.After != tt.after {
				t.Errorf("got class %s status %d after %s, want %s %d %s", pe.Class, pe.Status, pe.After, tt.class, tt.status, tt.after)
			}
			if !strings.Contains(pe.Msg, tt.msg) {
				t.Errorf("Msg %q does not contain %q", pe.Msg, tt.msg)
			}
			if !strings.HasPrefix(err.Error(), "cloudflare[prod]: ") {
				t.Errorf("error %q does not name the provider", err)
			}
			for _, secret := range []string{s.Token(), s.Zone(), o.Token, o.Zone} {
				if secret != "" && (strings.Contains(err.Error(), secret) || strings.Contains(logs.String(), secret)) {
					t.Errorf("secret %q leaked: %v\n%s", secret, err, logs.String())
				}
			}
		})
	}
}

func TestNetworkErrorIsRetryAndRedacted(t *testing.T) {
	t.Parallel()
	zone := "abcdef0123456789abcdef0123456789"
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens any more
	p, err := cloudflare.New(cloudflare.Options{Name: "prod", Config: cloudflare.Config{Zone: zone, Token: "tok-secret", APIURL: url}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Purge(t.Context(), change.Call{Kind: change.Everything})
	if c, _ := purger.Classify(err); c != purger.Retry {
		t.Errorf("got %v, want retry", err)
	}
	if strings.Contains(err.Error(), zone) || strings.Contains(err.Error(), "tok-secret") {
		t.Errorf("secret in %q", err)
	}
}

// TestEveryURLArrives batches 95 URLs by the declared limit, as the
// planner does, and checks the fake got every URL in calls of ≤ 30.
func TestEveryURLArrives(t *testing.T) {
	t.Parallel()
	s := cloudflaretest.NewServer(t, cloudflaretest.Options{})
	p := newPurger(t, s, cloudflare.Options{})
	limit := p.Limits().Max(change.URL)
	var urls []string
	for i := range 95 {
		urls = append(urls, fmt.Sprintf("https://www.example.com/rooms/%d", i))
	}
	for start := 0; start < len(urls); start += limit {
		batch := urls[start:min(start+limit, len(urls))]
		if _, err := p.Purge(t.Context(), change.Call{Kind: change.URL, Items: batch}); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for _, c := range s.Accepted() {
		if len(c.Items) > 30 {
			t.Errorf("a call carried %d URLs", len(c.Items))
		}
		for _, u := range c.Items {
			seen[u] = true
		}
	}
	for _, u := range urls {
		if !seen[u] {
			t.Errorf("%s never arrived", u)
		}
	}
	if n := len(s.Accepted()); n != 4 {
		t.Errorf("%d calls, want 4", n)
	}
}

func TestLimits(t *testing.T) {
	t.Parallel()
	all := []change.TargetKind{change.URL, change.Tag, change.Prefix, change.Host, change.Everything}
	// Overrides from the file are applied by the caller (app); the purger
	// declares and enforces the effective limits it is given.
	over := cloudflare.Config{Plan: "enterprise"}.Limits()
	over.PerCall[change.URL], over.RatePerSecond, over.Burst = 200, 20, 40
	tests := []struct {
		plan  string
		o     cloudflare.Options
		urls  int
		flex  int
		rate  float64
		burst int
	}{
		{"", cloudflare.Options{}, 30, 30, 0, 0},
		{"free", cloudflare.Options{}, 100, 100, 5.0 / 60, 25},
		{"pro", cloudflare.Options{}, 100, 100, 5, 25},
		{"Business", cloudflare.Options{}, 100, 100, 10, 50},
		{"enterprise", cloudflare.Options{}, 500, 100, 50, 500},
		{"enterprise", cloudflare.Options{Limits: over}, 200, 100, 20, 40},
	}
	for _, tt := range tests {
		o := tt.o
		o.Name, o.Zone, o.Token, o.Plan = "x", "z1", "t", tt.plan
		p, err := cloudflare.New(o)
		if err != nil {
			t.Fatal(err)
		}
		l := p.Limits()
		for _, k := range all {
			if !l.Supports(k) {
				t.Errorf("plan %q: kind %s not supported", tt.plan, k)
			}
		}
		if l.Max(change.URL) != tt.urls || l.Max(change.Tag) != tt.flex || l.Max(change.Host) != tt.flex || l.Max(change.Prefix) != tt.flex {
			t.Errorf("plan %q: per call %v, want urls %d flex %d", tt.plan, l.PerCall, tt.urls, tt.flex)
		}
		if l.RatePerSecond != tt.rate || l.Burst != tt.burst || l.Async {
			t.Errorf("plan %q: rate %v burst %d async %v, want %v %d false", tt.plan, l.RatePerSecond, l.Burst, l.Async, tt.rate, tt.burst)
		}
		l.PerCall[change.URL] = 1 // Limits returns a copy
		if p.Limits().Max(change.URL) == 1 {
			t.Errorf("Limits() shares its map")
		}
	}
}

func TestNewChecksOptions(t *testing.T) {
	t.Parallel()
	for _, c := range []cloudflare.Config{
		{Zone: "z", Token: ""},
		{Zone: "", Token: "tok-secret-1"},
		{Zone: "../accounts", Token: "tok-secret-1"},
		{Zone: "z", Token: "tok-secret-1", Plan: "gold"},
		{Zone: "z", Token: "tok-secret-1", APIURL: "ftp://x"},
	} {
		if _, err := cloudflare.New(cloudflare.Options{Config: c}); err == nil {
			t.Errorf("New(%+v) succeeded", c)
		} else if c.Token != "" && strings.Contains(err.Error(), c.Token) {
			t.Errorf("error names the token: %v", err)
		}
	}
}
