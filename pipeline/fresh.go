package pipeline

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/purgehook/purgehook/budget"
	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/plan"
	"github.com/purgehook/purgehook/store"
	"github.com/purgehook/purgehook/warm"
)

// The freshness check: once every layer of a batch is purged, its warm-up
// answers say whether the purge took. An answer served from a copy older
// than the purge (warm.Fresh) means the purge did not reach the cache that
// served it (a lost PURGE, a server missing from the list, a CDN that
// acknowledged before it propagated). Such a page is counted
// (purgehook_stale_after_purge_total), purged once more on that cache's
// layer, and the trace says so. Once: a batch re-purges a page at most one
// time, whatever later warm-ups of the batch (an operator's retry) find.

// staleReason starts the reason of every re-purge call, which is how a
// batch knows it already re-purged a page.
const staleReason = "stale after purge"

// checkFresh judges a warm job's answers and queues the re-purges, in the
// warm job's transaction.
func (p *Pipeline) checkFresh(ctx context.Context, tx *store.Tx, batch int64, outcomes []warm.Outcome) error {
	var purged time.Time
	var repurged map[string]bool
	for _, o := range outcomes {
		if o.Err != nil || o.Header == nil {
			continue
		}
		if purged.IsZero() {
			// When the batch's last layer was purged: its newest "purged"
			// event (a retried batch is purged again).
			at, ok, err := tx.EventLatest(ctx, batch, "purged")
			if err != nil || !ok {
				return err
			}
			purged = at
		}
		f := warm.Fresh(o.Header, p.st.Now().Sub(purged))
		if !f.Stale {
			continue
		}
		if repurged == nil {
			var err error
			if repurged, err = staleRepurges(ctx, tx, batch); err != nil {
				return err
			}
		}
		if err := p.repurge(ctx, tx, batch, o.URL, f, repurged[o.URL]); err != nil {
			return err
		}
		repurged[o.URL] = true
	}
	return nil
}

// staleRepurges lists the pages a batch has already purged once more.
func staleRepurges(ctx context.Context, tx *store.Tx, batch int64) (map[string]bool, error) {
	calls, err := tx.CallList(ctx, batch, 100_000)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, c := range calls {
		if strings.HasPrefix(c.Reason, staleReason) {
			for _, u := range c.Items {
				out[u] = true
			}
		}
	}
	return out, nil
}

// repurge counts a stale page against the providers of the layer that
// served it, queues one URL call on each of them that can purge a URL
// (unless the batch did so before), and records it in the trace.
func (p *Pipeline) repurge(ctx context.Context, tx *store.Tx, batch int64, page string, f warm.Freshness, again bool) error {
	layer, providers := p.staleLayer(page, f.Nearest)
	log := p.batchLog(ctx, tx, batch).With("url", page, "age", f.Age, "via", f.Via)
	names := make([]string, 0, len(providers))
	for _, pr := range providers {
		names = append(names, pr.Name)
	}
	tx.AfterCommit(func() {
		if len(names) == 0 {
			p.m.stale.WithLabelValues("").Inc()
		}
		for _, n := range names {
			p.m.stale.WithLabelValues(n).Inc()
		}
	})
	var what string
	switch {
	case len(providers) == 0:
		what = "no provider caches it; not purged again"
	case again:
		what = fmt.Sprintf("already purged once more on the %s layer; not again", layer)
	default:
		done, err := p.queueRepurge(ctx, tx, batch, page, layer, providers)
		if err != nil {
			return err
		}
		what = done
	}
	log.Warn("stale after purge", "layer", layer.String(), "providers", names, "action", what)
	return p.eventBatch(ctx, tx, batch, "stale", fmt.Sprintf("%s %s; %s", page, f, what))
}

// queueRepurge inserts the re-purge calls and their jobs; it returns what
// it did, for the trace. A provider whose daily budget is spent is left
// out: a stale page does not outrank the budget.
func (p *Pipeline) queueRepurge(ctx context.Context, tx *store.Tx, batch int64, page string, layer change.Layer, providers []plan.Provider) (string, error) {
	var queued, skipped []string
	day := budget.WindowAt(p.st.Now()).Day
	for _, pr := range providers {
		if !pr.Limits.Supports(change.URL) {
			skipped = append(skipped, pr.Name+" (cannot purge a URL)")
			continue
		}
		if pr.Budget.Limited() {
			if err := tx.BudgetLock(ctx, pr.Name); err != nil {
				return "", err
			}
			spent, err := tx.BudgetSpent(ctx, pr.Name, day)
			if err != nil {
				return "", err
			}
			if spent[day] >= pr.Budget.PerDay {
				skipped = append(skipped, pr.Name+" (budget spent)")
				continue
			}
			if err := tx.BudgetSpend(ctx, pr.Name, day, 1); err != nil {
				return "", err
			}
		}
		c, err := tx.CallInsert(ctx, change.Call{Batch: batch, Provider: pr.Name, Layer: layer, Kind: change.URL, Items: []string{page}}, staleReason+": "+page, time.Time{})
		if err != nil {
			return "", err
		}
		if err := tx.JobInsert(ctx, p.queue, CallArgs{Call: c.ID, Provider: c.Provider}, nil); err != nil {
			return "", err
		}
		queued = append(queued, fmt.Sprintf("%s (call %d)", pr.Name, c.ID))
	}
	var parts []string
	if len(queued) > 0 {
		parts = append(parts, fmt.Sprintf("purging it once more on the %s layer: %s", layer, strings.Join(queued, ", ")))
	}
	if len(skipped) > 0 {
		parts = append(parts, "not on "+strings.Join(skipped, ", "))
	}
	return strings.Join(parts, "; "), nil
}

// staleLayer works out which layer served a stale page, and its providers
// that cache the page's site: the outermost layer with such providers when
// the nearest cache answered from its copy, else the next one inside it
// (the nearest cache missed and passed on an inner cache's old copy). The
// app layer is never it: an application's cache adds no Age.
func (p *Pipeline) staleLayer(page string, nearest bool) (change.Layer, []plan.Provider) {
	site := ""
	if s := p.o.Resolver.SiteOfURL(page); s != nil {
		site = s.Name
	}
	byLayer := map[change.Layer][]plan.Provider{}
	var layers []change.Layer
	for _, pr := range p.planned {
		if pr.Layer == change.LayerApp || (len(pr.Sites) > 0 && site != "" && !slices.Contains(pr.Sites, site)) {
			continue
		}
		if _, ok := byLayer[pr.Layer]; !ok {
			layers = append(layers, pr.Layer)
		}
		byLayer[pr.Layer] = append(byLayer[pr.Layer], pr)
	}
	if len(layers) == 0 {
		return change.LayerEdge, nil
	}
	slices.Sort(layers)
	l := layers[len(layers)-1]
	if !nearest && len(layers) > 1 {
		l = layers[len(layers)-2]
	}
	return l, byLayer[l]
}
