package bunny_test

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/purger"
	"github.com/purgehook/purgehook/purger/bunny"
	"github.com/purgehook/purgehook/purger/bunny/bunnytest"
	"github.com/purgehook/purgehook/purger/purgertest"
)

const (
	apiKey = "bunny-api-key-0d1c6e2f-secret"
	zone   = "4711"
)

func TestConformance(t *testing.T) {
	purgertest.Run(t, purgertest.Harness{
		New: func(t *testing.T, logger *slog.Logger) (purger.Purger, purgertest.Fake) {
			fake := bunnytest.NewServer(t, bunnytest.Options{APIKey: apiKey, PullZones: []string{zone}, Hostnames: []string{"www.example.com"}})
			return newPurger(t, fake, zone, logger), fake
		},
		Secrets: []string{apiKey},
	})
}

func TestConformanceWithoutPullZone(t *testing.T) {
	purgertest.Run(t, purgertest.Harness{
		New: func(t *testing.T, logger *slog.Logger) (purger.Purger, purgertest.Fake) {
			fake := bunnytest.NewServer(t, bunnytest.Options{APIKey: apiKey})
			return newPurger(t, fake, "", logger), fake
		},
		Secrets: []string{apiKey},
	})
}

func newPurger(t *testing.T, fake *bunnytest.Fake, pullZone string, logger *slog.Logger) *bunny.Purger {
	t.Helper()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	p, err := bunny.New(bunny.Options{Name: "cdn", Logger: logger, Client: ownClient(), Config: bunny.Config{APIKey: apiKey, PullZone: pullZone, APIURL: fake.URL}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPurgeRequests(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		kind  change.TargetKind
		items []string
		want  bunnytest.Purge
	}{
		{"url", change.URL, []string{"https://www.example.com/news/a?x=1"},
			bunnytest.Purge{Type: "exact", Value: "https://www.example.com/news/a?x=1"}},
		{"url ending in a slash stays exact", change.URL, []string{"https://www.example.com/"},
			bunnytest.Purge{Type: "exact", Value: "https://www.example.com/", ExactPath: true}},
		{"url with a literal star stays exact", change.URL, []string{"https://www.example.com/a*b"},
			bunnytest.Purge{Type: "exact", Value: "https://www.example.com/a%2Ab"}},
		{"fragment dropped", change.URL, []string{"https://www.example.com/a#top"},
			bunnytest.Purge{Type: "exact", Value: "https://www.example.com/a"}},
		{"prefix", change.Prefix, []string{"https://www.example.com/news"},
			bunnytest.Purge{Type: "prefix", Value: "https://www.example.com/news*"}},
		{"prefix with a slash", change.Prefix, []string{"https://www.example.com/news/"},
			bunnytest.Purge{Type: "prefix", Value: "https://www.example.com/news/*"}},
		{"prefix of a whole host", change.Prefix, []string{"https://www.example.com"},
			bunnytest.Purge{Type: "prefix", Value: "https://www.example.com/*"}},
		{"bare host url is the homepage", change.URL, []string{"https://www.example.com"},
			bunnytest.Purge{Type: "exact", Value: "https://www.example.com", ExactPath: true}},
		{"tag", change.Tag, []string{"product-123"},
			bunnytest.Purge{Type: "tag", Value: "product-123", PullZone: zone}},
		{"everything", change.Everything, nil,
			bunnytest.Purge{Type: "zone", PullZone: zone}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := bunnytest.NewServer(t, bunnytest.Options{APIKey: apiKey, PullZones: []string{zone}})
			p := newPurger(t, fake, zone, nil)
			res, err := p.Purge(t.Context(), change.Call{ID: 1, Kind: tt.kind, Items: tt.items, Key: "k"})
			if err != nil {
				t.Fatal(err)
			}
			if res.Pending {
				t.Error("bunny purges with async=false and must not be pending")
			}
			got := fake.Purges()
			if len(got) != 1 || got[0] != tt.want {
				t.Errorf("purges = %+v, want [%+v]", got, tt.want)
			}
		})
	}
}

func TestRateLimitBuckets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind      change.TargetKind
		burst     int
		wantAfter time.Duration // Retry-After is whole seconds, rounded up
		refill    time.Duration // time for one token
	}{
		{change.URL, bunnytest.ExactBurst, time.Second, 200 * time.Millisecond},
		{change.Prefix, bunnytest.PrefixBurst, 2 * time.Second, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			t.Parallel()
			clk := purgertest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			fake := bunnytest.NewServer(t, bunnytest.Options{APIKey: apiKey, Now: clk.Now})
			p := newPurger(t, fake, "", nil)
			call := change.Call{Kind: tt.kind, Items: []string{"https://www.example.com/x"}}
			for i := range tt.burst {
				if _, err := p.Purge(t.Context(), call); err != nil {
					t.Fatalf("purge %d within the burst: %v", i+1, err)
				}
			}
			_, err := p.Purge(t.Context(), call)
			var pe *purger.Error
			if !errors.As(err, &pe) || pe.Class != purger.Snooze || pe.Status != 429 {
				t.Fatalf("purge over the burst: got %v, want a 429 snooze", err)
			}
			if pe.After != tt.wantAfter {
				t.Errorf("After = %s, want %s", pe.After, tt.wantAfter)
			}
			if !strings.Contains(pe.Msg, "rate limit") {
				t.Errorf("Msg %q does not carry Bunny's message", pe.Msg)
			}
			clk.Advance(tt.refill)
			if _, err := p.Purge(t.Context(), call); err != nil {
				t.Fatalf("purge after one refill: %v", err)
			}
			if _, err := p.Purge(t.Context(), call); err == nil {
				t.Fatal("second purge after one refill succeeded; the bucket should be empty again")
			}
			if got, want := len(fake.Purges()), tt.burst+1; got != want {
				t.Errorf("fake accepted %d purges, want %d", got, want)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		key      string
		pullZone string
		call     change.Call
		class    purger.Class
		status   int
		msg      string
		requests int
	}{
		{"wrong key", "not-the-key", zone, change.Call{Kind: change.URL, Items: []string{"https://www.example.com/"}},
			purger.Permanent, 401, "", 1},
		{"unknown pull zone", apiKey, "999", change.Call{Kind: change.Everything},
			purger.Permanent, 404, "The requested pull zone was not found. (pullzone.not_found) field id", 1},
		{"tag too long", apiKey, zone, change.Call{Kind: change.Tag, Items: []string{strings.Repeat("t", bunny.MaxCacheTag+1)}},
			purger.Permanent, 0, "cache tag of 1025 bytes", 0},
		{"relative url", apiKey, zone, change.Call{Kind: change.URL, Items: []string{"/news"}},
			purger.Permanent, 0, "not an absolute http(s) URL", 0},
		{"two items", apiKey, zone, change.Call{Kind: change.URL, Items: []string{"https://www.example.com/a", "https://www.example.com/b"}},
			purger.TooLarge, 0, "one per request", 0},
		{"tag without pull zone", apiKey, "", change.Call{Kind: change.Tag, Items: []string{"x"}},
			purger.Permanent, 0, "without pull_zone", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := bunnytest.NewServer(t, bunnytest.Options{APIKey: apiKey, PullZones: []string{zone}})
			p, err := bunny.New(bunny.Options{Name: "cdn", Logger: slog.New(slog.DiscardHandler), Client: ownClient(), Config: bunny.Config{APIKey: tt.key, PullZone: tt.pullZone, APIURL: fake.URL}})
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.Purge(t.Context(), tt.call)
			var pe *purger.Error
			if !errors.As(err, &pe) {
				t.Fatalf("got %v, want a *purger.Error", err)
			}
			if pe.Class != tt.class || pe.Status != tt.status {
				t.Errorf("got class %s status %d, want %s %d: %v", pe.Class, pe.Status, tt.class, tt.status, err)
			}
			if !strings.Contains(pe.Msg, tt.msg) {
				t.Errorf("Msg %q does not contain %q", pe.Msg, tt.msg)
			}
			if !strings.HasPrefix(err.Error(), "bunny[cdn]: ") {
				t.Errorf("error %q does not name the provider", err)
			}
			if strings.Contains(err.Error(), apiKey) || strings.Contains(err.Error(), "not-the-key") {
				t.Errorf("error %q carries the API key", err)
			}
			if got := fake.Requests(); got != tt.requests {
				t.Errorf("made %d requests, want %d", got, tt.requests)
			}
		})
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts bunny.Options
		want string
	}{
		{"no key", bunny.Options{Name: "b"}, "api_key: required"},
		{"pull zone not numeric", bunny.Options{Name: "b", Config: bunny.Config{APIKey: "k", PullZone: "my-zone"}}, "pull_zone: want the numeric pull zone id"},
		{"bad api url", bunny.Options{Name: "b", Config: bunny.Config{APIKey: "k", APIURL: "ftp://x"}}, "api_url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := bunny.New(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: got %v, want an error containing %q", err, tt.want)
			}
		})
	}
	p, err := bunny.New(bunny.Options{Name: "b", Config: bunny.Config{APIKey: "k"}})
	if err != nil {
		t.Fatal(err)
	}
	l := p.Limits()
	if l.Supports(change.Tag) || l.Supports(change.Everything) || !l.Supports(change.URL) || !l.Supports(change.Prefix) {
		t.Errorf("kinds without a pull zone = %v, want url and prefix", l.Kinds)
	}
	if l.Max(change.URL) != 1 || l.Max(change.Prefix) != 1 || l.Async {
		t.Errorf("limits = %+v, want one item per call, synchronous", l)
	}
}

// ownClient gives a purger a transport of its own: tests run in parallel,
// and an httptest server closing at the end of one test closes the idle
// connections of http.DefaultTransport, breaking another test's request.
func ownClient() *http.Client {
	return &http.Client{Transport: &http.Transport{}, Timeout: 30 * time.Second}
}
