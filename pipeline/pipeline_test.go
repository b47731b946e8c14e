package pipeline_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river/rivertype"

	"github.com/purgehook/purgehook/budget"
	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/config"
	"github.com/purgehook/purgehook/graph"
	"github.com/purgehook/purgehook/internal/pgtest"
	"github.com/purgehook/purgehook/pipeline"
	"github.com/purgehook/purgehook/plan"
	"github.com/purgehook/purgehook/purger"
	"github.com/purgehook/purgehook/resolve"
	"github.com/purgehook/purgehook/store"
)

// recorder is a purger that records calls in a shared log and fails as
// told.
type recorder struct {
	name   string
	limits change.Limits
	log    *callLog
	mu     sync.Mutex
	fail   []error // returned by the next calls, in order
	// panics makes the next calls panic, as an adapter with a bug would.
	panics int
	// together holds the first `together` calls until they have all
	// begun, so that they run at once.
	together int
	arrived  int
	release  chan struct{}
	// async makes calls pending until polled `polls` times.
	async bool
	polls int
	seen  map[string]int
}

type callLog struct {
	mu    sync.Mutex
	calls []string
}

func (l *callLog) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, s)
}

func (l *callLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.calls)
}

func (r *recorder) Name() string          { return r.name }
func (r *recorder) Limits() change.Limits { return r.limits }
func (r *recorder) Purge(ctx context.Context, c change.Call) (purger.Result, error) {
	r.mu.Lock()
	if r.arrived < r.together {
		if r.release == nil {
			r.release = make(chan struct{})
		}
		r.arrived++
		if r.arrived == r.together {
			close(r.release)
		}
		release := r.release
		r.mu.Unlock()
		select {
		case <-release:
		case <-ctx.Done():
			return purger.Result{}, ctx.Err()
		}
		r.mu.Lock()
	}
	var err error
	if len(r.fail) > 0 {
		err, r.fail = r.fail[0], r.fail[1:]
	}
	panics := r.panics > 0
	if panics {
		r.panics--
	}
	r.mu.Unlock()
	if panics {
		r.log.add(fmt.Sprintf("%s %s×%d panicked", r.name, c.Kind, len(c.Items)))
		panic("adapter bug")
	}
	if err != nil {
		r.log.add(fmt.Sprintf("%s %s×%d failed", r.name, c.Kind, len(c.Items)))
		return purger.Result{}, err
	}
	r.log.add(fmt.Sprintf("%s %s×%d", r.name, c.Kind, len(c.Items)))
	if r.async {
		return purger.Result{Pending: true, Ref: "ref-" + c.Key, CheckAfter: 10 * time.Millisecond}, nil
	}
	return purger.Result{}, nil
}

func (r *recorder) Completed(ctx context.Context, c change.Call) (bool, time.Duration, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen == nil {
		r.seen = map[string]int{}
	}
	r.seen[c.Ref]++
	done := r.seen[c.Ref] > r.polls
	if done {
		r.log.add(fmt.Sprintf("%s completed %s", r.name, c.Ref))
	}
	return done, 10 * time.Millisecond, nil
}

var all = change.Limits{Kinds: change.AllKinds, PerCall: map[change.TargetKind]int{change.URL: 10, change.Tag: 10, change.Host: 10, change.Prefix: 10}}

type harness struct {
	st  *store.Store
	pl  *pipeline.Pipeline
	reg *prometheus.Registry
}

// drivers runs a test on each store driver.
func drivers(t *testing.T, test func(t *testing.T, driver string)) {
	for _, d := range []string{store.SQLite, store.Postgres} {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			test(t, d)
		})
	}
}

func openStore(t *testing.T, driver string) *store.Store {
	t.Helper()
	dsn := filepath.Join(t.TempDir(), "p.db")
	if driver == store.Postgres {
		dsn = pgtest.DSN(t)
	}
	st, err := store.Open(context.Background(), driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func start(t *testing.T, driver string, providers ...pipeline.Provider) *harness {
	t.Helper()
	return startFull(t, openStore(t, driver), nil, nil, providers...)
}

// startWith starts a pipeline whose options edit changed.
func startWith(t *testing.T, driver string, edit func(*pipeline.Options), providers ...pipeline.Provider) *harness {
	return startFull(t, openStore(t, driver), nil, edit, providers...)
}

// startOn starts a pipeline on st; with g, it keeps g current and its
// resolver asks it.
func startOn(t *testing.T, st *store.Store, g *graph.Graph, providers ...pipeline.Provider) *harness {
	return startFull(t, st, g, nil, providers...)
}

func startFull(t *testing.T, st *store.Store, g *graph.Graph, edit func(*pipeline.Options), providers ...pipeline.Provider) *harness {
	t.Helper()
	ctx := context.Background()
	r, _ := resolve.New([]config.Site{{Name: "a", BaseURL: "https://a.example"}}, nil)
	if g != nil {
		r.SetGraph(g)
	}
	reg := prometheus.NewRegistry()
	o := pipeline.Options{
		Registerer: reg,
		Store:      st, Resolver: r, Providers: providers, Graph: g,
		Coalesce: 20 * time.Millisecond, MaxWait: time.Second,
		Workers: 4, JobTimeout: 10 * time.Second, RescueAfter: time.Minute, MaxAttempts: 3,
		RetryPolicy: quickRetry{},
		Logger:      slog.New(slog.DiscardHandler),
	}
	if edit != nil {
		edit(&o)
	}
	pl, err := pipeline.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := pl.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := pl.Stop(cctx); err != nil {
			t.Error(err)
		}
		st.Close()
	})
	return &harness{st: st, pl: pl, reg: reg}
}

func (h *harness) publish(t *testing.T, id string, urls ...string) {
	t.Helper()
	_, _, inserted, err := h.pl.Accept(context.Background(), change.Delivery{
		Source: "cms", ID: id,
		Changes: []change.Change{{Event: "publish", Kind: change.Publish, ContentID: id, URLs: urls}},
	})
	if err != nil || !inserted {
		t.Fatalf("accept: %v inserted=%v", err, inserted)
	}
}

// settle waits until the batch reaches a final state.
func (h *harness) settle(t *testing.T) store.Batch {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		bs, _ := h.st.BatchList(context.Background(), 10)
		if len(bs) > 0 && (bs[0].State == store.BatchDone || bs[0].State == store.BatchFailed) {
			return bs[0]
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("batch did not settle")
	return store.Batch{}
}

// quickRetry retries at once: the tests check what is retried, not when.
type quickRetry struct{}

func (quickRetry) NextRetry(*rivertype.JobRow) time.Time { return time.Now() }

func provider(p purger.Purger, layer change.Layer) pipeline.Provider {
	return pipeline.Provider{Purger: p, Provider: plan.Provider{Name: p.Name(), Layer: layer, Limits: p.Limits(), Budget: budget.Budget{Policy: budget.PurgeEverything}}}
}

func TestLayersRunInsideOut(t *testing.T) {
	t.Parallel()
	drivers(t, func(t *testing.T, driver string) {
		log := &callLog{}
		edge := &recorder{name: "edge", limits: all, log: log}
		origin := &recorder{name: "origin", limits: all, log: log}
		appl := &recorder{name: "app", limits: all, log: log}
		// Listed out of order on purpose: the layer decides, not the list.
		h := start(t, driver, provider(edge, change.LayerEdge), provider(origin, change.LayerOrigin), provider(appl, change.LayerApp))
		var urls []string
		for i := range 25 {
			urls = append(urls, fmt.Sprintf("/p/%d", i))
		}
		h.publish(t, "d1", urls...)
		if b := h.settle(t); b.State != store.BatchDone {
			t.Fatalf("batch %+v", b)
		}
		got := log.list()
		// Calls within a layer may run in any order; layers may not mix.
		layerOf := func(s string) int {
			name, _, _ := strings.Cut(s, " ")
			return map[string]int{"app": 0, "origin": 1, "edge": 2}[name]
		}
		if len(got) != 9 {
			t.Fatalf("calls %q, want 3 per layer", got)
		}
		for i := 1; i < len(got); i++ {
			if layerOf(got[i]) < layerOf(got[i-1]) {
				t.Fatalf("layer order broken: %q", got)
			}
		}
	})
}

func TestPermanentFailureStopsOuterLayers(t *testing.T) {
	t.Parallel()
	drivers(t, func(t *testing.T, driver string) {
		log := &callLog{}
		origin := &recorder{name: "origin", limits: all, log: log, fail: []error{&purger.Error{Provider: "origin", Class: purger.Permanent, Status: 403, Msg: "forbidden by ACL"}}}
		edge := &recorder{name: "edge", limits: all, log: log}
		h := start(t, driver, provider(origin, change.LayerOrigin), provider(edge, change.LayerEdge))
		h.publish(t, "d1", "/a")
		b := h.settle(t)
		if b.State != store.BatchFailed || b.Error == "" {
			t.Fatalf("batch %+v", b)
		}
		if got := log.list(); !slices.Equal(got, []string{"origin url×1 failed"}) {
			t.Errorf("calls %q: the edge must not be purged over a failed origin", got)
		}
		calls, _ := h.st.CallList(context.Background(), b.ID, 10)
		if len(calls) != 1 || calls[0].State != store.CallFailed || !strings.Contains(calls[0].Error, "forbidden by ACL") {
			t.Errorf("call rows %+v", calls)
		}
		events, _ := h.st.EventList(context.Background(), 0, b.ID, 50)
		found := false
		for _, e := range events {
			found = found || (e.Kind == "failed" && strings.Contains(e.Message, "forbidden by ACL"))
		}
		if !found {
			t.Errorf("the audit trail does not say why: %+v", events)
		}
	})
}

func TestRetrySnoozeAndSplit(t *testing.T) {
	t.Parallel()
	drivers(t, func(t *testing.T, driver string) {
		log := &callLog{}
		p := &recorder{name: "cdn", limits: all, log: log, fail: []error{
			&purger.Error{Provider: "cdn", Class: purger.Snooze, Status: 429, After: 50 * time.Millisecond},
			&purger.Error{Provider: "cdn", Class: purger.Retry, Status: 503},
			&purger.Error{Provider: "cdn", Class: purger.TooLarge, Status: 413},
		}}
		pr := provider(p, change.LayerEdge)
		pr.Budget.PerDay = 100
		h := start(t, driver, pr)
		h.publish(t, "d1", "/a", "/b", "/c", "/d")
		if b := h.settle(t); b.State != store.BatchDone {
			t.Fatalf("batch %+v", b)
		}
		// The plan's one call, and the extra call the split made.
		if bs, err := h.pl.Budgets(context.Background()); err != nil || len(bs) != 1 || bs[0].Spent != 2 {
			t.Errorf("budget after a split: %+v %v, want 2 spent", bs, err)
		}
		got := log.list()
		want := []string{"cdn url×4 failed", "cdn url×4 failed", "cdn url×4 failed", "cdn url×2", "cdn url×2"}
		if !slices.Equal(got, want) {
			t.Errorf("calls %q, want %q", got, want)
		}
		calls, _ := h.st.CallList(context.Background(), 0, 10)
		states := map[store.CallState]int{}
		for _, c := range calls {
			states[c.State]++
		}
		if states[store.CallSplit] != 1 || states[store.CallDone] != 2 {
			t.Errorf("call states %v", states)
		}
	})
}

func TestRetriesGiveUp(t *testing.T) {
	t.Parallel()
	drivers(t, func(t *testing.T, driver string) {
		log := &callLog{}
		e := &purger.Error{Provider: "cdn", Class: purger.Retry, Status: 502}
		p := &recorder{name: "cdn", limits: all, log: log, fail: []error{e, e, e, e}}
		h := start(t, driver, provider(p, change.LayerEdge))
		h.publish(t, "d1", "/a")
		b := h.settle(t)
		if b.State != store.BatchFailed || !strings.Contains(b.Error, "giving up after 3 attempts") {
			t.Fatalf("batch %+v", b)
		}
	})
}

func TestAsynchronousCompletionGatesTheNextLayer(t *testing.T) {
	t.Parallel()
	drivers(t, func(t *testing.T, driver string) {
		log := &callLog{}
		cdn1 := &recorder{name: "slow", limits: all, log: log, async: true, polls: 2}
		edge := &recorder{name: "edge", limits: all, log: log}
		h := start(t, driver, provider(cdn1, change.LayerOrigin), provider(edge, change.LayerEdge))
		h.publish(t, "d1", "/a")
		if b := h.settle(t); b.State != store.BatchDone {
			t.Fatalf("batch %+v", b)
		}
		got := log.list()
		if len(got) != 3 || got[0] != "slow url×1" || !strings.Contains(got[1], "slow completed") || got[2] != "edge url×1" {
			t.Errorf("calls %q: the edge must wait for completion", got)
		}
	})
}

func TestCoalescing(t *testing.T) {
	t.Parallel()
	drivers(t, func(t *testing.T, driver string) {
		log := &callLog{}
		p := &recorder{name: "cdn", limits: all, log: log}
		h := start(t, driver, provider(p, change.LayerEdge))
		for i := range 5 {
			h.publish(t, fmt.Sprint(i), fmt.Sprintf("/p/%d", i), "/shared")
		}
		// Wait for every delivery to be batched and purged.
		deadline := time.Now().Add(30 * time.Second)
		for {
			open := openJobs(t, h.st)
			n, _, _, _ := h.st.PendingWindow(context.Background())
			if open == 0 && n == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("not settled")
			}
			time.Sleep(10 * time.Millisecond)
		}
		bs, _ := h.st.BatchList(context.Background(), 10)
		items := 0
		for _, c := range log.list() {
			var n int
			_, rest, _ := strings.Cut(c, " ")
			if _, err := fmt.Sscanf(rest, "url×%d", &n); err != nil {
				t.Fatalf("call %q: %v", c, err)
			}
			items += n
		}
		// However the deliveries fell into windows, a batch makes one call
		// and purges the shared page once.
		if len(log.list()) != len(bs) || items != 5+len(bs) {
			t.Errorf("%d batches made %d calls of %d URLs in all; want one call per batch and /shared once per batch", len(bs), len(log.list()), items)
		}
		t.Logf("5 deliveries → %d batch(es)", len(bs))
	})
}

// openJobs counts the jobs not yet finished for good.
func openJobs(t *testing.T, st *store.Store) int {
	t.Helper()
	counts, err := st.JobCounts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	open := 0
	for state, n := range counts {
		if state != "completed" && state != "cancelled" && state != "discarded" {
			open += n
		}
	}
	return open
}

// A body hash seen long ago is a new event: it is journaled under a new
// id, and its changes carry that id, not the one the source gave.
func TestAcceptRenamesAStaleBodyHash(t *testing.T) {
	t.Parallel()
	drivers(t, func(t *testing.T, driver string) {
		ctx := context.Background()
		st := openStore(t, driver)
		t.Cleanup(func() { st.Close() })
		now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
		st.SetClock(func() time.Time { return now })
		r, _ := resolve.New([]config.Site{{Name: "a", BaseURL: "https://a.example"}}, nil)
		// Not started: this test is about the journal, not the jobs.
		pl, err := pipeline.New(pipeline.Options{Store: st, Resolver: r, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		d := change.Delivery{Source: "cms", ID: "h1", BodySHA256: "h1", DedupeWithin: time.Minute,
			Changes: []change.Change{{Event: "publish", Kind: change.Publish, ContentID: "c1"}, {Event: "publish", Kind: change.Publish, ContentID: "c2"}}}
		first, id, inserted, err := pl.Accept(ctx, d)
		if err != nil || !inserted || id != "h1" {
			t.Fatalf("first: %s %v %v", id, inserted, err)
		}
		now = now.Add(30 * time.Second)
		again, id, inserted, err := pl.Accept(ctx, d)
		if err != nil || inserted || id != "h1" || again != first {
			t.Fatalf("redelivery: %d %s %v %v", again, id, inserted, err)
		}
		now = now.Add(time.Hour)
		renamed, id, inserted, err := pl.Accept(ctx, d)
		want := fmt.Sprintf("h1@%d", now.UnixMilli())
		if err != nil || !inserted || id != want || renamed == first {
			t.Fatalf("an hour later: %d %s %v %v, want a new delivery %s", renamed, id, inserted, err, want)
		}
		for row, wantID := range map[int64]string{first: "h1", renamed: want} {
			dv, err := st.DeliveryGet(ctx, row)
			if err != nil || dv.DeliveryID != wantID {
				t.Errorf("delivery %d: %+v %v, want id %s", row, dv, err, wantID)
			}
			cs, err := st.ChangeList(ctx, row)
			if err != nil || len(cs) != 2 {
				t.Fatalf("changes of %d: %+v %v", row, cs, err)
			}
			for _, c := range cs {
				if c.Source != "cms" || c.Delivery != wantID {
					t.Errorf("delivery %d: change stamped %s/%s, want cms/%s", row, c.Source, c.Delivery, wantID)
				}
			}
		}
		if d.Changes[0].Delivery != "" {
			t.Errorf("Accept changed the caller's changes: %+v", d.Changes[0])
		}
	})
}
