package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/purgehook/purgehook/graph"
	"github.com/purgehook/purgehook/resolve"
	"github.com/purgehook/purgehook/store"
)

// MaxEdges is the most edges one PUT or DELETE /v1/graph/edges may carry.
const MaxEdges = 10_000

// EdgesRequest is the body of PUT and DELETE /v1/graph/edges: pages a CMS
// plugin or a build step says show a key (a content id, a codename or a
// cache tag).
type EdgesRequest struct {
	Edges []Edge `json:"edges"`
}

// Edge says the page URL shows kind:value. Site may be left out: the
// URL's host names it.
type Edge struct {
	Site  string `json:"site,omitempty"`
	Kind  string `json:"kind"`
	Value string `json:"value"`
	URL   string `json:"url"`
}

// edges registers (PUT) or withdraws (DELETE) edges of origin registered.
// The whole request is checked first: one bad edge refuses it all, with
// the edge's index in the reason, and nothing is written.
func (a *API) edges(w http.ResponseWriter, r *http.Request) {
	var req EdgesRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "malformed request: " + err.Error()})
		return
	}
	if len(req.Edges) == 0 || len(req.Edges) > MaxEdges {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("edges: want 1 to %d edges, got %d", MaxEdges, len(req.Edges))})
		return
	}
	rows := make([]store.GraphEdge, 0, len(req.Edges))
	for i, e := range req.Edges {
		row, why := a.edgeRow(e)
		if why != "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("edges[%d].%s", i, why)})
			return
		}
		rows = append(rows, row)
	}
	ctx := r.Context()
	name, _ := a.tokens.Authorize(r, ScopeGraph)
	var n int
	var err error
	if r.Method == http.MethodDelete {
		n, err = a.st.GraphEdgeRemove(ctx, rows)
	} else {
		_, err = a.st.GraphEdgePut(ctx, rows)
		n = len(rows)
	}
	if err != nil {
		a.fail(w, err)
		return
	}
	// This replica knows at once; the others on their next catch-up.
	if _, err := a.pl.SyncGraph(ctx); err != nil {
		a.log.Warn("graph catch-up failed", "err", err)
	}
	a.log.Info("graph edges", "token", name, "method", r.Method, "edges", len(rows), "changed", n)
	key := "registered"
	if r.Method == http.MethodDelete {
		key = "removed"
	}
	writeJSON(w, http.StatusOK, map[string]int{key: n})
}

// edgeRow checks one edge; why names the field at fault.
func (a *API) edgeRow(e Edge) (store.GraphEdge, string) {
	kind, ok := graph.ParseKind(e.Kind)
	if !ok {
		return store.GraphEdge{}, fmt.Sprintf("kind: want id, codename or tag, got %q", e.Kind)
	}
	if strings.TrimSpace(e.Value) == "" {
		return store.GraphEdge{}, "value: required"
	}
	if !strings.Contains(e.URL, "://") {
		return store.GraphEdge{}, fmt.Sprintf("url: want an absolute URL, got %q", e.URL)
	}
	res := a.res.Manual(resolve.ManualRequest{URLs: []string{e.URL}})
	if len(res.Targets) == 0 {
		why := "outside every configured site"
		if len(res.Dropped) > 0 {
			why = res.Dropped[0].Reason
		}
		return store.GraphEdge{}, fmt.Sprintf("url: %s", why)
	}
	t := res.Targets[0]
	if e.Site != "" && e.Site != t.Site {
		return store.GraphEdge{}, fmt.Sprintf("site: %q, but the URL is a page of site %q", e.Site, t.Site)
	}
	return store.GraphEdge{Site: t.Site, Kind: string(kind), Value: strings.TrimSpace(e.Value), URL: t.Value, Origin: string(graph.Registered)}, ""
}
