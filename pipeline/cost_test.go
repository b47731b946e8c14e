package pipeline_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/graph"
	"github.com/purgehook/purgehook/store"
)

// The pipeline reads the graph for the cost model: three URLs whose tag
// the graph knows no other page carries are one tag call, not two URL
// calls, and the trace says why. A tag the URL-only origin cannot purge,
// and no known page carries, is purged at the edge only: the trace and
// purgehook_outer_purge_may_refetch_stale_total say the edge may refetch
// the origin's stale copy.
func TestCostModelAndStaleRiskInThePipeline(t *testing.T) {
	t.Parallel()
	drivers(t, func(t *testing.T, driver string) {
		ctx := context.Background()
		log := &callLog{}
		urlOnly := change.Limits{Kinds: []change.TargetKind{change.URL}, PerCall: map[change.TargetKind]int{change.URL: 10}}
		nginx := &recorder{name: "nginx", limits: urlOnly, log: log}
		small := change.Limits{Kinds: change.AllKinds, PerCall: map[change.TargetKind]int{change.URL: 2, change.Tag: 2}}
		cdn := &recorder{name: "cdn", limits: small, log: log}
		st := openStore(t, driver)
		rooms := []string{"https://a.example/rooms/1", "https://a.example/rooms/2", "https://a.example/suites/3"}
		for _, page := range rooms {
			if _, _, err := st.GraphURLSet(ctx, store.GraphURLSetParams{Site: "a", URL: page, Origin: "learned", Kind: "tag", Values: []string{"rooms"}}); err != nil {
				t.Fatal(err)
			}
		}
		h := startOn(t, st, graph.New(), provider(nginx, change.LayerOrigin), provider(cdn, change.LayerEdge))

		b := h.deliver(t, "rooms", change.Change{Kind: change.Update, ContentID: "9", Site: "a", URLs: []string{"/rooms/1", "/rooms/2", "/suites/3"}})
		if got, want := log.list(), []string{"nginx url×3", "cdn tag×1"}; !slices.Equal(got, want) {
			t.Errorf("calls %q, want %q", got, want)
		}
		if notes := planNotes(t, h, b.ID); !strings.Contains(notes, `cdn: chose tag "rooms" for 3 URL(s)`) || !strings.Contains(notes, "cdn: cost model: 1 call(s) instead of 2") {
			t.Errorf("plan notes %q", notes)
		}

		b = h.deliver(t, "unknown", change.Change{Kind: change.Update, ContentID: "10", Site: "a", Tags: []string{"nobody-shows-this"}})
		if b.State != store.BatchDone {
			t.Fatalf("batch %+v", b)
		}
		if notes := planNotes(t, h, b.ID); !strings.Contains(notes, `nginx (origin): tag "nobody-shows-this" not purged here; cdn outside may refetch the stale copy`) {
			t.Errorf("plan notes %q", notes)
		}
		if n := counter(t, h, "purgehook_outer_purge_may_refetch_stale_total", "origin", "nginx"); n != 1 {
			t.Errorf("purgehook_outer_purge_may_refetch_stale_total{layer=origin,provider=nginx} = %v, want 1", n)
		}
	})
}

func planNotes(t *testing.T, h *harness, batch int64) string {
	t.Helper()
	events, err := h.st.EventList(context.Background(), 0, batch, 100)
	if err != nil {
		t.Fatal(err)
	}
	var notes []string
	for _, e := range events {
		if e.Kind == "plan" {
			notes = append(notes, e.Message)
		}
	}
	return strings.Join(notes, "\n")
}

// counter reads a counter's value for the given label values (in the
// order of the metric's labels, sorted by name); -1 when absent.
func counter(t *testing.T, h *harness, name string, values ...string) float64 {
	t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var got []string
			for _, l := range m.GetLabel() {
				got = append(got, l.GetValue())
			}
			if slices.Equal(got, values) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return -1
}
