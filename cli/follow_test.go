package cli

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/purgehook/purgehook/admin"
	"github.com/purgehook/purgehook/store"
)

// script is a trail that answers a fixed sequence of progress reads, the
// last one again once the sequence is used up.
type script struct {
	steps []admin.Progress
	n     int
}

func (s *script) progress(ctx context.Context, id int64) (admin.Progress, error) {
	p := s.steps[min(s.n, len(s.steps)-1)]
	s.n++
	return p, nil
}

func ev(kind, msg string, batch int64) store.Event {
	return store.Event{Kind: kind, Message: msg, Batch: batch}
}

// purgeSteps is a delivery accepted, batched, purged over two layers and
// warmed, or failed at the edge.
func purgeSteps(final store.BatchState) []admin.Progress {
	d := store.Delivery{ID: 1, State: store.DeliveryResolved}
	e1 := []store.Event{ev("accepted", "manual purge of 2 target(s)", 0)}
	e2 := append(e1[:1:1], ev("batch", "batch 4: 2 target(s)", 4), ev("plan", "cf (edge): 1 call(s)", 4))
	e3 := append(e2[:3:3], ev("layer", "edge layer purged", 4), ev("purged", "every layer purged; warming 2 page(s)", 4))
	accepted := admin.Progress{Delivery: store.Delivery{ID: 1, State: store.DeliveryAccepted}, Events: e1}
	purging := admin.Progress{Delivery: d, Events: e2, Batches: []admin.BatchProgress{{ID: 4, State: store.BatchPurging, Layer: "edge", Calls: 1}}}
	if final == store.BatchFailed {
		e := append(e2[:3:3], ev("failed", "cf: 400 zone is on hold; outer layers not purged", 4))
		return []admin.Progress{accepted, purging, {Delivery: d, Events: e, Batches: []admin.BatchProgress{{ID: 4, State: final, Layer: "edge", Calls: 1}}}}
	}
	return []admin.Progress{
		accepted, purging,
		{Delivery: d, Events: e3, Batches: []admin.BatchProgress{{ID: 4, State: store.BatchWarming, Layer: "edge", Calls: 1, CallsDone: 1, Warm: 2, Warmed: 1}}},
		{Delivery: d, Events: e3, Batches: []admin.BatchProgress{{ID: 4, State: final, Layer: "edge", Calls: 1, CallsDone: 1, Warm: 2, Warmed: 2}}},
	}
}

func TestWaitDeliveryPrintsLinesAndTheOutcome(t *testing.T) {
	for _, final := range []store.BatchState{store.BatchDone, store.BatchFailed} {
		t.Run(string(final), func(t *testing.T) {
			var out bytes.Buffer
			o, err := waitDelivery(t.Context(), &script{steps: purgeSteps(final)}, 1, 0, 0, newWatcher(&out, false))
			if err != nil {
				t.Fatal(err)
			}
			if o.State != string(final) || len(o.Batches) != 1 || o.Batches[0].ID != 4 {
				t.Errorf("outcome %+v", o)
			}
			lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
			if lines[0] != "  accepted manual purge of 2 target(s)" || lines[len(lines)-1] != string(final) {
				t.Errorf("output:\n%s", out.String())
			}
			// Each event once, in order.
			if strings.Count(out.String(), "batch 4: 2 target(s)") != 1 {
				t.Errorf("an event printed twice:\n%s", out.String())
			}
		})
	}
}

func TestWaitDeliveryBarCountsCallsAndWarmUps(t *testing.T) {
	var out bytes.Buffer
	w := newBarWatcher(&out)
	o, err := waitDelivery(t.Context(), &script{steps: purgeSteps(store.BatchDone)}, 1, 0, 0, w)
	if err != nil || o.State != outcomeDone {
		t.Fatalf("%+v %v", o, err)
	}
	s := out.String()
	// The bar showed the warm-up half done (1 call + 1 of 2 pages of 3),
	// described by what the batch was doing, and the trail above it.
	for _, want := range []string{"(2/3", "batch 4 warming", "  purged   every layer purged; warming 2 page(s)", "done\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("bar output lacks %q:\n%q", want, s)
		}
	}
}

func TestWaitDeliveryFollowsOnlyNewBatches(t *testing.T) {
	// A replay: the first two events and batch 3 are from before it.
	old := []store.Event{ev("accepted", "x", 0), ev("batch", "batch 3", 3)}
	now := append(old[:2:2], ev("replay", "replay requested", 0), ev("batch", "batch 5", 5))
	d := store.Delivery{ID: 1, State: store.DeliveryResolved}
	steps := []admin.Progress{
		{Delivery: d, Events: now, Batches: []admin.BatchProgress{{ID: 3, State: store.BatchFailed}, {ID: 5, State: store.BatchPurging}}},
		{Delivery: d, Events: now, Batches: []admin.BatchProgress{{ID: 3, State: store.BatchFailed}, {ID: 5, State: store.BatchDone}}},
	}
	var out bytes.Buffer
	o, err := waitDelivery(t.Context(), &script{steps: steps}, 1, 2, 0, newWatcher(&out, false))
	if err != nil || o.State != outcomeDone || len(o.Batches) != 1 || o.Batches[0].ID != 5 || len(o.Events) != 2 {
		t.Fatalf("%+v %v: the old failed batch must not count", o, err)
	}
	if strings.Contains(out.String(), "batch 3") {
		t.Errorf("old events printed:\n%s", out.String())
	}
}

func TestWaitDeliveryQuietAndNothingToPurge(t *testing.T) {
	var out bytes.Buffer
	steps := []admin.Progress{{Delivery: store.Delivery{ID: 1, State: store.DeliveryNothing}, Events: []store.Event{ev("resolved", "1 change(s) → 0 target(s): nothing", 0)}}}
	o, err := waitDelivery(t.Context(), &script{steps: steps}, 1, 0, 0, newWatcher(&out, true))
	if err != nil || o.State != outcomeNothing {
		t.Fatalf("%+v %v", o, err)
	}
	if out.Len() != 0 {
		t.Errorf("quiet watcher wrote %q", out.String())
	}
}

func TestWaitDeliveryGivesUpWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	steps := purgeSteps(store.BatchDone)[:2]
	_, err := waitDelivery(ctx, &script{steps: steps}, 1, 0, 0, quietWatcher{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err %v", err)
	}
}

func TestExitCodes(t *testing.T) {
	t.Setenv("PURGEHOOK_SERVER", "")
	for _, tt := range []struct {
		args []string
		want int
		says string
	}{
		{[]string{"--help"}, ExitDone, "Usage"},
		{[]string{"frobnicate"}, ExitUsage, "unknown command"},
		{[]string{"purge", "--bogus"}, ExitUsage, "unknown flag"},
		{[]string{"purge", "--url", "/"}, ExitUsage, "--server (or PURGEHOOK_SERVER) is required"},
		{[]string{"purge", "--server", "http://127.0.0.1:1"}, ExitUsage, "nothing to purge"},
		{[]string{"replay", "--server", "http://127.0.0.1:1"}, ExitUsage, "accepts 1 arg"},
		{[]string{"replay", "--server", "http://127.0.0.1:1", "x"}, ExitUsage, "delivery must be a positive number"},
		{[]string{"retry", "--server", "http://127.0.0.1:1"}, ExitUsage, "give call ids"},
		{[]string{"check-config"}, ExitUsage, "--config is required"},
		// The server is not there: the command ran and failed.
		{[]string{"status", "--server", "http://127.0.0.1:1"}, ExitFailed, "connection refused"},
	} {
		code, out := run(t, tt.args...)
		if code != tt.want || !strings.Contains(out, tt.says) {
			t.Errorf("%q: exit %d, want %d saying %q:\n%s", tt.args, code, tt.want, tt.says, out)
		}
	}
}
