package akamai_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/purger"
	"github.com/purgehook/purgehook/purger/akamai"
	"github.com/purgehook/purgehook/purger/akamai/akamaitest"
	"github.com/purgehook/purgehook/purger/purgertest"
)

var creds = akamaitest.Credentials{
	ClientToken:  "akab-client-token-3v4kq5ytwzd2fo7r",
	ClientSecret: "C113nt53KR3TN6N90yVuAgICxIRwsObLi0E67/N8eRN=",
	AccessToken:  "akab-access-token-xqvp6kbt3ixk6gcj",
}

var secrets = []string{creds.ClientToken, creds.ClientSecret, creds.AccessToken}

func newClock() *purgertest.Clock {
	return purgertest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
}

func newPurger(t *testing.T, fake *akamaitest.Fake, o akamai.Options) *akamai.Purger {
	t.Helper()
	if o.Name == "" {
		o.Name = "edge"
	}
	o.Host = "akab-host.luna.akamaiapis.net"
	if o.ClientToken == "" {
		o.ClientToken = creds.ClientToken
	}
	if o.ClientSecret == "" {
		o.ClientSecret = creds.ClientSecret
	}
	if o.AccessToken == "" {
		o.AccessToken = creds.AccessToken
	}
	o.APIURL = fake.URL
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	p, err := akamai.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConformance(t *testing.T) {
	purgertest.Run(t, purgertest.Harness{
		New: func(t *testing.T, logger *slog.Logger) (purger.Purger, purgertest.Fake) {
			fake := akamaitest.NewServer(t, akamaitest.Options{
				Credentials: creds,
				Hostnames:   []string{"www.example.com"},
				CPCodes:     []int{12345, 67890},
				MaxObjects:  akamai.DefaultPerCall,
			})
			// Each reading of the clock is a second later, so the suite's
			// polls see the estimated five seconds pass.
			clk := newClock()
			clk.Tick = time.Second
			return newPurger(t, fake, akamai.Options{Logger: logger, Now: clk.Now, Config: akamai.Config{CPCodes: []string{"12345", "67890"}}}), fake
		},
		Secrets: secrets,
	})
}

func TestPurgeRequests(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		opts        akamai.Options
		call        change.Call
		wantAction  string
		wantType    string
		wantNetwork string
		wantBody    string
	}{
		{
			name: "invalidate urls on production", call: change.Call{Kind: change.URL, Items: []string{
				"https://www.example.com/a?x=1&y=2", "https://www.example.com/ação#top", "https://www.example.com/50%/a%20b",
			}},
			wantAction: "invalidate", wantType: "url", wantNetwork: "production",
			wantBody: `{"objects":["https://www.example.com/a?x=1&y=2","https://www.example.com/a%C3%A7%C3%A3o","https://www.example.com/50%25/a%20b"]}`,
		},
		{
			name: "delete tags on staging", opts: akamai.Options{Config: akamai.Config{Network: "staging", Action: "delete"}},
			call:       change.Call{Kind: change.Tag, Items: []string{"black-friday", "product_42"}},
			wantAction: "delete", wantType: "tag", wantNetwork: "staging",
			wantBody: `{"objects":["black-friday","product_42"]}`,
		},
		{
			name: "everything purges the configured cp codes", opts: akamai.Options{Config: akamai.Config{CPCodes: []string{"12345", " 67890"}}},
			call:       change.Call{Kind: change.Everything},
			wantAction: "invalidate", wantType: "cpcode", wantNetwork: "production",
			wantBody: `{"objects":[12345,67890]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := akamaitest.NewServer(t, akamaitest.Options{Credentials: creds, CPCodes: []int{12345, 67890}, Hostnames: []string{"www.example.com"}})
			clk := newClock()
			tt.opts.Now = clk.Now
			p := newPurger(t, fake, tt.opts)
			res, err := p.Purge(t.Context(), tt.call)
			if err != nil {
				t.Fatal(err)
			}
			got := fake.Purges()
			if len(got) != 1 {
				t.Fatalf("fake accepted %d purges, want 1", len(got))
			}
			g := got[0]
			if g.Action != tt.wantAction || g.Type != tt.wantType || g.Network != tt.wantNetwork || string(g.Body) != tt.wantBody {
				t.Errorf("got %s/%s/%s %s, want %s/%s/%s %s", g.Action, g.Type, g.Network, g.Body, tt.wantAction, tt.wantType, tt.wantNetwork, tt.wantBody)
			}
			if !res.Pending || res.CheckAfter != 5*time.Second || !strings.HasPrefix(res.Ref, g.ID+"@") {
				t.Errorf("result = %+v, want pending, check after 5s, ref %s@…", res, g.ID)
			}
		})
	}
}

func TestCompletion(t *testing.T) {
	t.Parallel()
	fake := akamaitest.NewServer(t, akamaitest.Options{Credentials: creds, EstimatedSeconds: 7})
	clk := newClock()
	p := newPurger(t, fake, akamai.Options{Now: clk.Now})
	call := change.Call{ID: 9, Kind: change.Tag, Items: []string{"t1"}}
	res, err := p.Purge(t.Context(), call)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Pending || res.CheckAfter != 7*time.Second {
		t.Fatalf("result = %+v, want pending for 7s", res)
	}
	call.Ref = res.Ref
	requests := fake.Requests()

	steps := []struct {
		advance   time.Duration
		wantDone  bool
		wantAfter time.Duration
	}{
		{0, false, 7 * time.Second},
		{3 * time.Second, false, 4 * time.Second},
		{4 * time.Second, true, 0},
		{time.Hour, true, 0},
	}
	for i, s := range steps {
		clk.Advance(s.advance)
		// A purger built after a restart completes the call from its Ref.
		q := p
		if i%2 == 1 {
			q = newPurger(t, fake, akamai.Options{Now: clk.Now})
		}
		done, after, err := q.Completed(t.Context(), call)
		if err != nil || done != s.wantDone || after != s.wantAfter {
			t.Errorf("step %d: Completed = %t, %s, %v; want %t, %s", i, done, after, err, s.wantDone, s.wantAfter)
		}
	}
	if got := fake.Requests(); got != requests {
		t.Errorf("Completed made %d requests; Fast Purge has no status endpoint", got-requests)
	}
	if done, _, err := p.Completed(t.Context(), change.Call{Ref: "edcp-legacy"}); !done || err != nil {
		t.Errorf("a ref without a time: done %t, %v; want done", done, err)
	}
}

func urls(n, size int) []string {
	out := make([]string, n)
	for i := range out {
		u := fmt.Sprintf("https://www.example.com/p/%06d/", i)
		out[i] = u + strings.Repeat("x", size-len(u))
	}
	return out
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	t.Run("a call the planner may make fits", func(t *testing.T) {
		t.Parallel()
		fake := akamaitest.NewServer(t, akamaitest.Options{Credentials: creds})
		p := newPurger(t, fake, akamai.Options{})
		l := p.Limits()
		n := l.Max(change.URL)
		items := urls(n, l.BodyBytes/n) // exactly BodyBytes item bytes
		if _, err := p.Purge(t.Context(), change.Call{Kind: change.URL, Items: items}); err != nil {
			t.Fatalf("a call of %d urls and %d item bytes failed: %v", n, l.BodyBytes, err)
		}
		if got := len(fake.Purges()[0].Body); got > akamai.MaxBodyBytes {
			t.Errorf("body of %d bytes", got)
		}
	})
	t.Run("a larger body is split before it is sent", func(t *testing.T) {
		t.Parallel()
		fake := akamaitest.NewServer(t, akamaitest.Options{Credentials: creds})
		p := newPurger(t, fake, akamai.Options{})
		_, err := p.Purge(t.Context(), change.Call{Kind: change.URL, Items: urls(400, 130)})
		if c, _ := purger.Classify(err); c != purger.TooLarge {
			t.Errorf("got %v, want too_large", err)
		}
		if fake.Requests() != 0 {
			t.Error("an oversized body was sent")
		}
		_, err = p.Purge(t.Context(), change.Call{Kind: change.URL, Items: urls(1, 60000)})
		if c, _ := purger.Classify(err); c != purger.Permanent {
			t.Errorf("one object over the limit: got %v, want permanent", err)
		}
	})
	t.Run("413 from the API splits", func(t *testing.T) {
		t.Parallel()
		fake := akamaitest.NewServer(t, akamaitest.Options{Credentials: creds, MaxObjects: 2})
		p := newPurger(t, fake, akamai.Options{})
		_, err := p.Purge(t.Context(), change.Call{Kind: change.Tag, Items: []string{"a", "b", "c"}})
		var pe *purger.Error
		if !errors.As(err, &pe) || pe.Class != purger.TooLarge || pe.Status != 413 {
			t.Fatalf("got %v, want a 413 too_large", err)
		}
		if !strings.Contains(pe.Msg, "Request Entity Too Large") {
			t.Errorf("Msg %q does not carry the problem title", pe.Msg)
		}
	})
}

func TestRateLimits(t *testing.T) {
	t.Parallel()
	tags := make([]string, 500)
	for i := range tags {
		tags[i] = fmt.Sprintf("tag-%d", i)
	}
	tests := []struct {
		name      string
		call      change.Call
		accepted  int // calls that fit the bucket
		title     string
		wantAfter time.Duration
	}{
		// 10,000 URL tokens, 200 a second: 500 more need 2.5 s, rounded up.
		{"url objects", change.Call{Kind: change.URL, Items: urls(500, 40)}, 20, "URL Rate Limit exceeded", 3 * time.Second},
		// 5,000 tag tokens, 500 a minute: 500 more need a minute.
		{"tag objects", change.Call{Kind: change.Tag, Items: tags}, 10, "TAG Rate Limit exceeded", 60 * time.Second},
		// 100 requests, 50 a second.
		{"requests", change.Call{Kind: change.Tag, Items: []string{"one"}}, 100, "Rate Limit exceeded", time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			fake := akamaitest.NewServer(t, akamaitest.Options{Credentials: creds, Now: clk.Now})
			p := newPurger(t, fake, akamai.Options{})
			for i := range tt.accepted {
				if _, err := p.Purge(t.Context(), tt.call); err != nil {
					t.Fatalf("call %d within the bucket: %v", i+1, err)
				}
			}
			_, err := p.Purge(t.Context(), tt.call)
			var pe *purger.Error
			if !errors.As(err, &pe) || pe.Class != purger.Snooze || pe.Status != 429 {
				t.Fatalf("call over the bucket: got %v, want a 429 snooze", err)
			}
			if pe.After != tt.wantAfter {
				t.Errorf("After = %s, want %s (from X-Ratelimit-Seconds-To-Refresh-Limit*)", pe.After, tt.wantAfter)
			}
			if !strings.HasPrefix(pe.Msg, tt.title) || !strings.Contains(pe.Msg, "remaining") {
				t.Errorf("Msg %q, want the problem title %q and the rateLimit fields", pe.Msg, tt.title)
			}
			clk.Advance(pe.After)
			if _, err := p.Purge(t.Context(), tt.call); err != nil {
				t.Errorf("after waiting %s: %v", pe.After, err)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		opts   akamai.Options
		call   change.Call
		fail   purgertest.Failure
		class  purger.Class
		status int
		msg    string
	}{
		{"wrong secret", akamai.Options{Config: akamai.Config{ClientSecret: "d3JvbmcgY2xpZW50IHNlY3JldA=="}}, change.Call{Kind: change.Tag, Items: []string{"a"}}, 0,
			purger.Permanent, 401, "Not authorized: The signature does not match"},
		{"unknown client token", akamai.Options{Config: akamai.Config{ClientToken: "akab-someone-else"}}, change.Call{Kind: change.Tag, Items: []string{"a"}}, 0,
			purger.Permanent, 401, "Invalid authorization client_token"},
		{"bad tag", akamai.Options{}, change.Call{Kind: change.Tag, Items: []string{"ok", "not:allowed"}}, 0,
			purger.Permanent, 400, "bad tag: not:allowed (support id"},
		{"host not on the account", akamai.Options{}, change.Call{Kind: change.URL, Items: []string{"https://other.example.net/"}}, 0,
			purger.Permanent, 403, "unauthorized arl: https://other.example.net/"},
		{"cp code not on the account", akamai.Options{Config: akamai.Config{CPCodes: []string{"555"}}}, change.Call{Kind: change.Everything}, 0,
			purger.Permanent, 403, "unauthorized cpcode: 555"},
		{"429 without refresh headers waits five seconds", akamai.Options{}, change.Call{Kind: change.Tag, Items: []string{"a"}}, purgertest.RateLimited,
			purger.Snooze, 429, "Rate Limit exceeded"},
		{"503", akamai.Options{}, change.Call{Kind: change.Tag, Items: []string{"a"}}, purgertest.ServerError,
			purger.Retry, 503, "Service Unavailable"},
		{"relative url", akamai.Options{}, change.Call{Kind: change.URL, Items: []string{"/a"}}, 0,
			purger.Permanent, 0, "not an absolute http(s) URL"},
		{"everything without cp codes", akamai.Options{}, change.Call{Kind: change.Everything}, 0,
			purger.Permanent, 0, "without cpcodes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := akamaitest.NewServer(t, akamaitest.Options{Credentials: creds, CPCodes: []int{12345}, Hostnames: []string{"www.example.com"}})
			fake.FailNext(tt.fail)
			p := newPurger(t, fake, tt.opts)
			_, err := p.Purge(t.Context(), tt.call)
			var pe *purger.Error
			if !errors.As(err, &pe) {
				t.Fatalf("got %v, want a *purger.Error", err)
			}
			if pe.Class != tt.class || pe.Status != tt.status {
				t.Errorf("class %s status %d, want %s %d: %v", pe.Class, pe.Status, tt.class, tt.status, err)
			}
			if tt.class == purger.Snooze && pe.After != akamai.DefaultRateLimitWait {
				t.Errorf("After = %s, want %s", pe.After, akamai.DefaultRateLimitWait)
			}
			if !strings.Contains(pe.Msg, tt.msg) {
				t.Errorf("Msg %q does not contain %q", pe.Msg, tt.msg)
			}
			if !strings.HasPrefix(err.Error(), "akamai[edge]: ") {
				t.Errorf("%q does not name the provider", err)
			}
			for _, s := range append(secrets, tt.opts.ClientSecret, tt.opts.ClientToken) {
				if s != "" && strings.Contains(err.Error(), s) {
					t.Errorf("%q carries a credential", err)
				}
			}
		})
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	base := akamai.Options{Name: "a", Config: akamai.Config{Host: "akab-h.luna.akamaiapis.net", ClientToken: "ct", ClientSecret: "cs", AccessToken: "at"}}
	tests := []struct {
		name string
		edit func(*akamai.Options)
		want string
	}{
		{"no host", func(o *akamai.Options) { o.Host = "" }, "host: required"},
		{"host with a scheme", func(o *akamai.Options) { o.Host = "https://akab-h.luna.akamaiapis.net/" }, "host: want the bare API host name"},
		{"no secret", func(o *akamai.Options) { o.ClientSecret = "" }, "client_secret: required"},
		{"bad network", func(o *akamai.Options) { o.Network = "prod" }, `network: want production or staging, got "prod"`},
		{"bad action", func(o *akamai.Options) { o.Action = "purge" }, `action: want invalidate or delete, got "purge"`},
		{"bad cp code", func(o *akamai.Options) { o.CPCodes = []string{"1", "abc"} }, `cpcodes[1]: want a numeric CP code, got "abc"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := base
			tt.edit(&o)
			_, err := akamai.New(o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
	p, err := akamai.New(base)
	if err != nil {
		t.Fatal(err)
	}
	l := p.Limits()
	if l.Supports(change.Everything) || !l.Supports(change.URL) || !l.Supports(change.Tag) || !l.Async {
		t.Errorf("limits without cp codes = %+v", l)
	}
	raw, _ := json.Marshal(l)
	t.Logf("limits: %s", raw)
}
