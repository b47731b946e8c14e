package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/depcache/httpinvalidate"
	"github.com/purgehook/purgehook/purger"
	"github.com/purgehook/purgehook/purger/app"
	"github.com/purgehook/purgehook/purger/purgertest"
	"github.com/purgehook/purgehook/stream"
)

const secret = "app-secret-5f2c9e"

func TestConformance(t *testing.T) {
	t.Parallel()
	purgertest.Run(t, purgertest.Harness{
		New: func(t *testing.T, logger *slog.Logger) (purger.Purger, purgertest.Fake) {
			f := newFakeInstance(t, secret, app.DefaultPerCall)
			p, err := app.New(app.Options{Name: "conf", Logger: logger, Config: app.Config{Instances: []string{f.url()}, Secret: secret}})
			if err != nil {
				t.Fatal(err)
			}
			return p, f
		},
		NewPair: func(t *testing.T, logger *slog.Logger) purgertest.Pair {
			a, b := newFakeInstance(t, secret, app.DefaultPerCall), newFakeInstance(t, secret, app.DefaultPerCall)
			servers := [2]string{a.url(), b.url()}
			p, err := app.New(app.Options{Name: "conf", Logger: logger, Config: app.Config{Instances: servers[:], Secret: secret}})
			if err != nil {
				t.Fatal(err)
			}
			return purgertest.Pair{Purger: p, Fakes: [2]purgertest.Fake{a, b}, Servers: servers}
		},
		Secrets: []string{secret},
	})
}

func newPurger(t *testing.T, o app.Options) *app.Purger {
	t.Helper()
	if o.Name == "" {
		o.Name = "apps"
	}
	p, err := app.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func call(kind change.TargetKind, items ...string) change.Call {
	return change.Call{ID: 7, Batch: 3, Provider: "apps", Kind: kind, Items: items, Key: "batch-3-call-7"}
}

func TestFanOutToEveryInstance(t *testing.T) {
	t.Parallel()
	var insts []*fakeInstance
	var urls []string
	for range 3 {
		f := newFakeInstance(t, secret, app.DefaultPerCall)
		insts = append(insts, f)
		urls = append(urls, f.url())
	}
	p := newPurger(t, app.Options{Config: app.Config{Instances: urls, Secret: secret}})
	if _, err := p.Purge(t.Context(), call(change.Tag, "item:deluxe", "type:room")); err != nil {
		t.Fatal(err)
	}
	for i, f := range insts {
		items, _ := f.cache.snapshot()
		if strings.Join(items, ",") != "item:deluxe,type:room" {
			t.Errorf("instance %d invalidated %v", i, items)
		}
		h := f.headers[0]
		if h.Get("Content-Type") != "application/json" {
			t.Errorf("Content-Type %q", h.Get("Content-Type"))
		}
		ts, err := strconv.ParseInt(h.Get(httpinvalidate.TimestampHeader), 10, 64)
		if err != nil || time.Since(time.Unix(ts, 0)).Abs() > time.Hour {
			t.Errorf("timestamp header %q", h.Get(httpinvalidate.TimestampHeader))
		}
		if got, want := h.Get(httpinvalidate.SignatureHeader), httpinvalidate.Sign(secret, ts, f.lastBody()); got != want {
			t.Errorf("signature %q, want %q", got, want)
		}
	}
	var m map[string]any
	if err := json.Unmarshal(insts[0].lastBody(), &m); err != nil {
		t.Fatal(err)
	}
	if m["id"] != "batch-3-call-7" || m["kind"] != "tag" || len(m) != 3 {
		t.Errorf("body %s", insts[0].lastBody())
	}
	// A retry of the same call is a duplicate for instances that applied it.
	if _, err := p.Purge(t.Context(), call(change.Tag, "item:deluxe", "type:room")); err != nil {
		t.Fatal(err)
	}
	if items, _ := insts[0].cache.snapshot(); len(items) != 2 {
		t.Errorf("a retried call was applied again: %v", items)
	}
}

// TestInstancesInParallel: each instance holds its answer until every
// instance has the request, which only parallel calls can satisfy.
func TestInstancesInParallel(t *testing.T) {
	t.Parallel()
	const n = 4
	var arrived atomic.Int32
	all := make(chan struct{})
	var once sync.Once
	var urls []string
	for range n {
		srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if arrived.Add(1) == n {
				once.Do(func() { close(all) })
			}
			select {
			case <-all:
				w.Write([]byte(`{"invalidated":1}`))
			case <-time.After(10 * time.Second): // fails the test instead of hanging it
				w.WriteHeader(http.StatusGatewayTimeout)
			}
		}))
		urls = append(urls, srv.URL+"/x")
	}
	p := newPurger(t, app.Options{Config: app.Config{Instances: urls, Secret: secret}})
	if _, err := p.Purge(t.Context(), call(change.URL, "https://www.example.com/")); err != nil {
		t.Fatalf("instances were not called in parallel: %v", err)
	}
}

func TestFailureClasses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		statuses []int // per instance; 0 answers normally, -1 is down
		class    purger.Class
		status   int
		after    time.Duration
	}{
		{"one of three down", []int{0, -1, 0}, purger.Retry, 0, 0},
		{"5xx", []int{503, 0}, purger.Retry, 503, 0},
		{"429 everywhere it failed", []int{429, 0, 429}, purger.Snooze, 429, 30 * time.Second},
		{"4xx", []int{0, 404}, purger.Permanent, 404, 0},
		{"4xx everywhere", []int{400, 401}, purger.Permanent, 0, 0},
		{"413", []int{413, 0}, purger.TooLarge, 413, 0},
		// purger.Combine's rule: the gravest class wins, and the status is
		// the one its failures share.
		{"413 and 400", []int{413, 400}, purger.Permanent, 400, 0},
		{"4xx beside 5xx is permanent", []int{401, 502}, purger.Permanent, 401, 0},
		{"4xx beside 429 is permanent", []int{401, 429}, purger.Permanent, 401, 0},
		{"429 beside 5xx snoozes", []int{429, 500}, purger.Snooze, 429, 30 * time.Second},
		{"4xx everywhere, one 5xx", []int{400, 500, 403}, purger.Permanent, 0, 0},
		{"redirect", []int{302}, purger.Permanent, 302, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var urls, failing []string
			for _, st := range tc.statuses {
				switch st {
				case -1:
					l, err := net.Listen("tcp", "127.0.0.1:0")
					if err != nil {
						t.Fatal(err)
					}
					u := "http://" + l.Addr().String() + "/down"
					l.Close() // nothing listens there now
					urls, failing = append(urls, u), append(failing, u)
				default:
					f := newFakeInstance(t, secret, app.DefaultPerCall)
					f.answer(st)
					urls = append(urls, f.url())
					if st != 0 {
						failing = append(failing, f.url())
					}
				}
			}
			p := newPurger(t, app.Options{Config: app.Config{Instances: urls, Secret: secret}})
			_, err := p.Purge(t.Context(), call(change.Tag, "item:x"))
			var pe *purger.Error
			if !errors.As(err, &pe) {
				t.Fatalf("got %v, want a *purger.Error", err)
			}
			if pe.Class != tc.class || pe.Status != tc.status || pe.After != tc.after {
				t.Errorf("class %s status %d after %s; want %s %d %s: %v", pe.Class, pe.Status, pe.After, tc.class, tc.status, tc.after, err)
			}
			for _, u := range failing {
				if !strings.Contains(pe.Msg, u) {
					t.Errorf("the error does not name failing instance %s: %v", u, err)
				}
			}
			for _, u := range urls {
				if !slicesContains(failing, u) && strings.Contains(pe.Msg, u+":") {
					t.Errorf("the error names healthy instance %s: %v", u, err)
				}
			}
		})
	}
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestCredentialsStayOutOfErrors(t *testing.T) {
	t.Parallel()
	f := newFakeInstance(t, secret, app.DefaultPerCall)
	f.answer(http.StatusForbidden)
	withCreds := strings.Replace(f.url(), "http://", "http://deploy:hunter2pass@", 1) + "?token=qtok-777"
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	down := "http://ops:down-pass-9@" + l.Addr().String() + "/x?key=qkey-888"
	l.Close()
	p := newPurger(t, app.Options{Config: app.Config{Instances: []string{withCreds, down}, Secret: secret}})
	_, err := p.Purge(t.Context(), call(change.Tag, "a"))
	if err == nil {
		t.Fatal("no error")
	}
	for _, s := range []string{"hunter2pass", "deploy", "qtok-777", "down-pass-9", "ops:", "qkey-888", secret} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error carries %q: %v", s, err)
		}
	}
	if !strings.Contains(err.Error(), f.url()) || !strings.Contains(err.Error(), "127.0.0.1") {
		t.Errorf("error does not name the instances: %v", err)
	}
}

func TestStaleClockIsRefused(t *testing.T) {
	t.Parallel()
	f := newFakeInstance(t, secret, app.DefaultPerCall)
	p := newPurger(t, app.Options{Now: func() time.Time { return time.Now().Add(-10 * time.Minute) }, Config: app.Config{Instances: []string{f.url()}, Secret: secret}})
	_, err := p.Purge(t.Context(), call(change.Tag, "a"))
	if c, _ := purger.Classify(err); c != purger.Permanent || !strings.Contains(err.Error(), "authentication failed") {
		t.Errorf("a signature 10 minutes old: %v", err)
	}
}

type publisher struct {
	mu     sync.Mutex
	bodies []string
	err    error
}

func (p *publisher) Publish(_ context.Context, body []byte) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return 0, p.err
	}
	p.bodies = append(p.bodies, string(body))
	return int64(len(p.bodies)), nil
}

func TestStream(t *testing.T) {
	t.Parallel()
	pub := &publisher{}
	p := newPurger(t, app.Options{Publisher: pub, Config: app.Config{Stream: true}}) // stream only: no instances, no secret
	if _, err := p.Purge(t.Context(), call(change.URL, "https://www.example.com/a?x=1&y=<2>")); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Purge(t.Context(), change.Call{Kind: change.Everything, Key: "k2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Purge(t.Context(), call(change.Tag)); err != nil { // zero items: nothing to publish
		t.Fatal(err)
	}
	want := []string{
		`{"id":"batch-3-call-7","kind":"url","items":["https://www.example.com/a?x=1&y=<2>"]}`,
		`{"id":"k2","kind":"everything","items":[]}`,
	}
	if strings.Join(pub.bodies, "\n") != strings.Join(want, "\n") {
		t.Errorf("published\n%s\nwant\n%s", strings.Join(pub.bodies, "\n"), strings.Join(want, "\n"))
	}
	pub.err = errors.New("database is locked")
	_, err := p.Purge(t.Context(), call(change.Tag, "a"))
	if c, _ := purger.Classify(err); c != purger.Retry || !strings.Contains(err.Error(), "database is locked") {
		t.Errorf("a failed publish: %v", err)
	}

	// With instances too: both get the call.
	f := newFakeInstance(t, secret, app.DefaultPerCall)
	log := stream.NewMemLog(10)
	hub, err := stream.NewHub(stream.Options{Log: log})
	if err != nil {
		t.Fatal(err)
	}
	start, _ := log.LatestID(t.Context())
	both := newPurger(t, app.Options{Publisher: hub, Config: app.Config{Instances: []string{f.url()}, Secret: secret, Stream: true}})
	if _, err := both.Purge(t.Context(), call(change.Tag, "item:spa")); err != nil {
		t.Fatal(err)
	}
	evs, err := log.Since(t.Context(), start, 10)
	if err != nil || len(evs) != 1 || string(evs[0].Data) != string(f.lastBody()) {
		t.Errorf("stream has %v (%v); instance got %s", evs, err, f.lastBody())
	}
}

func TestNewChecksOptions(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]app.Config{
		"nothing to call":    {},
		"no secret":          {Instances: []string{"http://10.0.0.5:8080/_purgehook/invalidate"}},
		"not a URL":          {Instances: []string{"10.0.0.5:8080"}, Secret: "s"},
		"unsupported scheme": {Instances: []string{"ftp://10.0.0.5/x"}, Secret: "s"},
	} {
		if _, err := app.New(app.Options{Name: "a", Config: c}); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
	// The effective limits (overrides from the file, applied by the
	// caller) are what the purger declares and enforces.
	eff := app.Config{}.Limits()
	eff.PerCall[change.URL], eff.BodyBytes = 200, 4096
	p := newPurger(t, app.Options{Limits: eff, Config: app.Config{Instances: []string{"http://10.0.0.5:8080/x"}, Secret: "s"}})
	l := p.Limits()
	if l.Max(change.URL) != 200 || l.Max(change.Tag) != app.DefaultPerCall || l.BodyBytes != 4096 || len(l.Kinds) != 5 {
		t.Errorf("limits %+v", l)
	}
}

// TestBodyIsTheWireFormat pins the exact bytes of a call: instances
// verify the signature over these bytes, and the stream carries them as
// they are. The message type is depcache/httpinvalidate's; what this
// package adds is how a change.Call maps onto it.
func TestBodyIsTheWireFormat(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		call change.Call
		want string
	}{
		{change.Call{Key: "b3-c7", Kind: change.Tag, Items: []string{"item:spa", "type:room"}},
			`{"id":"b3-c7","kind":"tag","items":["item:spa","type:room"]}`},
		// URLs keep their & < > as they are (no \u0026).
		{change.Call{Key: "k", Kind: change.URL, Items: []string{"https://hotel.example/rooms?a=1&b=<2>"}},
			`{"id":"k","kind":"url","items":["https://hotel.example/rooms?a=1&b=<2>"]}`},
		{change.Call{Key: "k", Kind: change.Prefix, Items: []string{"https://hotel.example/en/"}},
			`{"id":"k","kind":"prefix","items":["https://hotel.example/en/"]}`},
		{change.Call{Key: "k", Kind: change.Host, Items: []string{"hotel.example"}},
			`{"id":"k","kind":"host","items":["hotel.example"]}`},
		// everything has no items, sent as [] rather than null, and ignores
		// any it was given.
		{change.Call{Key: "k", Kind: change.Everything}, `{"id":"k","kind":"everything","items":[]}`},
		{change.Call{Key: "k", Kind: change.Everything, Items: []string{"x"}}, `{"id":"k","kind":"everything","items":[]}`},
	} {
		got, err := app.Body(tc.call)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tc.want {
			t.Errorf("Body(%s %v)\n got %s\nwant %s", tc.call.Kind, tc.call.Items, got, tc.want)
		}
	}
	// Every kind purgehook plans is one the library applies.
	known := []string{httpinvalidate.KindURL, httpinvalidate.KindTag, httpinvalidate.KindPrefix, httpinvalidate.KindHost, httpinvalidate.KindEverything}
	for _, k := range change.AllKinds {
		if !slices.Contains(known, string(k)) {
			t.Errorf("kind %q is not one of depcache/httpinvalidate's %v", k, known)
		}
	}
}
