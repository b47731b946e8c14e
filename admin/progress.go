package admin

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/store"
)

// Progress is how far a delivery got: what `purge --wait` and `replay
// --wait` follow. Batches are those its events name, oldest first.
type Progress struct {
	Delivery store.Delivery  `json:"delivery"`
	Events   []store.Event   `json:"events"`
	Batches  []BatchProgress `json:"batches"`
}

// BatchProgress counts a batch's calls and warm-ups.
type BatchProgress struct {
	ID    int64            `json:"id"`
	State store.BatchState `json:"state"`
	Layer string           `json:"layer"`
	Error string           `json:"error,omitempty"`
	// Calls counts the calls that purge something (not those split,
	// retried or skipped, which others replaced); CallsDone those done.
	Calls     int `json:"calls"`
	CallsDone int `json:"calls_done"`
	// Warm counts the pages to fetch again; Warmed those fetched (failed
	// fetches included).
	Warm   int `json:"warm"`
	Warmed int `json:"warmed"`
	// Layers counts the calls per layer, innermost first, for the layers
	// the batch has calls in: how far the purge got through the caches.
	Layers []LayerProgress `json:"layers"`
}

// LayerProgress counts one layer's calls in a batch, as Calls and
// CallsDone do; Failed counts those that failed.
type LayerProgress struct {
	Layer  string `json:"layer"`
	Calls  int    `json:"calls"`
	Done   int    `json:"done"`
	Failed int    `json:"failed"`
}

// ReadProgress reads a delivery's progress from the store.
func ReadProgress(ctx context.Context, st *store.Store, id int64) (Progress, error) {
	d, err := st.DeliveryGet(ctx, id)
	if err != nil {
		return Progress{}, err
	}
	events, err := st.EventList(ctx, id, 0, 10_000)
	if err != nil {
		return Progress{}, err
	}
	slices.Reverse(events)
	p := Progress{Delivery: d, Events: nonNil(events), Batches: []BatchProgress{}}
	seen := map[int64]bool{}
	for _, e := range events {
		if e.Batch == 0 || seen[e.Batch] {
			continue
		}
		seen[e.Batch] = true
		b, err := st.BatchGet(ctx, e.Batch)
		if err != nil {
			return Progress{}, err
		}
		bp := BatchProgress{ID: b.ID, State: b.State, Error: b.Error, Layers: []LayerProgress{}}
		if b.Layer >= 0 {
			bp.Layer = b.Layer.String()
		}
		calls, err := st.CallList(ctx, b.ID, 100_000)
		if err != nil {
			return Progress{}, err
		}
		byLayer := map[change.Layer]*LayerProgress{}
		for _, c := range calls {
			if c.State == store.CallSplit || c.State == store.CallRetried || c.State == store.CallSkipped {
				continue
			}
			lp := byLayer[c.Layer]
			if lp == nil {
				lp = &LayerProgress{Layer: c.Layer.String()}
				byLayer[c.Layer] = lp
			}
			lp.Calls++
			bp.Calls++
			switch c.State {
			case store.CallDone:
				lp.Done++
				bp.CallsDone++
			case store.CallFailed:
				lp.Failed++
			}
		}
		for _, l := range slices.Sorted(maps.Keys(byLayer)) {
			bp.Layers = append(bp.Layers, *byLayer[l])
		}
		warms, err := st.WarmList(ctx, b.ID, "", 100_000)
		if err != nil {
			return Progress{}, err
		}
		for _, w := range warms {
			bp.Warm++
			if w.State != store.WarmPending {
				bp.Warmed++
			}
		}
		p.Batches = append(p.Batches, bp)
	}
	return p, nil
}

// manualBy reports whether a delivery is a manual purge made with the
// token named name: its id is manual-{name}-{unix nanoseconds}.
func manualBy(d store.Delivery, name string) bool {
	rest, ok := strings.CutPrefix(d.DeliveryID, "manual-")
	if d.Source != "manual" || !ok {
		return false
	}
	i := strings.LastIndexByte(rest, '-')
	return i > 0 && rest[:i] == name
}

// progress serves GET /v1/deliveries/{id}/progress to a token with the
// read or replay scope, or with the purge scope for the purges it made
// itself, so that a CI token that may only purge can wait for its purge.
func (a *API) progress(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	name, canRead := a.tokens.Authorize(r, ScopeRead)
	if name == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="purgehook"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "a bearer token is required"})
		return
	}
	if !canRead {
		// A token that may replay any delivery may follow it.
		_, canRead = a.tokens.Authorize(r, ScopeReplay)
	}
	_, canPurge := a.tokens.Authorize(r, ScopePurge)
	if !canRead && !canPurge {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": fmt.Sprintf("token %q lacks the read scope", name)})
		return
	}
	p, err := ReadProgress(r.Context(), a.st, id)
	if err != nil {
		if !canRead && errors.Is(err, store.ErrNotFound) {
			// Not found and not yours look the same to a purge token.
			writeJSON(w, http.StatusForbidden, map[string]string{"error": fmt.Sprintf("token %q lacks the read scope and did not make delivery %d", name, id)})
			return
		}
		a.fail(w, err)
		return
	}
	if !canRead && !manualBy(p.Delivery, name) {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": fmt.Sprintf("token %q lacks the read scope and did not make delivery %d", name, id)})
		return
	}
	writeJSON(w, http.StatusOK, p)
}
