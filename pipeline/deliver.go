package pipeline

import (
	"context"
	"fmt"
	"strings"

	"github.com/riverqueue/river"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/graph"
	"github.com/purgehook/purgehook/store"
)

// flushKey is the state key that says a flush job is queued.
const flushKey = "flush_queued"

// deliveryWorker resolves journaled deliveries' changes into targets and
// queues them for the next batch, all of the job's deliveries (a group
// commit's) in one transaction.
type deliveryWorker struct {
	river.WorkerDefaults[DeliveryArgs]
	p *Pipeline
}

// resolved is one delivery's outcome, read and resolved before the write
// transaction.
type resolved struct {
	id        int64
	requestID string
	changes   int
	targets   []change.Target
	dropped   []string
	capped    string
}

func (w *deliveryWorker) Work(ctx context.Context, job *river.Job[DeliveryArgs]) error {
	p := w.p
	// Another replica may have learned what these changes need (the
	// publish before this unpublish): catch up before resolving.
	if _, err := p.SyncGraph(ctx); err != nil {
		return err
	}
	var out []resolved
	var learned []graph.Edge
	for _, id := range job.Args.ids() {
		d, err := p.st.DeliveryGet(ctx, id)
		if err != nil {
			return err
		}
		changes, err := p.st.ChangeList(ctx, id)
		if err != nil {
			return err
		}
		r := resolved{id: id, requestID: d.RequestID, changes: len(changes)}
		log := p.log.With("delivery", id, "request_id", d.RequestID)
		for _, c := range changes {
			res := p.o.Resolver.Resolve(c, p.o.SourceSites[d.Source])
			r.targets = append(r.targets, res.Targets...)
			if p.o.Graph != nil {
				learned = append(learned, remembered(c, res)...)
			}
			for _, dr := range res.Dropped {
				log.Warn("target dropped", "value", dr.Value, "reason", dr.Reason)
				r.dropped = append(r.dropped, fmt.Sprintf("dropped %q: %s", dr.Value, dr.Reason))
			}
		}
		r.targets, r.capped = p.o.Resolver.Cap(r.targets)
		if r.capped != "" {
			log.Warn("targets capped", "note", r.capped)
		}
		out = append(out, r)
	}
	err := p.st.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.GraphEdgePut(ctx, storeEdges(learned)); err != nil {
			return err
		}
		var events []store.Event
		for _, r := range out {
			for _, e := range r.dropped {
				events = append(events, store.Event{Delivery: r.id, Kind: "dropped", Message: e})
			}
			if r.capped != "" {
				events = append(events, store.Event{Delivery: r.id, Kind: "capped", Message: r.capped})
			}
			events = append(events, store.Event{Delivery: r.id, Kind: "resolved", Message: fmt.Sprintf("%d change(s) → %d target(s): %s", r.changes, len(r.targets), summarize(r.targets))})
		}
		if err := tx.EventAddMany(ctx, events); err != nil {
			return err
		}
		ds := make([]store.DeliveryTargets, len(out))
		for i, r := range out {
			ds[i] = store.DeliveryTargets{Delivery: r.id, Targets: r.targets}
		}
		if err := p.queueTargets(ctx, tx, ds...); err != nil {
			return err
		}
		return store.JobComplete(ctx, tx, job)
	})
	if err == nil {
		for _, r := range out {
			p.log.Info("delivery resolved", "delivery", r.id, "request_id", r.requestID, "changes", r.changes, "targets", len(r.targets))
		}
	}
	if err == nil && len(learned) > 0 {
		// Committed: this replica reads it back at once, in the order of
		// every replica's writes (so a removal another replica committed
		// meanwhile is not undone here); the others on their next
		// catch-up.
		if _, err := p.SyncGraph(ctx); err != nil {
			p.log.Warn("graph catch-up failed", "err", err)
		}
	}
	return err
}

// queueTargets adds deliveries' targets to the next batch and makes sure
// a flush job is queued for it, in a few statements however many
// deliveries there are.
func (p *Pipeline) queueTargets(ctx context.Context, tx *store.Tx, ds ...store.DeliveryTargets) error {
	if err := tx.PendingInsertMany(ctx, ds); err != nil {
		return err
	}
	var nothing, resolved []int64
	for _, d := range ds {
		if len(d.Targets) == 0 {
			nothing = append(nothing, d.Delivery)
		} else {
			resolved = append(resolved, d.Delivery)
		}
	}
	if err := tx.DeliverySetStates(ctx, nothing, store.DeliveryNothing); err != nil {
		return err
	}
	if len(resolved) == 0 {
		return nil
	}
	if err := tx.DeliverySetStates(ctx, resolved, store.DeliveryResolved); err != nil {
		return err
	}
	if err := tx.StateLock(ctx, flushKey); err != nil {
		return err
	}
	queued, err := tx.StateGet(ctx, flushKey)
	if err != nil {
		return err
	}
	if queued == "1" {
		return nil
	}
	if err := tx.JobInsert(ctx, p.queue, FlushArgs{}, nil); err != nil {
		return err
	}
	return tx.StateSet(ctx, flushKey, "1")
}

func summarize(ts []change.Target) string {
	n := map[change.TargetKind]int{}
	for _, t := range ts {
		n[t.Kind]++
	}
	var parts []string
	for _, k := range change.AllKinds {
		if n[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[k], k))
		}
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}
