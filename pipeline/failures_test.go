package pipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/purgehook/purgehook/budget"
	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/pipeline"
	"github.com/purgehook/purgehook/purger"
	"github.com/purgehook/purgehook/store"
)

// waitState waits until the batch is in one of states.
func (h *harness) waitState(t *testing.T, batch int64, states ...store.BatchState) store.Batch {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := h.st.BatchGet(context.Background(), batch)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(states, b.State) {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("batch %+v did not reach %v", b, states)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func forbidden() error {
	return &purger.Error{Provider: "origin", Class: purger.Permanent, Status: 403, Msg: "forbidden by ACL"}
}

// A failed call, retried, succeeds without replaying the delivery: the
// layers already purged are not purged again, and the batch goes on to
// its outer layers.
func TestRetriedCallMovesTheBatchOn(t *testing.T) {
	t.Parallel()
	drivers(t, func(t *testing.T, driver string) {
		ctx := context.Background()
		log := &callLog{}
		appl := &recorder{name: "app", limits: all, log: log}
		origin := &recorder{name: "origin", limits: all, log: log, fail: []error{forbidden()}}
		edge := &recorder{name: "edge", limits: all, log: log}
		pOrigin := provider(origin, change.LayerOrigin)
		pOrigin.Budget = budget.Budget{PerDay: 10, Policy: budget.PurgeEverything}
		h := start(t, driver, provider(appl, change.LayerApp), pOrigin, provider(edge, change.LayerEdge))
		h.publish(t, "d1", "/a", "/b")
		b := h.settle(t)
		if b.State != store.BatchFailed {
			t.Fatalf("batch %+v", b)
		}
		f, err := h.pl.Failures(ctx, 10)
		if err != nil || len(f.Calls) != 1 || len(f.Jobs) != 0 {
			t.Fatalf("failures %+v %v", f, err)
		}
		failed := f.Calls[0]
		if failed.Provider != "origin" || failed.State != store.CallFailed || !strings.Contains(failed.Error, "forbidden by ACL") {
			t.Errorf("failed call %+v", failed)
		}
		spent := func() int {
			s, err := h.st.BudgetSpent(ctx, "origin", budget.WindowAt(h.st.Now()).Day)
			if err != nil {
				t.Fatal(err)
			}
			return s[budget.WindowAt(h.st.Now()).Day]
		}
		before := spent()

		again, err := h.pl.RetryCall(ctx, failed.ID, "ops")
		if err != nil {
			t.Fatal(err)
		}
		if again.ID == failed.ID || again.Reason != fmt.Sprintf("retry of call %d", failed.ID) || again.Layer != change.LayerOrigin || !slices.Equal(again.Items, failed.Items) {
			t.Errorf("retry call %+v", again)
		}
		if b := h.waitState(t, b.ID, store.BatchDone, store.BatchFailed); b.State != store.BatchDone || b.Error != "" {
			t.Fatalf("after the retry: %+v", b)
		}
		want := []string{"app url×2", "origin url×2 failed", "origin url×2", "edge url×2"}
		if got := log.list(); !slices.Equal(got, want) {
			t.Errorf("calls %q, want %q: the app layer must not be purged again", got, want)
		}
		if got := spent(); got != before+1 {
			t.Errorf("origin's budget: %d spent after the retry, %d before; the retry is one more call", got, before)
		}
		if r, _ := h.st.CallGet(ctx, failed.ID); r.State != store.CallRetried {
			t.Errorf("the failed call is %s, want retried", r.State)
		}
		if f, _ := h.pl.Failures(ctx, 10); len(f.Calls) != 0 {
			t.Errorf("failures after the retry: %+v", f.Calls)
		}
		// The trail says who retried what.
		events, _ := h.st.EventList(ctx, 0, b.ID, 100)
		found := false
		for _, e := range events {
			found = found || (e.Kind == "retry" && strings.Contains(e.Message, fmt.Sprintf("call %d retried as call %d by ops", failed.ID, again.ID)))
		}
		if !found {
			t.Errorf("no retry event: %+v", events)
		}
		// Only a failed call is retried.
		for _, id := range []int64{failed.ID, again.ID} {
			if _, err := h.pl.RetryCall(ctx, id, "ops"); !errors.Is(err, pipeline.ErrNotRetryable) {
				t.Errorf("retrying call %d again: %v", id, err)
			}
		}
		if _, err := h.pl.RetryCall(ctx, 9999, "ops"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("retrying an unknown call: %v", err)
		}
	})
}

// Two calls of a layer fail: retrying one is not enough for the batch to
// go on; it stops again until the other is retried too.
func TestEveryFailedCallOfTheLayerIsRetriedBeforeItsBatchMovesOn(t *testing.T) {
	t.Parallel()
	drivers(t, func(t *testing.T, driver string) {
		ctx := context.Background()
		log := &callLog{}
		one := change.Limits{Kinds: change.AllKinds, PerCall: map[change.TargetKind]int{change.URL: 1}}
		// The three calls of the origin layer run at once; two fail.
		origin := &recorder{name: "origin", limits: one, log: log, together: 3, fail: []error{forbidden(), forbidden()}}
		edge := &recorder{name: "edge", limits: all, log: log}
		h := start(t, driver, provider(origin, change.LayerOrigin), provider(edge, change.LayerEdge))
		h.publish(t, "d1", "/a", "/b", "/c")
		b := h.settle(t)
		if b.State != store.BatchFailed {
			t.Fatalf("batch %+v", b)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			if n, _ := h.st.CallsOpen(ctx, b.ID, change.LayerOrigin); n == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("origin calls did not settle")
			}
			time.Sleep(10 * time.Millisecond)
		}
		f, err := h.pl.Failures(ctx, 10)
		if err != nil || len(f.Calls) != 2 {
			t.Fatalf("failures %+v %v", f, err)
		}
		if _, err := h.pl.RetryCall(ctx, f.Calls[0].ID, "ops"); err != nil {
			t.Fatal(err)
		}
		b = h.waitState(t, b.ID, store.BatchFailed, store.BatchDone)
		if b.State != store.BatchFailed || !strings.Contains(b.Error, "1 call(s) of the origin layer failed") {
			t.Fatalf("one of two failed calls retried: batch %+v", b)
		}
		if slices.ContainsFunc(log.list(), func(s string) bool { return strings.HasPrefix(s, "edge") }) {
			t.Fatalf("the edge was purged over a failed origin call: %q", log.list())
		}
		if _, err := h.pl.RetryCall(ctx, f.Calls[1].ID, "ops"); err != nil {
			t.Fatal(err)
		}
		if b := h.waitState(t, b.ID, store.BatchDone, store.BatchFailed); b.State != store.BatchDone {
			t.Fatalf("both retried: batch %+v", b)
		}
		// Every URL was purged at the origin once it succeeded, the edge
		// once, after.
		got := log.list()
		ok := 0
		for _, s := range got {
			if s == "origin url×1" {
				ok++
			}
		}
		if ok != 3 || got[len(got)-1] != "edge url×3" || strings.Count(strings.Join(got, "\n"), "edge") != 1 {
			t.Errorf("calls %q: want three origin URLs purged, then the edge once", got)
		}
		if f, _ := h.pl.Failures(ctx, 10); len(f.Calls) != 0 {
			t.Errorf("failures left: %+v", f.Calls)
		}
	})
}

// A job River gave up on (here a call whose adapter panics every attempt)
// is listed with its last error, and retried: the call it carried is made
// and the batch finishes.
func TestDiscardedJobIsListedAndRetried(t *testing.T) {
	t.Parallel()
	drivers(t, func(t *testing.T, driver string) {
		ctx := context.Background()
		log := &callLog{}
		cdn := &recorder{name: "cdn", limits: all, log: log, panics: 3}
		h := start(t, driver, provider(cdn, change.LayerEdge))
		h.publish(t, "d1", "/a")
		var f pipeline.Failures
		deadline := time.Now().Add(30 * time.Second)
		for len(f.Jobs) == 0 {
			var err error
			if f, err = h.pl.Failures(ctx, 10); err != nil {
				t.Fatal(err)
			}
			if time.Now().After(deadline) {
				t.Fatal("the panicking call's job was not discarded")
			}
			time.Sleep(10 * time.Millisecond)
		}
		j := f.Jobs[0]
		var args pipeline.CallArgs
		if err := json.Unmarshal(j.Args, &args); err != nil || args.Provider != "cdn" || args.Call == 0 {
			t.Errorf("job args %s: %+v %v", j.Args, args, err)
		}
		if len(f.Calls) != 0 || j.Kind != "purgehook_call" || j.Attempts != 3 || !strings.Contains(j.Error, "adapter bug") {
			t.Fatalf("failures %+v", f)
		}
		bs, _ := h.st.BatchList(ctx, 1)
		if bs[0].State != store.BatchPurging {
			t.Fatalf("batch %+v", bs[0])
		}
		r, err := h.pl.RetryAll(ctx, 100, "ops")
		if err != nil || !slices.Equal(r.Jobs, []int64{j.ID}) || len(r.Calls) != 0 || len(r.Errors) != 0 {
			t.Fatalf("retry all: %+v %v", r, err)
		}
		if b := h.waitState(t, bs[0].ID, store.BatchDone, store.BatchFailed); b.State != store.BatchDone {
			t.Fatalf("after the retry: %+v", b)
		}
		if got := log.list(); len(got) != 4 || got[3] != "cdn url×1" {
			t.Errorf("calls %q", got)
		}
		if err := h.pl.RetryJob(ctx, j.ID, "ops"); !errors.Is(err, pipeline.ErrNotRetryable) {
			t.Errorf("retrying a completed job: %v", err)
		}
		if err := h.pl.RetryJob(ctx, 999_999, "ops"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("retrying an unknown job: %v", err)
		}
	})
}

// The calls of a layer that a failure stopped before they ran are made
// with the failed call's retry: the layer is whole before the batch goes
// on.
func TestRetryRequeuesTheCallsTheFailureSkipped(t *testing.T) {
	t.Parallel()
	drivers(t, func(t *testing.T, driver string) {
		ctx := context.Background()
		log := &callLog{}
		one := change.Limits{Kinds: change.AllKinds, PerCall: map[change.TargetKind]int{change.URL: 1}}
		origin := &recorder{name: "origin", limits: one, log: log, fail: []error{forbidden()}}
		edge := &recorder{name: "edge", limits: all, log: log}
		// One worker: the calls run one after the other, so the first
		// fails and the other two find their batch failed.
		h := startWith(t, driver, func(o *pipeline.Options) { o.Workers = 1 }, provider(origin, change.LayerOrigin), provider(edge, change.LayerEdge))
		h.publish(t, "d1", "/a", "/b", "/c")
		b := h.settle(t)
		deadline := time.Now().Add(30 * time.Second)
		for {
			if n, _ := h.st.CallsOpen(ctx, b.ID, change.LayerOrigin); n == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("origin calls did not settle")
			}
			time.Sleep(10 * time.Millisecond)
		}
		states := func() map[store.CallState]int {
			calls, err := h.st.CallList(ctx, b.ID, 100)
			if err != nil {
				t.Fatal(err)
			}
			n := map[store.CallState]int{}
			for _, c := range calls {
				n[c.State]++
			}
			return n
		}
		if s := states(); s[store.CallFailed] != 1 || s[store.CallSkipped] != 2 {
			t.Fatalf("call states %v, want 1 failed and 2 skipped", s)
		}
		f, _ := h.pl.Failures(ctx, 10)
		if len(f.Calls) != 1 {
			t.Fatalf("failures %+v: skipped calls are not failures", f.Calls)
		}
		if _, err := h.pl.RetryCall(ctx, f.Calls[0].ID, "ops"); err != nil {
			t.Fatal(err)
		}
		if b := h.waitState(t, b.ID, store.BatchDone, store.BatchFailed); b.State != store.BatchDone {
			t.Fatalf("after the retry: %+v", b)
		}
		got := log.list()
		want := []string{"origin url×1 failed", "origin url×1", "origin url×1", "origin url×1", "edge url×3"}
		if !slices.Equal(got, want) {
			t.Errorf("calls %q, want %q", got, want)
		}
		if s := states(); s[store.CallRetried] != 1 || s[store.CallSkipped] != 2 || s[store.CallDone] != 4 {
			t.Errorf("call states %v", s)
		}
		events, _ := h.st.EventList(ctx, 0, b.ID, 100)
		found := false
		for _, e := range events {
			found = found || (e.Kind == "retry" && strings.Contains(e.Message, "2 skipped call(s) of the origin layer queued again"))
		}
		if !found {
			t.Errorf("the trail does not say the skipped calls went again: %+v", events)
		}
	})
}
