package plan

import (
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/purgehook/purgehook/budget"
	"github.com/purgehook/purgehook/change"
)

// day simulates a budget window: URLs arrive as the simulated clock
// (testing/synctest) reaches them and wait until the budget is ready for a
// batch; batches are planned with plan.Next, each step's calls charged as
// the pipeline charges them.
type day struct {
	p     Provider
	spent budget.Spent
	calls []Scheduled
	// at is when each call may run: its NotBefore, or when it was planned.
	at      []time.Time
	pending []change.Target
	seq     int
	batches int
}

// arrive queues n new URLs, and takes every waiting URL into a batch if
// the budget is ready (plan.Ready), as the pipeline's flush does.
func (d *day) arrive(t *testing.T, n int) Step {
	t.Helper()
	for range n {
		d.pending = append(d.pending, change.Target{Kind: change.URL, Value: fmt.Sprintf("https://a.example/n/%d", d.seq)})
		d.seq++
	}
	return d.take(t)
}

// take takes the waiting URLs into a batch once the budget is ready.
func (d *day) take(t *testing.T) Step {
	t.Helper()
	spent := map[string]budget.Spent{d.p.Name: d.spent}
	if len(d.pending) == 0 || Ready([]Provider{d.p}, spent, time.Now()).After(time.Now()) {
		return Step{}
	}
	s := Next(Input{Targets: d.pending, Providers: []Provider{d.p}, From: change.LayerEdge, Spent: spent, Now: time.Now()})
	d.pending = nil
	d.batches++
	for _, days := range s.Charges() {
		for k, n := range days {
			d.spent[k] += n
		}
	}
	for _, c := range s.Calls {
		d.calls = append(d.calls, c)
		at := c.NotBefore
		if at.IsZero() {
			at = time.Now()
		}
		d.at = append(d.at, at)
	}
	return s
}

// dueBy counts the calls of day that may have run by t.
func (d *day) dueBy(dayName string, t time.Time) int {
	n := 0
	for i, c := range d.calls {
		if c.Day == dayName && !d.at[i].After(t) {
			n++
		}
	}
	return n
}

func TestPacingOverASimulatedDay(t *testing.T) {
	for _, c := range []struct {
		policy budget.Policy
	}{{budget.PurgeEverything}, {budget.Wait}} {
		t.Run(string(c.policy), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				// The bubble's clock starts at midnight UTC.
				midnight := time.Now()
				w := budget.WindowAt(midnight)
				if !midnight.Equal(w.Start) {
					t.Fatalf("the bubble starts at %v", midnight)
				}
				p := cloudflareLike
				p.Budget = budget.Budget{PerDay: 100, Policy: c.policy, Reserve: 0.25}
				d := &day{p: p, spent: budget.Spent{}}

				// A morning storm at 07:00: 60 new URLs (2 calls' worth)
				// every 10 seconds for 20 minutes, 240 calls' worth in all.
				time.Sleep(7 * time.Hour)
				for range 120 {
					d.arrive(t, 60)
					time.Sleep(10 * time.Second)
				}
				stormEnd := time.Now()
				// The storm spends what the allowance allows by its end
				// (100 − ⌊25 × 16.67/24⌋ = 83), and no call runs before the
				// allowance covers it, at any minute of the day.
				allowed := p.Budget.Allowance(stormEnd)
				stormCalls := d.dueBy(w.Day, stormEnd)
				if stormCalls > allowed || stormCalls < allowed-1 {
					t.Errorf("the storm made %d calls by its end; the allowance is %d", stormCalls, allowed)
				}
				// What is left waits for the budget, then goes as one batch.
				for len(d.pending) > 0 && time.Since(midnight) < 14*time.Hour {
					time.Sleep(time.Minute)
					d.take(t)
				}
				// A change in the afternoon.
				time.Sleep(14*time.Hour - time.Since(midnight))
				s := d.arrive(t, 1)
				for at := midnight; at.Before(w.End()); at = at.Add(time.Minute) {
					if n, a := d.dueBy(w.Day, at), p.Budget.Allowance(at); n > a {
						t.Fatalf("%d calls may run by %s, past the allowance of %d", n, at.Format(time.TimeOnly), a)
					}
				}
				switch c.policy {
				case budget.PurgeEverything:
					// The storm's excess became one purge-everything call
					// when the allowance ran short, and one more when the
					// reserve let the next call go: the afternoon change
					// finds the reserve and is purged at once.
					if d.batches > 44 || d.spent[w.Day] > 86 {
						t.Errorf("the storm took %d batches and %d calls", d.batches, d.spent[w.Day])
					}
					if len(s.Calls) != 1 || !s.Calls[0].NotBefore.IsZero() || s.Calls[0].Call.Kind != change.URL {
						t.Errorf("the afternoon change: %+v", s.Calls)
					}
				case budget.Wait:
					// Every storm call waits its turn, today's within the
					// allowance, and the rest tomorrow: the afternoon
					// change waits for the budget with them.
					if d.spent[w.Day] != p.Budget.PerDay {
						t.Errorf("charged %d of %d today", d.spent[w.Day], p.Budget.PerDay)
					}
				}
				t.Logf("%s: %d batch(es), %d call(s) by the storm's end (allowance %d), %d charged today, %d tomorrow; afternoon change: %d call(s)", c.policy, d.batches, stormCalls, allowed, d.spent[w.Day], d.spent[w.Next().Day], len(s.Calls))
			})
		})
	}
}

func TestReady(t *testing.T) {
	at := time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)
	cf := cloudflareLike
	cf.Budget = budget.Budget{PerDay: 100, Reserve: 0.2, Policy: budget.PurgeEverything}
	for _, c := range []struct {
		name  string
		spent int
		want  time.Time
	}{
		{"within the allowance", 84, at},
		// 85 allowed by 06:00; the 91st once ⌊20 × share left⌋ ≤ 9: just
		// after noon.
		{"held by the reserve", 90, time.Date(2026, 11, 23, 12, 0, 0, 1e6, time.UTC)},
		{"spent for the day", 100, at},
	} {
		spent := map[string]budget.Spent{"cf": {"2026-11-23": c.spent}}
		if got := Ready([]Provider{appLike, cf}, spent, at); !got.Equal(c.want) {
			t.Errorf("%s: ready at %v, want %v", c.name, got, c.want)
		}
	}
}
