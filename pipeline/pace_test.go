package pipeline_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/purgehook/purgehook/budget"
	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/internal/pgtest"
	"github.com/purgehook/purgehook/pipeline"
	"github.com/purgehook/purgehook/purger"
	"github.com/purgehook/purgehook/store"
)

// itemLog is a purger that records each call's items and when it was
// made.
type itemLog struct {
	name   string
	limits change.Limits
	mu     sync.Mutex
	calls  [][]string
	at     []time.Time
}

func (l *itemLog) Name() string          { return l.name }
func (l *itemLog) Limits() change.Limits { return l.limits }
func (l *itemLog) Purge(ctx context.Context, c change.Call) (purger.Result, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, slices.Clone(c.Items))
	l.at = append(l.at, time.Now())
	return purger.Result{}, nil
}

// purged reports whether a call purged the URL.
func (l *itemLog) purged(url string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.calls {
		if slices.Contains(c, url) {
			return true
		}
	}
	return false
}

func (l *itemLog) made() ([][]string, []time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.calls), slices.Clone(l.at)
}

// A storm: steady traffic, then a bulk import, to a provider with a
// per-call limit and a rate. The coalescing window no longer restarts with
// each change: a lone change published during the steady traffic is purged
// while the traffic goes on (before, it waited for max_wait, a minute
// here), and the provider's rate bounds the calls while its per-call limit
// bounds each.
func TestStormKeepsTheWindowAndTheRate(t *testing.T) {
	t.Parallel()
	drivers(t, func(t *testing.T, driver string) {
		const perCall, rate, burst = 30, 1.0, 1
		cdn := &itemLog{name: "cdn", limits: change.Limits{Kinds: change.AllKinds, PerCall: map[change.TargetKind]int{change.URL: perCall}, RatePerSecond: rate, Burst: burst}}
		h := startWith(t, driver, func(o *pipeline.Options) {
			o.Coalesce, o.MaxWait = 200*time.Millisecond, time.Minute
		}, provider(cdn, change.LayerEdge))
		begin := time.Now()

		// Steady traffic: one delivery every 50ms, a quarter of the
		// window, until the lone change is purged.
		const lone = "/lone"
		published := 0
		publish := func() {
			h.publish(t, fmt.Sprintf("d%d", published), fmt.Sprintf("/p/%d", published))
			published++
		}
		for range 5 {
			publish()
			time.Sleep(50 * time.Millisecond)
		}
		h.publish(t, "lone", lone)
		deadline := time.Now().Add(30 * time.Second)
		for !cdn.purged("https://a.example" + lone) {
			if time.Now().After(deadline) {
				t.Fatalf("the lone change was not purged while %d deliveries kept arriving: the window restarts with each", published)
			}
			publish()
			time.Sleep(50 * time.Millisecond)
		}
		steady := published

		// A bulk import: as fast as the journal takes it.
		for range 200 {
			publish()
		}
		waitIdle(t, h)
		end := time.Now()

		calls, _ := cdn.made()
		seen := map[string]bool{}
		for _, c := range calls {
			if len(c) > perCall {
				t.Errorf("a call of %d URLs, past the per-call limit of %d", len(c), perCall)
			}
			for _, u := range c {
				seen[u] = true
			}
		}
		if len(seen) != published+1 {
			t.Errorf("%d distinct URLs purged, want %d", len(seen), published+1)
		}
		// Slots are at most burst at once and rate a second: whenever the
		// calls ran, no more than that many fit between the test's start
		// and its end.
		bound := burst + int(rate*end.Sub(begin).Seconds())
		if len(calls) > bound {
			t.Errorf("%d calls in %s: past the rate's bound of %d", len(calls), end.Sub(begin).Round(time.Millisecond), bound)
		}
		t.Logf("%d steady + 200 bulk deliveries → %d calls in %s (rate bound %d, ⌈URLs/%d⌉ = %d)", steady, len(calls), end.Sub(begin).Round(time.Millisecond), bound, perCall, (published+1+perCall-1)/perCall)
	})
}

// waitIdle waits until nothing is pending and every job has finished.
func waitIdle(t *testing.T, h *harness) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		n, _, _, _ := h.st.PendingWindow(context.Background())
		if n == 0 && openJobs(t, h.st) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("not settled")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Two replicas on one PostgreSQL database keep one provider's rate
// together: each call takes its slot under the database's lock, so the
// calls both make fit the rate of one.
func TestReplicasShareTheRate(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	const rate, burst, n = 5.0, 1, 24
	// One URL a call: every delivery is a call of its own.
	cdn := &itemLog{name: "cdn", limits: change.Limits{Kinds: change.AllKinds, PerCall: map[change.TargetKind]int{change.URL: 1}, RatePerSecond: rate, Burst: burst}}
	var hs []*harness
	for range 2 {
		st, err := store.Open(context.Background(), store.Postgres, dsn)
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, startFull(t, st, nil, func(o *pipeline.Options) { o.MaxWait = 100 * time.Millisecond }, provider(cdn, change.LayerEdge)))
	}
	begin := time.Now()
	for i := range n {
		hs[i%2].publish(t, fmt.Sprintf("d%d", i), fmt.Sprintf("/p/%d", i))
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if calls, _ := cdn.made(); len(calls) >= n {
			break
		}
		if time.Now().After(deadline) {
			calls, _ := cdn.made()
			t.Fatalf("%d of %d calls made", len(calls), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	end := time.Now()
	calls, _ := cdn.made()
	if bound := burst + int(rate*end.Sub(begin).Seconds()); len(calls) > bound {
		t.Errorf("two replicas made %d calls in %s, past one rate's bound of %d", len(calls), end.Sub(begin).Round(time.Millisecond), bound)
	}
	t.Logf("%d calls by two replicas in %s at %g/s", len(calls), end.Sub(begin).Round(time.Millisecond), rate)
}

// The budget's pace is on /metrics for a limited budget, and absent for an
// unlimited one.
func TestBudgetPaceMetrics(t *testing.T) {
	t.Parallel()
	limited := provider(&itemLog{name: "cdn", limits: all}, change.LayerEdge)
	limited.Budget = budget.Budget{PerDay: 10, Reserve: 1, Policy: budget.Wait}
	h := start(t, store.SQLite, limited, provider(&itemLog{name: "app", limits: all}, change.LayerApp))
	paced := budget.Budget{PerDay: 10, Reserve: 1}
	before := time.Now()
	ms := gather(t, h.reg)
	after := time.Now()
	allowance, projected := ms["purgehook_budget_allowance_now"], ms["purgehook_budget_projected"]
	if len(allowance) != 1 || label(allowance[0], "provider") != "cdn" || len(projected) != 1 {
		t.Fatalf("allowance %v, projected %v: want the limited provider's alone", allowance, projected)
	}
	// With the whole budget in reserve, the allowance is the share of
	// the day gone by, as it was at some moment of the scrape.
	got := int(allowance[0].GetGauge().GetValue())
	if lo, hi := paced.Allowance(before), paced.Allowance(after); budget.WindowAt(before) == budget.WindowAt(after) && (got < lo || got > hi) {
		t.Errorf("allowance now %d, want %d to %d", got, lo, hi)
	}
	if got := projected[0].GetGauge().GetValue(); got != 0 {
		t.Errorf("projected %g with nothing spent", got)
	}
}

// While a budget's reserve holds the next call back, a change waits for
// it, and an emergency purge of everything does not.
func TestReserveHoldsAChangeButNotAnEmergency(t *testing.T) {
	t.Parallel()
	drivers(t, func(t *testing.T, driver string) {
		cdn := &itemLog{name: "cdn", limits: all}
		p := provider(cdn, change.LayerEdge)
		// The whole budget in reserve: one more call every 86.4s.
		p.Budget = budget.Budget{PerDay: 1000, Reserve: 1, Policy: budget.Wait}
		h := start(t, driver, p)
		ctx := context.Background()
		// Spend what the reserve has let go so far: the next call waits
		// for the reserve.
		now := time.Now()
		if p.Budget.Allowance(now) >= p.Budget.PerDay {
			t.Skip("the last 86 seconds of the UTC day: the reserve holds nothing back")
		}
		if spent := p.Budget.Allowance(now); spent > 0 {
			if err := h.st.InTx(ctx, func(tx *store.Tx) error {
				return tx.BudgetSpend(ctx, "cdn", budget.WindowAt(now).Day, spent)
			}); err != nil {
				t.Fatal(err)
			}
		}
		h.publish(t, "held", "/held")
		deadline := time.Now().Add(30 * time.Second)
		for n := 0; n != 1; n, _, _, _ = h.st.PendingWindow(ctx) {
			if time.Now().After(deadline) {
				t.Fatal("the change was not resolved")
			}
			time.Sleep(10 * time.Millisecond)
		}
		// Held: the change is still pending after many windows (the
		// test's window is 20ms), and nothing was called.
		time.Sleep(500 * time.Millisecond)
		if p.Budget.Allowance(time.Now()) != p.Budget.Allowance(now) {
			t.Skip("the reserve let a call go during the test")
		}
		if n, _, _, _ := h.st.PendingWindow(ctx); n != 1 {
			t.Fatalf("%d targets pending, want the held change's", n)
		}
		if calls, _ := cdn.made(); len(calls) != 0 {
			t.Fatalf("calls made past the reserve: %v", calls)
		}
		if _, err := h.pl.Manual(ctx, "emergency", []change.Target{{Kind: change.Everything, Overdraft: true}}); err != nil {
			t.Fatal(err)
		}
		deadline = time.Now().Add(30 * time.Second)
		for {
			calls, _ := cdn.made()
			if len(calls) > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the emergency was held by the reserve")
			}
			time.Sleep(20 * time.Millisecond)
		}
		if n, _, _, _ := h.st.PendingWindow(ctx); n != 0 {
			t.Errorf("%d targets still pending: the emergency's batch should take the held change too", n)
		}
	})
}
