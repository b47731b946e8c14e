package warm_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/purgehook/purgehook/config"
	"github.com/purgehook/purgehook/resolve"
	"github.com/purgehook/purgehook/warm"
)

// counting is a test origin that counts its requests.
type counting struct {
	*httptest.Server
	hits atomic.Int64
}

func origin(t *testing.T, h http.HandlerFunc) *counting {
	c := &counting{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(c.Close)
	return c
}

func ok(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") }

func fetchOne(t *testing.T, w *warm.Warmer, u string) warm.Outcome {
	t.Helper()
	var got []warm.Outcome
	if err := w.Fetch(context.Background(), []string{u}, func(o warm.Outcome) { got = append(got, o) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("%d outcomes", len(got))
	}
	return got[0]
}

func resolver(t *testing.T, sites ...config.Site) *resolve.Resolver {
	t.Helper()
	r, err := resolve.New(sites, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// localhost is srv's URL with the name localhost instead of 127.0.0.1: a
// name that resolves to loopback.
func localhost(srv *httptest.Server) string {
	return strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
}

func TestRedirectToAnotherHostIsNotFollowed(t *testing.T) {
	elsewhere := origin(t, ok)
	site := origin(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+"/internal", http.StatusFound)
	})
	w := warm.New(warm.Options{Scope: resolver(t, config.Site{Name: "s", BaseURL: site.URL})})
	o := fetchOne(t, w, site.URL+"/page")
	if !errors.Is(o.Err, warm.ErrOffSite) || o.OK() {
		t.Fatalf("outcome %+v, want an off-site error", o)
	}
	if !strings.Contains(o.Err.Error(), "redirect to "+strings.TrimPrefix(elsewhere.URL, "http://")) {
		t.Errorf("error %q does not name the redirect's host", o.Err)
	}
	if n := elsewhere.hits.Load(); n != 0 {
		t.Errorf("the other host was fetched %d time(s)", n)
	}
}

func TestRedirectToAnotherSiteIsNotFollowed(t *testing.T) {
	other := origin(t, ok)
	site := origin(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/", http.StatusMovedPermanently)
	})
	w := warm.New(warm.Options{Scope: resolver(t,
		config.Site{Name: "a", BaseURL: site.URL},
		config.Site{Name: "b", BaseURL: other.URL})})
	if o := fetchOne(t, w, site.URL+"/"); !errors.Is(o.Err, warm.ErrOffSite) {
		t.Fatalf("outcome %+v, want an off-site error", o)
	}
	if other.hits.Load() != 0 {
		t.Error("another site's host was fetched")
	}
}

func TestRedirectWithinTheSiteIsFollowed(t *testing.T) {
	alias := origin(t, ok)
	site := origin(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, localhost(alias.Server)+"/landing", http.StatusFound)
	})
	// The alias is named localhost: a configured host on loopback is
	// dialled.
	w := warm.New(warm.Options{Scope: resolver(t, config.Site{Name: "s", BaseURL: site.URL, Aliases: []string{localhost(alias.Server)}})})
	if o := fetchOne(t, w, site.URL+"/"); !o.OK() || o.Status != 200 {
		t.Fatalf("outcome %+v, want 200 from the alias", o)
	}
	if alias.hits.Load() != 1 {
		t.Errorf("alias fetched %d time(s)", alias.hits.Load())
	}
}

func TestConfiguredHostOnLoopbackIsFetched(t *testing.T) {
	site := origin(t, ok)
	w := warm.New(warm.Options{Scope: resolver(t, config.Site{Name: "s", BaseURL: localhost(site.Server)})})
	if o := fetchOne(t, w, localhost(site.Server)+"/"); !o.OK() {
		t.Fatalf("outcome %+v", o)
	}
}

func TestUnconfiguredHostIsNotFetched(t *testing.T) {
	srv := origin(t, ok)
	w := warm.New(warm.Options{Scope: resolver(t, config.Site{Name: "s", BaseURL: "https://www.example.com"})})
	if o := fetchOne(t, w, srv.URL+"/"); !errors.Is(o.Err, warm.ErrOffSite) {
		t.Fatalf("outcome %+v, want an off-site error", o)
	}
	if srv.hits.Load() != 0 {
		t.Error("fetched")
	}
}

// The dial guard holds below the URL checks: a name no site is configured
// on that resolves (or is rebound) to loopback is refused when the
// connection is made. The transport is reached here through a redirect
// the scope allows, to a name whose address is private.
func TestDialToPrivateAddressOfUnconfiguredHostIsRefused(t *testing.T) {
	target := origin(t, ok)
	site := origin(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, localhost(target.Server)+"/", http.StatusFound)
	})
	// A scope that lets every redirect through but configures only site's
	// host: the guard alone stands between the warmer and localhost.
	r := resolver(t, config.Site{Name: "s", BaseURL: site.URL})
	w := warm.New(warm.Options{Scope: lenient{r}})
	o := fetchOne(t, w, site.URL+"/")
	if !errors.Is(o.Err, warm.ErrPrivateAddress) {
		t.Fatalf("outcome %+v, want the dial refused", o)
	}
	if target.hits.Load() != 0 {
		t.Error("the private address was reached")
	}
}

// lenient follows every redirect; it dials as its resolver does.
type lenient struct{ *resolve.Resolver }

func (lenient) SameSite(*url.URL, *url.URL) bool { return true }

func TestPrivate(t *testing.T) {
	for _, tc := range []struct {
		ip   string
		want bool
	}{
		{"127.0.0.1", true}, {"10.1.2.3", true}, {"172.16.0.1", true}, {"192.168.1.1", true},
		{"169.254.169.254", true}, {"0.0.0.0", true}, {"::1", true}, {"fe80::1", true}, {"fd00::1", true},
		{"224.0.0.1", true}, {"8.8.8.8", false}, {"2606:4700::1111", false}, {"100.64.0.1", false},
	} {
		if got := warm.Private(net.ParseIP(tc.ip)); got != tc.want {
			t.Errorf("Private(%s) = %v, want %v", tc.ip, got, tc.want)
		}
	}
}
