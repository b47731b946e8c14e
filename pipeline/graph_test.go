package pipeline_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/graph"
	"github.com/purgehook/purgehook/internal/pgtest"
	"github.com/purgehook/purgehook/store"
)

// purgedURLs lists the URL items of a batch's calls.
func purgedURLs(t *testing.T, st *store.Store, batch int64) []string {
	t.Helper()
	calls, err := st.CallList(context.Background(), batch, 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range calls {
		if c.Kind == change.URL {
			out = append(out, c.Items...)
		}
	}
	slices.Sort(out)
	return out
}

func (h *harness) deliver(t *testing.T, id string, c change.Change) store.Batch {
	t.Helper()
	before, _ := h.st.BatchList(context.Background(), 1)
	if _, _, inserted, err := h.pl.Accept(context.Background(), change.Delivery{Source: "cms", ID: id, Changes: []change.Change{c}}); err != nil || !inserted {
		t.Fatalf("accept %s: %v inserted=%v", id, err, inserted)
	}
	for range 3000 {
		bs, _ := h.st.BatchList(context.Background(), 1)
		if len(bs) > 0 && (len(before) == 0 || bs[0].ID != before[0].ID) &&
			(bs[0].State == store.BatchDone || bs[0].State == store.BatchFailed) {
			return bs[0]
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("delivery %s made no batch", id)
	return store.Batch{}
}

// Umbraco's unpublish body is only {"Id": …}: the page the publish named
// is purged all the same, because the publish was remembered.
func TestUnpublishByIDPurgesTheRememberedPages(t *testing.T) {
	t.Parallel()
	drivers(t, func(t *testing.T, driver string) {
		log := &callLog{}
		edge := &recorder{name: "edge", limits: all, log: log}
		h := startOn(t, openStore(t, driver), graph.New(), provider(edge, change.LayerEdge))
		h.deliver(t, "publish", change.Change{Event: "ContentPublished", Kind: change.Publish, ContentID: "1234", Codename: "deluxe_room",
			URLs: []string{"/pt/quarto", "/en/room"}})
		b := h.deliver(t, "unpublish", change.Change{Event: "ContentUnpublished", Kind: change.Unpublish, ContentID: "1234"})
		want := []string{"https://a.example/en/room", "https://a.example/pt/quarto"}
		if got := purgedURLs(t, h.st, b.ID); !slices.Equal(got, want) {
			t.Errorf("unpublish by id purged %q, want %q", got, want)
		}
		// The codename alone finds them too (Kontent.ai's notifications).
		b = h.deliver(t, "delete", change.Change{Event: "delete", Kind: change.Delete, Codename: "deluxe_room"})
		if got := purgedURLs(t, h.st, b.ID); !slices.Equal(got, want) {
			t.Errorf("delete by codename purged %q, want %q", got, want)
		}
		// And an id nobody published purges nothing.
		before, _ := h.st.BatchList(context.Background(), 1)
		if _, _, _, err := h.pl.Accept(context.Background(), change.Delivery{Source: "cms", ID: "unknown",
			Changes: []change.Change{{Kind: change.Unpublish, ContentID: "77"}}}); err != nil {
			t.Fatal(err)
		}
		h.settleDelivery(t, "unknown")
		if after, _ := h.st.BatchList(context.Background(), 1); after[0].ID != before[0].ID {
			t.Errorf("an unknown id made batch %+v", after[0])
		}
	})
}

// settleDelivery waits until a delivery is resolved.
func (h *harness) settleDelivery(t *testing.T, id string) {
	t.Helper()
	ctx := context.Background()
	row, _, err := h.st.DeliveryFind(ctx, "cms", id)
	if err != nil {
		t.Fatal(err)
	}
	for range 3000 {
		d, err := h.st.DeliveryGet(ctx, row)
		if err == nil && d.State != store.DeliveryAccepted {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("delivery %s was not resolved", id)
}

// Two replicas share a PostgreSQL database: what one learns, the other
// finds by its catch-up, removals included.
func TestReplicasCatchUpWithTheGraph(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	st1, err := store.Open(context.Background(), store.Postgres, dsn)
	if err != nil {
		t.Fatal(err)
	}
	st2, err := store.Open(context.Background(), store.Postgres, dsn)
	if err != nil {
		t.Fatal(err)
	}
	g1, g2 := graph.New(), graph.New()
	log := &callLog{}
	h1 := startOn(t, st1, g1, provider(&recorder{name: "edge", limits: all, log: log}, change.LayerEdge))
	h2 := startOn(t, st2, g2, provider(&recorder{name: "edge", limits: all, log: log}, change.LayerEdge))
	h1.deliver(t, "publish", change.Change{Kind: change.Publish, ContentID: "1234", URLs: []string{"/en/room"}})
	ctx := context.Background()
	if _, err := h2.pl.SyncGraph(ctx); err != nil {
		t.Fatal(err)
	}
	if got := g2.URLs("a", graph.ID, "1234"); !slices.Equal(got, []string{"https://a.example/en/room"}) {
		t.Errorf("the other replica knows %q", got)
	}
	// A page stops reporting a tag on one replica.
	p := store.GraphURLSetParams{Site: "a", URL: "https://a.example/", Origin: "learned", Kind: "tag", Values: []string{"rooms", "offers"}}
	if _, _, err := st1.GraphURLSet(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, err := h2.pl.SyncGraph(ctx); err != nil {
		t.Fatal(err)
	}
	if got := g2.URLs("a", graph.Tag, "offers"); len(got) != 1 {
		t.Fatalf("tag offers: %q", got)
	}
	p.Values = []string{"rooms"}
	if _, _, err := st1.GraphURLSet(ctx, p); err != nil {
		t.Fatal(err)
	}
	n, err := h2.pl.SyncGraph(ctx)
	if err != nil || n == 0 {
		t.Fatalf("catch-up read %d edges: %v", n, err)
	}
	if got := g2.URLs("a", graph.Tag, "offers"); got != nil {
		t.Errorf("the other replica still has offers → %q", got)
	}
	if n, _ := h2.pl.SyncGraph(ctx); n != 0 {
		t.Errorf("a catch-up with nothing new read %d edges", n)
	}
}

// A replica that starts on a store with a history loads the edges that
// hold in one read, none that were removed, and catches up from there.
func TestStartLoadsTheGraph(t *testing.T) {
	t.Parallel()
	drivers(t, func(t *testing.T, driver string) {
		ctx := context.Background()
		st := openStore(t, driver)
		e := func(value, url string) store.GraphEdge {
			return store.GraphEdge{Site: "a", Kind: "tag", Value: value, URL: url, Origin: "learned"}
		}
		if _, err := st.GraphEdgePut(ctx, []store.GraphEdge{e("rooms", "https://a.example/1"), e("rooms", "https://a.example/2"), e("offers", "https://a.example/1")}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.GraphEdgeRemove(ctx, []store.GraphEdge{e("offers", "https://a.example/1")}); err != nil {
			t.Fatal(err)
		}
		g := graph.New()
		h := startOn(t, st, g, provider(&recorder{name: "edge", limits: all, log: &callLog{}}, change.LayerEdge))
		if got := g.URLs("a", graph.Tag, "rooms"); !slices.Equal(got, []string{"https://a.example/1", "https://a.example/2"}) && !slices.Equal(got, []string{"https://a.example/2", "https://a.example/1"}) {
			t.Errorf("rooms → %q", got)
		}
		if got := g.URLs("a", graph.Tag, "offers"); got != nil || g.Len() != 2 {
			t.Errorf("offers → %q, %d edges", got, g.Len())
		}
		if n, err := h.pl.SyncGraph(ctx); err != nil || n != 0 {
			t.Errorf("a catch-up after the load read %d edges: %v", n, err)
		}
		if _, err := st.GraphEdgeRemove(ctx, []store.GraphEdge{e("rooms", "https://a.example/2")}); err != nil {
			t.Fatal(err)
		}
		if n, err := h.pl.SyncGraph(ctx); err != nil || n != 1 {
			t.Errorf("the catch-up read %d edges, want the removal: %v", n, err)
		}
		if got := g.URLs("a", graph.Tag, "rooms"); !slices.Equal(got, []string{"https://a.example/1"}) {
			t.Errorf("after the removal rooms → %q", got)
		}
	})
}

// A tag for a provider that cannot purge tags becomes the pages the graph
// knows carry it; an unknown tag is dropped, and the audit trail says so.
func TestTagsExpandForAProviderWithoutTags(t *testing.T) {
	t.Parallel()
	drivers(t, func(t *testing.T, driver string) {
		log := &callLog{}
		urlOnly := change.Limits{Kinds: []change.TargetKind{change.URL, change.Everything}, PerCall: map[change.TargetKind]int{change.URL: 2}}
		cfront := &recorder{name: "cfront", limits: urlOnly, log: log}
		st := openStore(t, driver)
		ctx := context.Background()
		for _, page := range []string{"https://a.example/rooms", "https://a.example/", "https://a.example/rooms/1"} {
			if _, _, err := st.GraphURLSet(ctx, store.GraphURLSetParams{Site: "a", URL: page, Origin: "learned", Kind: "tag", Values: []string{"rooms"}}); err != nil {
				t.Fatal(err)
			}
		}
		h := startOn(t, st, graph.New(), provider(cfront, change.LayerEdge))
		b := h.deliver(t, "rooms", change.Change{Kind: change.Update, ContentID: "9", Site: "a", Tags: []string{"rooms", "nobody-shows-this"}})
		want := []string{"https://a.example/", "https://a.example/rooms", "https://a.example/rooms/1"}
		if got := purgedURLs(t, h.st, b.ID); !slices.Equal(got, want) {
			t.Errorf("purged %q, want %q", got, want)
		}
		if got := log.list(); len(got) != 2 {
			t.Errorf("calls %q, want 2 (three pages, two per call)", got)
		}
		events, err := h.st.EventList(ctx, 0, b.ID, 100)
		if err != nil {
			t.Fatal(err)
		}
		var notes []string
		for _, e := range events {
			if e.Kind == "plan" {
				notes = append(notes, e.Message)
			}
		}
		joined := strings.Join(notes, "\n")
		if !strings.Contains(joined, `tag "rooms" purged as the 3 page(s)`) || !strings.Contains(joined, `tag "nobody-shows-this" dropped`) {
			t.Errorf("plan notes %q", notes)
		}
		mfs, err := h.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		dropped := -1.0
		for _, mf := range mfs {
			if mf.GetName() == "purgehook_graph_unknown_tags_total" {
				for _, m := range mf.GetMetric() {
					if m.GetLabel()[0].GetValue() == "cfront" {
						dropped = m.GetCounter().GetValue()
					}
				}
			}
		}
		if dropped != 1 {
			t.Errorf("purgehook_graph_unknown_tags_total{provider=cfront} = %v, want 1", dropped)
		}
	})
}
