package store

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestGraphEdges(t *testing.T) {
	drivers(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		ctx := t.Context()
		now := time.UnixMilli(1_700_000_000_000)
		s.SetClock(func() time.Time { return now })
		if seq, err := s.GraphSeq(ctx); err != nil || seq != 0 {
			t.Fatalf("seq of a new store %d %v", seq, err)
		}
		e := func(kind, value, url, origin string) GraphEdge {
			return GraphEdge{Site: "palace", Kind: kind, Value: value, URL: url, Origin: origin}
		}
		seq1, err := s.GraphEdgePut(ctx, []GraphEdge{
			e("id", "1234", "https://palace.example/pt/quarto", "payload"),
			e("id", "1234", "https://palace.example/en/room", "payload"),
		})
		if err != nil || seq1 != 1 {
			t.Fatalf("put: seq %d %v", seq1, err)
		}
		now = now.Add(time.Minute)
		// The same edge again is confirmed, not duplicated; a new one joins.
		seq2, err := s.GraphEdgePut(ctx, []GraphEdge{
			e("id", "1234", "https://palace.example/en/room", "payload"),
			e("codename", "deluxe_room", "https://palace.example/en/room", "payload"),
		})
		if err != nil || seq2 != 2 {
			t.Fatalf("put again: seq %d %v", seq2, err)
		}
		if seq, _ := s.GraphSeq(ctx); seq != 2 {
			t.Errorf("seq %d, want 2", seq)
		}
		all, err := s.GraphEdgeSince(ctx, GraphCursor{}, 100)
		if err != nil || len(all) != 3 {
			t.Fatalf("since 0: %+v %v", all, err)
		}
		// Change order: the edge confirmed by the second write comes last.
		if all[0].URL != "https://palace.example/pt/quarto" || all[0].Seq != 1 || all[2].Seq != 2 {
			t.Errorf("order %+v", all)
		}
		for _, g := range all {
			if g.URL == "https://palace.example/en/room" && g.Kind == "id" &&
				(!g.FirstSeen.Equal(now.Add(-time.Minute)) || !g.LastSeen.Equal(now)) {
				t.Errorf("first/last seen %v %v", g.FirstSeen, g.LastSeen)
			}
		}
		// Paging by cursor returns each edge once.
		var paged []GraphEdge
		cur := GraphCursor{}
		for {
			page, err := s.GraphEdgeSince(ctx, cur, 1)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			paged = append(paged, page...)
			cur = GraphCursor{Seq: page[0].Seq, ID: page[0].ID}
		}
		if len(paged) != 3 {
			t.Errorf("paged %d edges, want 3", len(paged))
		}
		if more, _ := s.GraphEdgeSince(ctx, GraphCursor{Seq: 2, ID: all[2].ID}, 10); len(more) != 0 {
			t.Errorf("after the last edge: %+v", more)
		}
	})
}

func TestGraphURLSet(t *testing.T) {
	drivers(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		ctx := t.Context()
		page := "https://palace.example/"
		set := func(values ...string) (int64, []GraphEdge) {
			t.Helper()
			seq, removed, err := s.GraphURLSet(ctx, GraphURLSetParams{Site: "palace", URL: page, Origin: "learned", Kind: "tag", Values: values})
			if err != nil {
				t.Fatal(err)
			}
			return seq, removed
		}
		// Another origin's edge to the same page is not the headers' to remove.
		if _, err := s.GraphEdgePut(ctx, []GraphEdge{{Site: "palace", Kind: "tag", Value: "registered-tag", URL: page, Origin: "registered"}}); err != nil {
			t.Fatal(err)
		}
		set("site:palace", "module:hero", "room-1234")
		seq, removed := set("site:palace", "room-1234")
		if len(removed) != 1 || removed[0].Value != "module:hero" {
			t.Errorf("removed %+v, want module:hero", removed)
		}
		// A replica that had read up to the first set learns of the removal.
		since, err := s.GraphEdgeSince(ctx, GraphCursor{Seq: seq - 1, ID: 1 << 62}, 100)
		if err != nil {
			t.Fatal(err)
		}
		var gone, kept []string
		for _, e := range since {
			if e.Removed {
				gone = append(gone, e.Value)
			} else {
				kept = append(kept, e.Value)
			}
		}
		slices.Sort(kept)
		if !slices.Equal(gone, []string{"module:hero"}) || !slices.Equal(kept, []string{"room-1234", "site:palace"}) {
			t.Errorf("since the first set: removed %q, kept %q", gone, kept)
		}
		// Reporting the tag again restores it.
		set("module:hero")
		edges, err := s.GraphEdgesOfURL(ctx, page)
		if err != nil {
			t.Fatal(err)
		}
		state := map[string]bool{}
		for _, e := range edges {
			state[e.Origin+" "+e.Value] = !e.Removed
		}
		want := map[string]bool{"learned module:hero": true, "learned room-1234": false, "learned site:palace": false, "registered registered-tag": true}
		for k, v := range want {
			if state[k] != v {
				t.Errorf("%s: holds %v, want %v (all %v)", k, state[k], v, state)
			}
		}
	})
}

func TestGraphPruneKeepsLiveEdges(t *testing.T) {
	drivers(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		ctx := t.Context()
		now := time.UnixMilli(1_700_000_000_000)
		s.SetClock(func() time.Time { return now })
		p := GraphURLSetParams{Site: "a", URL: "https://a.example/", Origin: "learned", Kind: "tag", Values: []string{"x", "y"}}
		if _, _, err := s.GraphURLSet(ctx, p); err != nil {
			t.Fatal(err)
		}
		p.Values = []string{"x"}
		if _, _, err := s.GraphURLSet(ctx, p); err != nil {
			t.Fatal(err)
		}
		now = now.Add(48 * time.Hour)
		if _, err := s.Prune(ctx, now.Add(-24*time.Hour)); err != nil {
			t.Fatal(err)
		}
		edges, _ := s.GraphEdgesOfURL(ctx, "https://a.example/")
		if len(edges) != 1 || edges[0].Value != "x" || edges[0].Removed {
			t.Errorf("after prune %+v, want the live edge x only", edges)
		}
	})
}

func TestGraphEdgeRemove(t *testing.T) {
	drivers(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		ctx := t.Context()
		reg := GraphEdge{Site: "a", Kind: "tag", Value: "rooms", URL: "https://a.example/rooms", Origin: "registered"}
		learned := reg
		learned.Origin = "learned"
		if _, err := s.GraphEdgePut(ctx, []GraphEdge{reg, learned}); err != nil {
			t.Fatal(err)
		}
		n, err := s.GraphEdgeRemove(ctx, []GraphEdge{reg, {Site: "a", Kind: "tag", Value: "never", URL: "https://a.example/", Origin: "registered"}})
		if err != nil || n != 1 {
			t.Fatalf("removed %d %v, want 1", n, err)
		}
		if n, _ := s.GraphEdgeRemove(ctx, []GraphEdge{reg}); n != 0 {
			t.Errorf("removed again: %d", n)
		}
		edges, _ := s.GraphEdgesOfURL(ctx, reg.URL)
		for _, e := range edges {
			if want := e.Origin == "registered"; e.Removed != want {
				t.Errorf("%s edge removed=%v", e.Origin, e.Removed)
			}
		}
		if seq, _ := s.GraphSeq(ctx); seq != 3 {
			t.Errorf("seq %d, want 3 (a put and two removals)", seq)
		}
	})
}

// Loading reads the edges that hold as of one write, and the cursor it
// returns catches up with exactly the writes after it.
func TestGraphEdgeLoad(t *testing.T) {
	drivers(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		ctx := t.Context()
		load := func() ([]string, GraphCursor) {
			t.Helper()
			var got []string
			cur, err := s.GraphEdgeLoad(ctx, func(e GraphEdge) error {
				got = append(got, e.Site+" "+e.Kind+":"+e.Value+" → "+e.URL+" ("+e.Origin+")")
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			return got, cur
		}
		if got, cur := load(); got != nil || cur.Seq != 0 {
			t.Errorf("an empty store loads %q, cursor %+v", got, cur)
		}
		e := func(value, url, origin string) GraphEdge {
			return GraphEdge{Site: "palace", Kind: "tag", Value: value, URL: url, Origin: origin}
		}
		if _, err := s.GraphEdgePut(ctx, []GraphEdge{e("rooms", "https://p/a", "learned"), e("rooms", "https://p/b", "learned"), e("offers", "https://p/a", "crawled")}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GraphEdgeRemove(ctx, []GraphEdge{e("rooms", "https://p/b", "learned")}); err != nil {
			t.Fatal(err)
		}
		got, cur := load()
		want := []string{"palace tag:offers → https://p/a (crawled)", "palace tag:rooms → https://p/a (learned)"}
		if !slices.Equal(got, want) {
			t.Errorf("loaded %q, want %q", got, want)
		}
		if seq, _ := s.GraphSeq(ctx); cur.Seq != seq {
			t.Errorf("cursor %+v, want after write %d", cur, seq)
		}
		if since, err := s.GraphEdgeSince(ctx, cur, 10); err != nil || len(since) != 0 {
			t.Errorf("since the load's cursor: %+v %v", since, err)
		}
		// A later write, a restore, is what the catch-up reads.
		if _, err := s.GraphEdgePut(ctx, []GraphEdge{e("rooms", "https://p/b", "learned")}); err != nil {
			t.Fatal(err)
		}
		since, err := s.GraphEdgeSince(ctx, cur, 10)
		if err != nil || len(since) != 1 || since[0].URL != "https://p/b" || since[0].Removed {
			t.Errorf("since the load's cursor after a write: %+v %v", since, err)
		}
		// fn's error stops the load and is returned as is.
		stop := errors.New("stop")
		if _, err := s.GraphEdgeLoad(ctx, func(GraphEdge) error { return stop }); !errors.Is(err, stop) {
			t.Errorf("fn's error: %v", err)
		}
	})
}

// A put larger than one INSERT, repeats included, writes each edge once
// and confirms the repeats.
func TestGraphEdgePutMany(t *testing.T) {
	drivers(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		ctx := t.Context()
		var edges []GraphEdge
		for i := range 2*graphPutRows + 7 {
			edges = append(edges, GraphEdge{Site: "s", Kind: "tag", Value: "footer", URL: fmt.Sprintf("https://s/%d", i%(graphPutRows+3)), Origin: "learned"})
		}
		if _, err := s.GraphEdgePut(ctx, edges); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GraphEdgePut(ctx, edges[:10]); err != nil {
			t.Fatal(err)
		}
		n := 0
		if _, err := s.GraphEdgeLoad(ctx, func(GraphEdge) error { n++; return nil }); err != nil || n != graphPutRows+3 {
			t.Errorf("loaded %d edges, want %d: %v", n, graphPutRows+3, err)
		}
		since, err := s.GraphEdgeSince(ctx, GraphCursor{Seq: 1, ID: 1 << 62}, 100)
		if err != nil || len(since) != 10 {
			t.Errorf("the second put confirmed %d edges, want 10: %v", len(since), err)
		}
	})
}
