package pipeline

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/store"
)

// legacyDeliveryArgs is a delivery job as a version before the drain
// queued it: the list of its group commit's deliveries.
type legacyDeliveryArgs struct {
	Deliveries []int64 `json:"deliveries"`
}

func (legacyDeliveryArgs) Kind() string { return kindDelivery }

// Every journaled delivery is resolved exactly once, however its group
// commits, the drain's chunks and runs, a periodic drain beside it and a
// job queued by an earlier version interleave; once nothing waits the
// flag is clear, so the next group commit queues a new drain.
func TestTheDeliveryJobDrainsEveryDeliveryOnce(t *testing.T) {
	groupDrivers(t, func(t *testing.T, driver string) {
		ctx := context.Background()
		p, st := groupPipeline(t, driver, Options{Workers: 4, GroupMax: 5})
		// Small chunks, parts and runs: the backlog takes several of each.
		p.drainChunk, p.drainTargets, p.drainChunks = 7, 3, 2
		accept := func(prefix string, n int) []int64 {
			ids := make([]int64, n)
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for i := range n {
				wg.Go(func() {
					id, _, _, err := p.Accept(ctx, delivery(fmt.Sprintf("%s-%d", prefix, i)))
					ids[i] = id
					errs <- err
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			return ids
		}
		first := accept("a", 100)
		// Drains that the flag does not account for, waiting beside the
		// one it does.
		err := st.InTx(ctx, func(tx *store.Tx) error {
			for _, args := range []interface{ Kind() string }{DeliveryArgs{Periodic: true}, DeliveryArgs{Periodic: true}, legacyDeliveryArgs{Deliveries: first[:3]}, DeliveryArgs{}} {
				if err := tx.JobInsert(ctx, p.queue, args, nil); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		startPipeline(t, p)
		waitDrained(t, st)
		// Nothing waits and the flag is clear: these queue a new drain.
		second := accept("b", 20)
		waitDrained(t, st)
		for _, id := range append(first, second...) {
			evs, err := st.EventList(ctx, id, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			resolved := 0
			for _, e := range evs {
				if e.Kind == "resolved" && e.Delivery == id {
					resolved++
				}
			}
			if resolved != 1 {
				t.Errorf("delivery %d resolved %d times, want once", id, resolved)
			}
		}
	})
}

// startPipeline starts p's jobs, and stops them when the test ends.
func startPipeline(t *testing.T, p *Pipeline) {
	t.Helper()
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	})
}

// waitDrained waits until no delivery waits to be resolved and no drain
// is queued.
func waitDrained(t *testing.T, st *store.Store) {
	t.Helper()
	waitSettled(t, st, deliverKey, "deliveries waiting", func(ctx context.Context) (int, error) {
		return st.DeliveryWaitingCount(ctx, nil)
	})
}

// waitSettled waits until count is 0 and the state key is clear. It
// polls a condition, not a clock; the deadline only turns a hang into a
// failure.
func waitSettled(t *testing.T, st *store.Store, key, what string, count func(context.Context) (int, error)) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(time.Minute)
	for {
		n, err := count(ctx)
		if err != nil {
			t.Fatal(err)
		}
		flag, err := st.StateGet(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 && flag == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d %s, %s=%q", n, what, key, flag)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A backlog longer than a batch is several batches of at most flushMax
// targets, taken one after the other, over more than one flush run; then
// the flag is clear.
func TestTheFlushTakesABacklogInBoundedBatches(t *testing.T) {
	groupDrivers(t, func(t *testing.T, driver string) {
		ctx := context.Background()
		p, st := groupPipeline(t, driver, Options{Workers: 2})
		p.flushMax, p.flushChunks = 3, 2
		var targets []change.Target
		for i := range 20 {
			targets = append(targets, change.Target{Kind: change.URL, Value: fmt.Sprintf("https://a.example/%d", i), Site: "a"})
		}
		if _, err := p.Manual(ctx, "backlog", targets); err != nil {
			t.Fatal(err)
		}
		startPipeline(t, p)
		waitSettled(t, st, flushKey, "targets pending", func(ctx context.Context) (int, error) {
			n, _, _, err := st.PendingWindow(ctx)
			return n, err
		})
		batches, err := st.BatchList(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		taken := 0
		for _, b := range batches {
			ts, err := st.BatchTargets(ctx, b.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(ts) > 3 {
				t.Errorf("batch %d took %d targets, want at most 3", b.ID, len(ts))
			}
			taken += len(ts)
		}
		if len(batches) != 7 || taken != 20 {
			t.Errorf("%d batches took %d targets, want 7 batches of the 20", len(batches), taken)
		}
	})
}

// A chunk is written in parts of at most max targets, a delivery with
// more being a part of its own, in order; an empty chunk is one empty
// part (the drain's last transaction still runs).
func TestSplitResolved(t *testing.T) {
	r := func(id int64, targets int) resolved {
		return resolved{id: id, targets: make([]change.Target, targets)}
	}
	ids := func(parts [][]resolved) [][]int64 {
		var out [][]int64
		for _, p := range parts {
			var ps []int64
			for _, r := range p {
				ps = append(ps, r.id)
			}
			out = append(out, ps)
		}
		return out
	}
	for _, c := range []struct {
		in   []resolved
		want [][]int64
	}{
		{nil, [][]int64{nil}},
		{[]resolved{r(1, 2), r(2, 1), r(3, 1)}, [][]int64{{1, 2}, {3}}},
		{[]resolved{r(1, 0), r(2, 5), r(3, 3)}, [][]int64{{1}, {2}, {3}}},
		{[]resolved{r(1, 0), r(2, 0), r(3, 3), r(4, 0)}, [][]int64{{1, 2, 3, 4}}},
	} {
		if got := ids(splitResolved(c.in, 3)); fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("split %v: %v, want %v", ids([][]resolved{c.in}), got, c.want)
		}
	}
}
