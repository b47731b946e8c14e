package pipeline

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/graph"
	"github.com/purgehook/purgehook/plan"
	"github.com/purgehook/purgehook/resolve"
	"github.com/purgehook/purgehook/store"
)

// DefaultGraphSync is how often a replica catches up with the graph
// writes of the others when nothing else made it look (every delivery
// looks before it resolves).
const DefaultGraphSync = 10 * time.Second

// graphPage is how many edges one catch-up read returns.
const graphPage = 10_000

// graphSync keeps a replica's in-memory graph current with the store: it
// reads the edges written after its cursor, by any replica, removals
// included.
type graphSync struct {
	mu  sync.Mutex
	cur store.GraphCursor
}

// Graph returns the pipeline's content graph (nil when it has none).
func (p *Pipeline) Graph() *graph.Graph { return p.o.Graph }

// SyncGraph applies to the in-memory graph every edge written since the
// last sync, and returns how many it read. The first sync loads the whole
// graph (the edges that hold, in one read). It costs one read of the graph's change counter when nothing
// changed.
func (p *Pipeline) SyncGraph(ctx context.Context) (int, error) {
	g := p.o.Graph
	if g == nil {
		return 0, nil
	}
	s := &p.graphSync
	s.mu.Lock()
	defer s.mu.Unlock()
	latest, err := p.st.GraphSeq(ctx)
	if err != nil {
		return 0, fmt.Errorf("graph: sync: %w", err)
	}
	if latest == s.cur.Seq && s.cur.ID == math.MaxInt64 {
		return 0, nil
	}
	if s.cur == (store.GraphCursor{}) && g.Len() == 0 {
		return p.loadGraph(ctx, g)
	}
	n := 0
	for {
		rows, err := p.st.GraphEdgeSince(ctx, s.cur, graphPage)
		if err != nil {
			return n, fmt.Errorf("graph: sync: %w", err)
		}
		edges := make([]graph.Edge, 0, len(rows))
		for _, r := range rows {
			if e, ok := edgeOf(r); ok {
				edges = append(edges, e)
			}
		}
		g.Apply(edges...)
		n += len(rows)
		if len(rows) > 0 {
			last := rows[len(rows)-1]
			s.cur = store.GraphCursor{Seq: last.Seq, ID: last.ID}
		}
		if len(rows) < graphPage {
			break
		}
	}
	// Every write numbered up to latest had committed when latest was
	// read (writers take numbers in turn), and all of them have now been
	// read: the next sync starts after them, and reads nothing more when
	// the counter has not moved.
	if latest >= s.cur.Seq {
		s.cur = store.GraphCursor{Seq: latest, ID: math.MaxInt64}
	}
	p.m.graphEdges.Set(float64(g.Len()))
	return n, nil
}

// loadGraph is the first sync of an empty graph: one read of the edges
// that hold, rather than every row's history page by page, indexed on
// another core as they are read. Should it
// fail part way, the cursor stays at zero and the next sync reads every
// row from the start, removals included, over what was loaded.
func (p *Pipeline) loadGraph(ctx context.Context, g *graph.Graph) (int, error) {
	n := 0
	l := g.Load()
	cur, err := p.st.GraphEdgeLoad(ctx, func(r store.GraphEdge) error {
		n++
		if e, ok := edgeOf(r); ok {
			l.Add(e)
		}
		return nil
	})
	l.Close()
	if err != nil {
		return n, fmt.Errorf("graph: load: %w", err)
	}
	p.graphSync.cur = cur
	p.m.graphEdges.Set(float64(g.Len()))
	return n, nil
}

// syncGraphEvery catches up every interval until ctx ends; a failure is
// logged once until a sync succeeds again.
func (p *Pipeline) syncGraphEvery(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		_, err := p.SyncGraph(ctx)
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			p.log.Warn("graph catch-up failed", "err", err)
			failing = true
		case err == nil && failing:
			p.log.Info("graph catch-up works again")
			failing = false
		}
	}
}

// PlanGraph reads what the planner needs of the content graph for a
// batch: the pages that carry each tag target, when some provider cannot
// purge tags; the covers the cost model may purge instead of URLs, and the
// pages under prefix and host targets (coversOf); and the configured
// policy for tags no known page carries.
func (p *Pipeline) PlanGraph(targets []change.Target) plan.Graph {
	pg := plan.Graph{UnknownTags: p.o.UnknownTags}
	if p.o.Graph == nil {
		return pg
	}
	pg.Covers = coversOf(p.o.Graph, targets, p.planned)
	if !slices.ContainsFunc(p.planned, func(pr plan.Provider) bool { return !pr.Limits.Supports(change.Tag) }) {
		return pg
	}
	for _, t := range targets {
		if t.Kind != change.Tag {
			continue
		}
		if urls := p.o.Graph.URLs(t.Site, graph.Tag, t.Value); len(urls) > 0 {
			if pg.TagURLs == nil {
				pg.TagURLs = map[plan.TagRef][]string{}
			}
			pg.TagURLs[plan.RefOf(t)] = urls
		}
	}
	return pg
}

func edgeOf(r store.GraphEdge) (graph.Edge, bool) {
	k, ok := graph.ParseKind(r.Kind)
	if !ok {
		return graph.Edge{}, false
	}
	o, ok := graph.ParseOrigin(r.Origin)
	if !ok {
		return graph.Edge{}, false
	}
	return graph.Edge{Key: graph.Key{Site: r.Site, Kind: k, Value: r.Value}, URL: r.URL, Origin: o,
		FirstSeen: r.FirstSeen, LastSeen: r.LastSeen, Removed: r.Removed}, true
}

// remembered is what a change's resolution teaches the graph: the URLs the
// payload named for the content, under its id and its codename.
func remembered(c change.Change, res resolve.Result) []graph.Edge {
	var out []graph.Edge
	for _, t := range res.Targets {
		if t.Kind != change.URL || t.Reason != "payload" {
			continue
		}
		for _, k := range []struct {
			kind  graph.Kind
			value string
		}{{graph.ID, c.ContentID}, {graph.Codename, c.Codename}} {
			if k.value != "" {
				out = append(out, graph.Edge{Key: graph.Key{Site: t.Site, Kind: k.kind, Value: k.value}, URL: t.Value, Origin: graph.Payload})
			}
		}
	}
	return out
}

// storeEdges converts edges for the store.
func storeEdges(es []graph.Edge) []store.GraphEdge {
	out := make([]store.GraphEdge, len(es))
	for i, e := range es {
		out[i] = store.GraphEdge{Site: e.Site, Kind: string(e.Kind), Value: e.Value, URL: e.URL, Origin: string(e.Origin), Removed: e.Removed}
	}
	return out
}
