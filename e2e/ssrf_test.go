package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/purgehook/purgehook/store"
)

// A purged page that answers 302 to a host no site is configured on is not
// fetched there: the warm-up is recorded as failed, saying why, among the
// batch's warm-ups; a redirect to the site's alias is followed.
func TestWarmFollowsRedirectsOnlyWithinTheSite(t *testing.T) {
	var internal atomic.Int64
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		internal.Add(1)
		fmt.Fprint(w, "metadata")
	}))
	defer elsewhere.Close()
	alias := newOrigin(t)
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/off":
			http.Redirect(w, r, elsewhere.URL+"/latest/meta-data/", http.StatusFound)
		case "/moved":
			http.Redirect(w, r, alias.URL+"/moved", http.StatusMovedPermanently)
		default:
			fmt.Fprint(w, "page")
		}
	}))
	defer site.Close()
	// Every host here is 127.0.0.1 on a port of its own: the configured ones
	// are dialled although they are loopback, the other is not.
	s := startService(t, fmt.Sprintf(`
store: {driver: sqlite, dsn: $DIR/ph.db}
sites:
  - {name: site, base_url: %s, aliases: [%s]}
sources:
  - {name: cms, kind: generic, secret: %s, site: site}
providers:
  - {name: dry, kind: log}
coalesce: 50ms
warm: {concurrency: 2, delay: 1ms}
`, site.URL, alias.URL, secret))

	if status, body := send(t, s.hooks.URL, publishPayload("p", "/off", "/moved", "/ok")); status != http.StatusAccepted {
		t.Fatalf("status %d %v", status, body)
	}
	bs := waitBatches(t, s.Store, 30*time.Second)
	warms, err := s.Store.WarmList(context.Background(), bs[0].ID, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]store.Warm{}
	for _, w := range warms {
		got[strings.TrimPrefix(w.URL, site.URL)] = w
	}
	if w := got["/off"]; w.State != store.WarmFailed || !strings.Contains(w.Error, "not a configured host") || w.Status != 0 {
		t.Errorf("/off: %+v, want failed as off-site", w)
	}
	if w := got["/moved"]; w.State != store.WarmDone || w.Status != 200 {
		t.Errorf("/moved: %+v, want done via the alias", w)
	}
	if w := got["/ok"]; w.State != store.WarmDone {
		t.Errorf("/ok: %+v", w)
	}
	if n := internal.Load(); n != 0 {
		t.Errorf("the off-site host was fetched %d time(s)", n)
	}
	if alias.warmed("/moved") != 1 {
		t.Errorf("the alias was warmed %d time(s)", alias.warmed("/moved"))
	}
}
