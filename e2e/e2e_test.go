// Package e2e tests purgehook whole: a signed webhook in, provider calls
// and warm-up requests out, against fakes that enforce the providers'
// documented contracts, a real Varnish, and a real process that is killed
// mid-work.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/purgehook/purgehook/app"
	"github.com/purgehook/purgehook/purger/cloudflare/cloudflaretest"
	"github.com/purgehook/purgehook/source/generic"
	"github.com/purgehook/purgehook/store"
)

const secret = "e2e-secret-9f1c"

// origin is a test website: it counts requests per path and remembers the
// warm-up header.
type origin struct {
	*httptest.Server
	mu      sync.Mutex
	hits    map[string]int
	warmups map[string]int
	version map[string]int
}

func newOrigin(t *testing.T) *origin {
	o := &origin{hits: map[string]int{}, warmups: map[string]int{}, version: map[string]int{}}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.hits[r.URL.Path]++
		if r.Header.Get("X-Warmup") == "true" {
			o.warmups[r.URL.Path]++
		}
		v := o.version[r.URL.Path]
		o.mu.Unlock()
		w.Header().Set("Cache-Control", "public, max-age=0, s-maxage=31536000")
		w.Header().Set("xkey", "page:"+strings.Trim(r.URL.Path, "/"))
		fmt.Fprintf(w, "%s v%d\n", r.URL.Path, v)
	}))
	t.Cleanup(o.Close)
	return o
}

func (o *origin) publish(path string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.version[path]++
}

func (o *origin) warmed(path string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.warmups[path]
}

// service runs purgehook in-process on a temporary SQLite store.
type service struct {
	*app.Service
	hooks *httptest.Server
	dir   string
	once  sync.Once
}

func startService(t *testing.T, yaml string) *service {
	t.Helper()
	return startServiceIn(t, t.TempDir(), yaml)
}

// startServiceIn starts purgehook on the store in dir; Stop and start
// again on the same dir is a restart.
func startServiceIn(t *testing.T, dir, yaml string) *service {
	t.Helper()
	yaml = strings.ReplaceAll(yaml, "$DIR", dir)
	cfg, err := app.ParseConfig([]byte(yaml))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	s, err := app.New(ctx, cfg, app.Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	hooks := httptest.NewServer(s.Handler())
	svc := &service{Service: s, hooks: hooks, dir: dir}
	t.Cleanup(svc.stop)
	return svc
}

// stop shuts the service down; it is safe to call twice.
func (s *service) stop() {
	s.once.Do(func() {
		s.hooks.Close()
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Close(cctx)
	})
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

type payload struct {
	Event   string `json:"event"`
	Content struct {
		ID          string   `json:"id"`
		ContentType string   `json:"contentType,omitempty"`
		Cultures    []string `json:"cultures,omitempty"`
		URLs        []string `json:"urls"`
		Tags        []string `json:"tags,omitempty"`
	} `json:"content"`
	Dependencies []string `json:"dependencies,omitempty"`
}

func publishPayload(id string, urls ...string) payload {
	var p payload
	p.Event = "ContentPublished"
	p.Content.ID = id
	p.Content.URLs = urls
	return p
}

// send posts a signed generic webhook to the source every test's
// configuration names cms, and returns the status.
func send(t *testing.T, base string, p payload) (int, map[string]any) {
	t.Helper()
	body, _ := json.Marshal(p)
	req, _ := http.NewRequest(http.MethodPost, base+"/hooks/cms", strings.NewReader(string(body)))
	req.Header.Set(generic.SignatureHeader, generic.Sign(secret, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	defer resp.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

// publishMany sends n deliveries, item-i with the pages /news/i and
// /en/news/i, at most `at` of them at a time, to bases in turn; it returns
// how many were accepted and the absolute URLs of those.
func publishMany(t *testing.T, bases []string, n, at int) (int, map[string]bool) {
	t.Helper()
	want := map[string]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, at)
	accepted := 0
	for i := range n {
		u1, u2 := fmt.Sprintf("/news/%d", i), fmt.Sprintf("/en/news/%d", i)
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			status, _ := send(t, bases[i%len(bases)], publishPayload(fmt.Sprintf("item-%d", i), u1, u2))
			if status == http.StatusAccepted {
				mu.Lock()
				accepted++
				want["https://www.site.example"+u1] = true
				want["https://www.site.example"+u2] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return accepted, want
}

// waitBatches waits until every batch is settled and nothing is queued.
func waitBatches(t *testing.T, st *store.Store, timeout time.Duration) []store.Batch {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		pending, _, _, err := st.PendingWindow(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		open := len(openJobs(t, st))
		bs, err := st.BatchList(context.Background(), 1000)
		if err != nil {
			t.Fatal(err)
		}
		settled := pending == 0 && open == 0 && len(bs) > 0
		for _, b := range bs {
			if b.State != store.BatchDone && b.State != store.BatchFailed {
				settled = false
			}
		}
		if settled {
			return bs
		}
		if time.Now().After(deadline) {
			var jobs []string
			for _, j := range openJobs(t, st) {
				jobs = append(jobs, fmt.Sprintf("%d %s %s attempt=%d args=%s errors=%v", j.ID, j.Kind, j.State, j.Attempt, j.EncodedArgs, j.Errors))
			}
			t.Fatalf("not settled after %s: %d pending targets, %d open jobs %q, batches %+v", timeout, pending, open, jobs, bs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestWebhookToCloudflareToWarm(t *testing.T) {
	cf := cloudflaretest.NewServer(t, cloudflaretest.Options{})
	o := newOrigin(t)
	s := startService(t, fmt.Sprintf(`
store: {driver: sqlite, dsn: $DIR/ph.db}
sites:
  - {name: site, base_url: %s, warm: [/]}
sources:
  - {name: cms, kind: generic, secret: %s, site: site}
providers:
  - {name: cf, kind: cloudflare, zone: %s, token: %s, api_url: %s}
coalesce: 200ms
warm: {concurrency: 5, delay: 10ms}
`, o.URL, secret, cf.Zone(), cf.Token(), cf.APIURL()))

	var urls []string
	for i := range 70 {
		urls = append(urls, fmt.Sprintf("/en/rooms/%d", i))
	}
	start := time.Now()
	status, body := send(t, s.hooks.URL, publishPayload("room-1", urls...))
	if status != http.StatusAccepted || body["changes"] != 1.0 {
		t.Fatalf("status %d body %v", status, body)
	}
	bs := waitBatches(t, s.Store, 30*time.Second)
	elapsed := time.Since(start)
	if len(bs) != 1 || bs[0].State != store.BatchDone {
		t.Fatalf("batches %+v", bs)
	}

	got := map[string]int{}
	calls := cf.Accepted()
	for _, c := range calls {
		if c.Key != "files" {
			t.Errorf("unexpected %s call", c.Key)
		}
		if len(c.Items) > 30 {
			t.Errorf("a call carried %d URLs (limit 30)", len(c.Items))
		}
		for _, it := range c.Items {
			got[it]++
		}
	}
	for _, u := range urls {
		if got[o.URL+u] == 0 {
			t.Errorf("%s never purged", u)
		}
		if o.warmed(u) == 0 {
			t.Errorf("%s never warmed with X-Warmup: true", u)
		}
	}
	if len(calls) != 3 {
		t.Errorf("%d calls for 70 URLs, want 3", len(calls))
	}
	t.Logf("measured: 70 URLs → %d Cloudflare calls; webhook → last warm-up in %s", len(calls), elapsed.Round(time.Millisecond))

	warms, _ := s.Store.WarmList(context.Background(), bs[0].ID, "", 1000)
	if len(warms) != 70 {
		t.Errorf("%d warm outcomes recorded, want 70", len(warms))
	}
	for _, w := range warms {
		if w.State != "done" || w.Status != 200 {
			t.Errorf("warm %s: %s %d %s", w.URL, w.State, w.Status, w.Error)
		}
	}
	metrics := scrape(t, s.hooks.URL)
	for _, want := range []string{
		`purgehook_webhooks_total{outcome="accepted",source="cms"} 1`,
		`purgehook_purge_calls_total{outcome="done",provider="cf"} 3`,
		`purgehook_purge_items_total{kind="url",provider="cf"} 70`,
		`purgehook_warm_requests_total{outcome="ok"} 70`,
		`purgehook_queue_jobs{state="completed"}`,
		`purgehook_webhook_duration_seconds_count{source="cms"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func scrape(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestHealthAndReady(t *testing.T) {
	s := startService(t, `
store: {driver: sqlite, dsn: $DIR/ph.db}
sites: [{name: a, base_url: https://a.example}]
sources: [{name: cms, kind: generic, secret: x}]
providers: [{name: dry, kind: log}]
`)
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(s.hooks.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d", path, resp.StatusCode)
		}
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := t.TempDir() + "/" + name
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// listJobs lists River's jobs through a queue that works none.
func listJobs(t *testing.T, st *store.Store, params *river.JobListParams) []*rivertype.JobRow {
	t.Helper()
	q, err := st.NewQueue(&river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := q.JobList(context.Background(), params.First(10_000))
	if err != nil {
		t.Fatal(err)
	}
	return res.Jobs
}

// openJobs lists the jobs not yet finished for good.
func openJobs(t *testing.T, st *store.Store) []*rivertype.JobRow {
	t.Helper()
	return listJobs(t, st, river.NewJobListParams().States(rivertype.JobStateAvailable, rivertype.JobStatePending,
		rivertype.JobStateRetryable, rivertype.JobStateRunning, rivertype.JobStateScheduled))
}
