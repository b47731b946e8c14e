package varnish_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/purger"
	"github.com/purgehook/purgehook/purger/varnish"
)

// seen is one request as a server received it.
type seen struct {
	method, uri, host, xkey, mode, banHost, banURL, banAll string
}

func recorder(t *testing.T, status int) (*httptest.Server, func() []seen) {
	var (
		mu  sync.Mutex
		got []seen
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, seen{r.Method, r.RequestURI, r.Host, r.Header.Get("xkey-purge"), r.Header.Get("purge-mode"),
			r.Header.Get("x-ban-host"), r.Header.Get("x-ban-url"), r.Header.Get("x-ban-all")})
		mu.Unlock()
		if status >= 300 && status < 400 {
			w.Header().Set("Location", "http://127.0.0.1:1/elsewhere")
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []seen {
		mu.Lock()
		defer mu.Unlock()
		return append([]seen(nil), got...)
	}
}

func TestRequestShapes(t *testing.T) {
	t.Parallel()
	longTags := make([]string, 100)
	for i := range longTags {
		longTags[i] = fmt.Sprintf("tag-%02d-%s", i, strings.Repeat("x", 60))
	}
	tests := []struct {
		name  string
		soft  bool
		call  change.Call
		want  []seen
		check func(t *testing.T, got []seen)
	}{
		{name: "url", call: change.Call{Kind: change.URL, Items: []string{"https://www.example.com/a/b?x=1&y=%20z", "http://Www.Example.com:8080/"}},
			want: []seen{{method: "PURGE", uri: "/a/b?x=1&y=%20z", host: "www.example.com"}, {method: "PURGE", uri: "/", host: "Www.Example.com:8080"}}},
		{name: "soft url", soft: true, call: change.Call{Kind: change.URL, Items: []string{"https://www.example.com/a"}},
			want: []seen{{method: "PURGE", uri: "/a", host: "www.example.com", mode: "soft"}}},
		{name: "tags", call: change.Call{Kind: change.Tag, Items: []string{"room-1", "rooms"}},
			want: []seen{{method: "PURGE", uri: "/", xkey: "room-1 rooms"}}},
		{name: "soft tags", soft: true, call: change.Call{Kind: change.Tag, Items: []string{"a"}},
			want: []seen{{method: "PURGE", uri: "/", xkey: "a", mode: "soft"}}},
		{name: "prefix", call: change.Call{Kind: change.Prefix, Items: []string{"https://WWW.example.com/v1.0/news"}},
			want: []seen{{method: "BAN", uri: "/", banHost: "www.example.com", banURL: "^/v1[.]0/news"}}},
		{name: "host", call: change.Call{Kind: change.Host, Items: []string{"Www.Example.com", "https://img.example.com/"}},
			want: []seen{{method: "BAN", uri: "/", banHost: "www.example.com"}, {method: "BAN", uri: "/", banHost: "img.example.com"}}},
		{name: "everything", call: change.Call{Kind: change.Everything},
			want: []seen{{method: "BAN", uri: "/", banAll: "true"}}},
		{name: "long tag list is split under the header limit", call: change.Call{Kind: change.Tag, Items: longTags},
			check: func(t *testing.T, got []seen) {
				var all []string
				for _, s := range got {
					if len(s.xkey) > varnish.MaxXkeyHeader {
						t.Errorf("xkey header of %d bytes", len(s.xkey))
					}
					all = append(all, strings.Fields(s.xkey)...)
				}
				if len(got) < 2 || strings.Join(all, " ") != strings.Join(longTags, " ") {
					t.Errorf("%d requests carried %d tags", len(got), len(all))
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, got := recorder(t, http.StatusOK)
			p := newVarnishPurger(t, varnish.Options{Config: varnish.Config{Servers: []string{srv.URL + "/ignored-path"}, SoftPurge: tt.soft}})
			if _, err := p.Purge(t.Context(), tt.call); err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, got())
				return
			}
			g := got()
			for i := range g {
				if g[i].host == srv.Listener.Addr().String() {
					g[i].host = "" // the server's own: no Host set
				}
			}
			if fmt.Sprint(g) != fmt.Sprint(tt.want) {
				t.Errorf("got  %+v\nwant %+v", g, tt.want)
			}
		})
	}
}

func TestPrefixRegex(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		path  string
		match []string
		miss  []string
	}{
		{"/news/", []string{"/news/", "/news/1", "/news/?a=1"}, []string{"/news", "/x/news/"}},
		{"/v1.0/", []string{"/v1.0/x"}, []string{"/v1x0/x"}},
		{"/a+b(c)$*?|{x}[y]^", []string{"/a+b(c)$*?|{x}[y]^", "/a+b(c)$*?|{x}[y]^/z"}, []string{"/aab(c)", "/a+b(c)$*?|{x}[y]"}},
	} {
		re := varnish.PrefixRegex(tc.path)
		if strings.ContainsAny(re, " \"\\") {
			t.Errorf("PrefixRegex(%q) = %q has a space, quote or backslash", tc.path, re)
		}
		rx := regexp.MustCompile(re)
		for _, m := range tc.match {
			if !rx.MatchString(m) {
				t.Errorf("%q (from %q) does not match %q", re, tc.path, m)
			}
		}
		for _, m := range tc.miss {
			if rx.MatchString(m) {
				t.Errorf("%q (from %q) matches %q", re, tc.path, m)
			}
		}
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	srv, got := recorder(t, http.StatusOK)
	p := newVarnishPurger(t, varnish.Options{Config: varnish.Config{Servers: []string{srv.URL}}})
	for _, c := range []change.Call{
		{Kind: change.URL, Items: []string{"/relative"}},
		{Kind: change.Tag, Items: []string{"two words"}},
		{Kind: change.Tag, Items: []string{"a,b"}},
		{Kind: change.Host, Items: []string{"www.example.com/x"}},
		{Kind: change.Prefix, Items: []string{"www.example.com/x"}},
	} {
		_, err := p.Purge(t.Context(), c)
		if cl, _ := purger.Classify(err); err == nil || cl != purger.Permanent {
			t.Errorf("%v: got %v, want permanent", c.Items, err)
		}
	}
	if n := len(got()); n != 0 {
		t.Errorf("refused items made %d requests", n)
	}
	_, err := p.Purge(t.Context(), change.Call{Kind: change.URL, Items: make([]string, varnish.DefaultURLsPerCall+1)})
	if cl, _ := purger.Classify(err); cl != purger.TooLarge {
		t.Errorf("over the limit: got %v, want too_large", err)
	}
}

func TestRedirectIsNotFollowed(t *testing.T) {
	t.Parallel()
	srv, got := recorder(t, http.StatusFound)
	p := newVarnishPurger(t, varnish.Options{Config: varnish.Config{Servers: []string{srv.URL}}})
	_, err := p.Purge(t.Context(), change.Call{Kind: change.URL, Items: []string{"https://www.example.com/a"}})
	if cl, _ := purger.Classify(err); err == nil || cl != purger.Permanent {
		t.Errorf("got %v, want permanent", err)
	}
	if n := len(got()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestWorstClassWins(t *testing.T) {
	t.Parallel()
	bad, _ := recorder(t, http.StatusForbidden)
	flaky, _ := recorder(t, http.StatusServiceUnavailable)
	ok, _ := recorder(t, http.StatusOK)
	p := newVarnishPurger(t, varnish.Options{Config: varnish.Config{Servers: []string{ok.URL, flaky.URL, bad.URL}}})
	_, err := p.Purge(t.Context(), change.Call{Kind: change.Host, Items: []string{"www.example.com"}})
	var pe *purger.Error
	if !asError(err, &pe) || pe.Class != purger.Permanent || pe.Status != 403 {
		t.Fatalf("got %v, want permanent 403", err)
	}
	for _, s := range []string{bad.URL, flaky.URL, "2 of 3 servers failed"} {
		if !strings.Contains(pe.Msg, s) {
			t.Errorf("message %q does not contain %q", pe.Msg, s)
		}
	}
	if strings.Contains(pe.Msg, ok.URL+":") {
		t.Errorf("message %q names the server that succeeded", pe.Msg)
	}
}

func TestNewChecksOptions(t *testing.T) {
	t.Parallel()
	for _, c := range []varnish.Config{
		{},
		{Servers: []string{"127.0.0.1:6081"}},
		{Servers: []string{"http://127.0.0.1:6081"}, XkeyHeader: "bad header"},
	} {
		if _, err := varnish.New(varnish.Options{Config: c}); err == nil {
			t.Errorf("New(%+v) succeeded", c)
		}
	}
	// Overrides from the file are applied by the caller (app); the purger
	// declares and enforces the effective limits it is given.
	eff := varnish.Config{}.Limits()
	eff.PerCall[change.Tag] = 7
	p, err := varnish.New(varnish.Options{Limits: eff, Config: varnish.Config{Servers: []string{"http://a"}}})
	if err != nil {
		t.Fatal(err)
	}
	if l := p.Limits(); l.Max(change.Tag) != 7 || l.Max(change.URL) != varnish.DefaultURLsPerCall || !l.Supports(change.Everything) || l.Async {
		t.Errorf("limits %+v", l)
	}
}

func asError(err error, target **purger.Error) bool { return errors.As(err, target) }
