package fastly

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/purger"
	"github.com/purgehook/purgehook/purger/fastly/fastlyfake"
)

const (
	testToken   = "fastly-test-token-5f2c9a"
	selectToken = "fastly-select-only-77ab"
	testService = "SU1Z0isxPaozGVKXdv0eY"
)

var testNow = time.Date(2026, 3, 1, 10, 15, 0, 0, time.UTC)

func newPair(t *testing.T, soft bool) (*Fastly, *fastlyfake.Fake) {
	t.Helper()
	fake := fastlyfake.New(fastlyfake.Options{
		ServiceID: testService,
		Tokens: map[string][]string{
			testToken:   {fastlyfake.ScopePurgeSelect, fastlyfake.ScopePurgeAll},
			selectToken: {fastlyfake.ScopePurgeSelect},
		},
		Now: func() time.Time { return testNow },
	})
	t.Cleanup(fake.Close)
	f, err := New(Options{Name: "prod", Now: func() time.Time { return testNow }, Config: Config{APIURL: fake.URL, ServiceID: testService, Token: testToken, SoftPurge: soft}})
	if err != nil {
		t.Fatal(err)
	}
	return f, fake
}

func TestPurgeShapes(t *testing.T) {
	t.Parallel()
	manyKeys := make([]string, 600)
	for i := range manyKeys {
		manyKeys[i] = fmt.Sprintf("product-%04d", i)
	}
	// 40 keys of 1,000 bytes fit the key count but not the 16,384-byte
	// header: 16 per request.
	longKeys := make([]string, 40)
	for i := range longKeys {
		longKeys[i] = fmt.Sprintf("%03d", i) + strings.Repeat("k", 997)
	}
	tests := []struct {
		name      string
		soft      bool
		call      change.Call
		wantPaths []string
		wantKind  string
		wantItems []string
	}{
		{
			name:      "url with query",
			call:      change.Call{Kind: change.URL, Items: []string{"https://www.example.com/news/a?page=2"}},
			wantPaths: []string{"/purge/www.example.com/news/a"},
			wantKind:  "url", wantItems: []string{"www.example.com/news/a?page=2"},
		},
		{
			name:      "bare host url",
			call:      change.Call{Kind: change.URL, Items: []string{"https://www.example.com"}},
			wantPaths: []string{"/purge/www.example.com/"},
			wantKind:  "url", wantItems: []string{"www.example.com/"},
		},
		{
			name:      "soft url",
			soft:      true,
			call:      change.Call{Kind: change.URL, Items: []string{"https://www.example.com/x%20y"}},
			wantPaths: []string{"/purge/www.example.com/x%20y"},
			wantKind:  "url", wantItems: []string{"www.example.com/x y"},
		},
		{
			name:      "one key uses the single-key endpoint",
			call:      change.Call{Kind: change.Tag, Items: []string{"article-42"}},
			wantPaths: []string{"/service/" + testService + "/purge/article-42"},
			wantKind:  "key", wantItems: []string{"article-42"},
		},
		{
			name:      "several keys use one bulk request",
			soft:      true,
			call:      change.Call{Kind: change.Tag, Items: []string{"a", "b", "c"}},
			wantPaths: []string{"/service/" + testService + "/purge"},
			wantKind:  "key", wantItems: []string{"a", "b", "c"},
		},
		{
			name:      "more than 256 keys are split by count",
			call:      change.Call{Kind: change.Tag, Items: manyKeys},
			wantPaths: repeat("/service/"+testService+"/purge", 3),
			wantKind:  "key", wantItems: manyKeys,
		},
		{
			name:      "long keys are split by header bytes",
			call:      change.Call{Kind: change.Tag, Items: longKeys},
			wantPaths: repeat("/service/"+testService+"/purge", 3),
			wantKind:  "key", wantItems: longKeys,
		},
		{
			name:      "everything is purge_all and never soft",
			soft:      true,
			call:      change.Call{Kind: change.Everything},
			wantPaths: []string{"/service/" + testService + "/purge_all"},
			wantKind:  "all", wantItems: []string{""},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, fake := newPair(t, tt.soft)
			res, err := f.Purge(context.Background(), tt.call)
			if err != nil {
				t.Fatalf("Purge: %v", err)
			}
			var paths []string
			for _, r := range fake.Received() {
				paths = append(paths, r.Path)
				if r.Header.Get("Fastly-Key") != testToken {
					t.Errorf("request %s without the token", r.Path)
				}
				if h := r.Header.Get("Surrogate-Key"); len(h) > MaxKeyHeaderBytes || strings.Count(h, " ") >= MaxKeysPerRequest {
					t.Errorf("Surrogate-Key header of %d bytes, %d keys", len(h), strings.Count(h, " ")+1)
				}
			}
			if !slices.Equal(paths, tt.wantPaths) {
				t.Errorf("paths = %q, want %q", paths, tt.wantPaths)
			}
			var got []string
			for _, p := range fake.Purges() {
				if p.Kind != tt.wantKind {
					t.Errorf("purge kind %s, want %s", p.Kind, tt.wantKind)
				}
				if want := tt.soft && tt.wantKind != "all"; p.Soft != want {
					t.Errorf("purge of %q soft = %v, want %v", p.Target, p.Soft, want)
				}
				got = append(got, p.Target)
			}
			if !slices.Equal(got, tt.wantItems) {
				t.Errorf("purged %d items, want %d (%.3q…)", len(got), len(tt.wantItems), got)
			}
			if len(fake.Received()) == 1 && tt.wantKind != "key" || len(tt.call.Items) == 1 {
				if res.Ref == "" {
					t.Errorf("Ref is empty for a single request")
				}
			}
		})
	}
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func TestPurgeErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		setup     func(f *Fastly, fake *fastlyfake.Fake) *Fastly
		call      change.Call
		wantClass purger.Class
		wantAfter time.Duration
		wantMsg   string
	}{
		{
			name: "purge_all over the hourly limit snoozes until the reset",
			setup: func(f *Fastly, fake *fastlyfake.Fake) *Fastly {
				fake.SetRemaining(0)
				return f
			},
			call:      change.Call{Kind: change.Everything},
			wantClass: purger.Snooze, wantAfter: 45 * time.Minute, wantMsg: "Too many requests",
		},
		{
			name: "5xx retries",
			setup: func(f *Fastly, fake *fastlyfake.Fake) *Fastly {
				fake.Fail(http.StatusServiceUnavailable, "text/html", "<html><title>Error 503 first byte timeout</title></html>")
				return f
			},
			call:      change.Call{Kind: change.Tag, Items: []string{"a"}},
			wantClass: purger.Retry, wantMsg: "503",
		},
		{
			name: "a token without purge_all is permanent with Fastly's message",
			setup: func(f *Fastly, fake *fastlyfake.Fake) *Fastly {
				g := *f
				g.o.Token = selectToken
				return &g
			},
			call:      change.Call{Kind: change.Everything},
			wantClass: purger.Permanent, wantMsg: "Forbidden: this token does not have the purge_all scope",
		},
		{
			name: "a wrong token is permanent",
			setup: func(f *Fastly, fake *fastlyfake.Fake) *Fastly {
				g := *f
				g.o.Token = "wrong-" + testToken
				return &g
			},
			call:      change.Call{Kind: change.URL, Items: []string{"https://www.example.com/"}},
			wantClass: purger.Permanent, wantMsg: "Provided credentials are missing or invalid",
		},
		{
			name: "a wrong service is permanent",
			setup: func(f *Fastly, fake *fastlyfake.Fake) *Fastly {
				g := *f
				g.o.ServiceID = "nope"
				return &g
			},
			call:      change.Call{Kind: change.Tag, Items: []string{"a", "b"}},
			wantClass: purger.Permanent, wantMsg: "Cannot find service 'nope'",
		},
		{
			name:      "a relative url is permanent",
			setup:     func(f *Fastly, _ *fastlyfake.Fake) *Fastly { return f },
			call:      change.Call{Kind: change.URL, Items: []string{"/news"}},
			wantClass: purger.Permanent, wantMsg: "not an absolute URL",
		},
		{
			name:      "prefix is not a Fastly purge",
			setup:     func(f *Fastly, _ *fastlyfake.Fake) *Fastly { return f },
			call:      change.Call{Kind: change.Prefix, Items: []string{"https://www.example.com/news"}},
			wantClass: purger.Permanent, wantMsg: "cannot purge prefix",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, fake := newPair(t, false)
			f = tt.setup(f, fake)
			_, err := f.Purge(context.Background(), tt.call)
			var pe *purger.Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want *purger.Error", err)
			}
			if pe.Class != tt.wantClass || pe.After != tt.wantAfter {
				t.Errorf("class %s after %s, want %s after %s (%v)", pe.Class, pe.After, tt.wantClass, tt.wantAfter, err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("err = %q, want it to contain %q", err, tt.wantMsg)
			}
			if !strings.HasPrefix(err.Error(), "fastly[prod]: ") {
				t.Errorf("err = %q does not name the provider", err)
			}
			if strings.Contains(err.Error(), testToken) || strings.Contains(err.Error(), selectToken) {
				t.Errorf("err = %q carries the token", err)
			}
		})
	}
}

func TestInvalidKeysArePermanentButValidOnesArePurged(t *testing.T) {
	t.Parallel()
	f, fake := newPair(t, false)
	long := strings.Repeat("x", MaxKeyBytes+1)
	_, err := f.Purge(context.Background(), change.Call{Kind: change.Tag, Items: []string{"ok-1", "has space", long, "ok-2", "café"}})
	if c, _ := purger.Classify(err); err == nil || c != purger.Permanent {
		t.Fatalf("err = %v, want permanent", err)
	}
	if !strings.Contains(err.Error(), "3 tags are not valid surrogate keys") {
		t.Errorf("err = %v", err)
	}
	var got []string
	for _, p := range fake.Purges() {
		got = append(got, p.Target)
	}
	if !slices.Equal(got, []string{"ok-1", "ok-2"}) {
		t.Errorf("purged %q, want the two valid keys", got)
	}
}

func TestRateLimitWait(t *testing.T) {
	t.Parallel()
	f := &Fastly{o: Options{Now: func() time.Time { return testNow }}}
	tests := []struct {
		hdr  http.Header
		want time.Duration
	}{
		{http.Header{"Fastly-Ratelimit-Reset": {fmt.Sprint(testNow.Add(90 * time.Second).Unix())}}, 90 * time.Second},
		{http.Header{"Fastly-Ratelimit-Reset": {fmt.Sprint(testNow.Add(-time.Minute).Unix())}}, time.Second},
		{http.Header{"Fastly-Ratelimit-Reset": {"soon"}, "Retry-After": {"7"}}, 7 * time.Second},
		{http.Header{}, purger.DefaultRetryAfter},
	}
	for _, tt := range tests {
		if got := f.rateLimitWait(tt.hdr); got != tt.want {
			t.Errorf("rateLimitWait(%v) = %s, want %s", tt.hdr, got, tt.want)
		}
	}
}

func TestChunkKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		keys     []string
		n, bytes int
		want     []int
	}{
		{nil, 3, 100, nil},
		{[]string{"a", "b", "c", "d"}, 3, 100, []int{3, 1}},
		{[]string{"aaaa", "bbbb", "cccc"}, 10, 9, []int{2, 1}}, // "aaaa bbbb" is 9 bytes
		{[]string{"aaaa", "bbbb", "cccc"}, 10, 8, []int{1, 1, 1}},
		{[]string{"aaaa", "bbbb", "cccc"}, 10, 14, []int{3}},
	}
	for _, tt := range tests {
		var got []int
		for _, c := range chunkKeys(tt.keys, tt.n, tt.bytes) {
			got = append(got, len(c))
			if l := len(strings.Join(c, " ")); l > tt.bytes {
				t.Errorf("chunk %q is %d bytes > %d", c, l, tt.bytes)
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("chunkKeys(%q, %d, %d) sizes = %v, want %v", tt.keys, tt.n, tt.bytes, got, tt.want)
		}
	}
}

func TestZeroItemsAndCancelledContextMakeNoRequest(t *testing.T) {
	t.Parallel()
	f, fake := newPair(t, false)
	for _, k := range []change.TargetKind{change.URL, change.Tag} {
		if _, err := f.Purge(context.Background(), change.Call{Kind: k}); err != nil {
			t.Errorf("zero %s items: %v", k, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.Purge(ctx, change.Call{Kind: change.Everything}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v, want context.Canceled", err)
	}
	if n := len(fake.Received()); n != 0 {
		t.Errorf("%d requests, want none", n)
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	for _, c := range []Config{
		{Token: "t"},
		{ServiceID: "s"},
		{ServiceID: "s", Token: "t", APIURL: "ftp://api"},
	} {
		if _, err := New(Options{Name: "x", Config: c}); err == nil || strings.Contains(err.Error(), "t\"") {
			t.Errorf("New(%+v) = %v, want an error", c, err)
		}
	}
	f, err := New(Options{Name: "x", Config: Config{ServiceID: "s", Token: "t"}})
	if err != nil || f.o.APIURL != DefaultAPIURL {
		t.Errorf("default api_url = %q, %v", f.o.APIURL, err)
	}
}

func TestRedirectIsNotFollowed(t *testing.T) {
	t.Parallel()
	_, fake := newPair(t, false)
	redirect := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, fake.URL+r.URL.Path, http.StatusMovedPermanently)
	})
	srv := httptest.NewServer(redirect)
	t.Cleanup(srv.Close)
	f, err := New(Options{Name: "prod", Config: Config{APIURL: srv.URL, ServiceID: testService, Token: testToken}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Purge(context.Background(), change.Call{Kind: change.Tag, Items: []string{"a"}})
	if c, _ := purger.Classify(err); err == nil || c != purger.Permanent || !strings.Contains(err.Error(), "301") {
		t.Errorf("err = %v, want a permanent 301", err)
	}
	if n := len(fake.Received()); n != 0 {
		t.Errorf("the redirect was followed: %d requests reached the API", n)
	}
}
