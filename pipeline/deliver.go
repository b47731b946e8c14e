package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/riverqueue/river"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/graph"
	"github.com/purgehook/purgehook/store"
)

// flushKey is the state key that says a flush job is queued.
const flushKey = "flush_queued"

// The delivery job drains: a group commit queues one only when none is
// queued (deliverKey), and the job resolves every delivery waiting, a
// chunk of deliverChunk at a time, until none is left. Under load that
// is one River job (its insert, fetch and completions) per run of up to
// thousands of deliveries rather than one per group commit of a few, on
// the same single writer the acknowledgements wait for.
const (
	// deliverKey is the state key that says a draining delivery job is
	// queued or running; locked by whoever reads or changes it.
	deliverKey = "deliver_queued"
	// deliverDrainKey serialises the drains' transactions, so that two
	// (a periodic one beside the queued one) never resolve one delivery
	// twice.
	deliverDrainKey = "deliver_drain"
	// deliverChunk is small enough that its transaction holds SQLite's
	// writer for a few milliseconds, not the tens that 1,000 took (an
	// acknowledgement waits for it), and large enough to cost a few
	// statements per chunk rather than per delivery.
	deliverChunk = 250
	// deliverChunkTargets bounds one transaction's targets the same way
	// (flushMaxTargets): a chunk of deliveries with many URLs each is
	// written in several.
	deliverChunkTargets = 1000
	// deliverChunksPerJob bounds one job's run; a longer backlog goes on
	// in the job it queues.
	deliverChunksPerJob = 16
)

// errDrainRaced says another drain resolved some of the deliveries this
// one read: it reads again.
var errDrainRaced = errors.New("pipeline: deliveries resolved by another drain")

// deliveryWorker resolves journaled deliveries' changes into targets and
// queues them for the next batch: the deliveries waiting (a drain, the
// group commits'), or the ones it names (a replay).
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
	// learned is what the graph learns from the delivery's payloads.
	learned []graph.Edge
}

func (w *deliveryWorker) Work(ctx context.Context, job *river.Job[DeliveryArgs]) error {
	p := w.p
	// Another replica may have learned what these changes need (the
	// publish before this unpublish): catch up before resolving.
	if _, err := p.SyncGraph(ctx); err != nil {
		return err
	}
	if job.Args.Delivery != 0 {
		d, err := p.st.DeliveryGet(ctx, job.Args.Delivery)
		if err != nil {
			return err
		}
		out, err := p.resolve(ctx, []store.Delivery{d})
		if err != nil {
			return err
		}
		return p.commitResolved(ctx, out, nil, func(tx *store.Tx) error {
			return store.JobComplete(ctx, tx, job)
		})
	}
	return p.drain(ctx, job)
}

// drain resolves the deliveries waiting, a chunk at a time. Its last
// transaction either clears deliverKey (none left: the next group commit
// queues a new drain) or queues the job that goes on.
func (p *Pipeline) drain(ctx context.Context, job *river.Job[DeliveryArgs]) error {
	for chunk := 1; ; chunk++ {
		ds, err := p.st.DeliveryWaiting(ctx, p.drainChunk)
		if err != nil {
			return err
		}
		last := len(ds) < p.drainChunk || chunk >= p.drainChunks
		out, err := p.resolve(ctx, ds)
		if err != nil {
			return err
		}
		// A transaction per part of at most drainTargets targets: a
		// chunk of deliveries with 71 URLs each would otherwise hold the
		// writer for 17,750 rows.
		parts := splitResolved(out, p.drainTargets)
		for i, part := range parts {
			ids := make([]int64, len(part))
			for j, r := range part {
				ids[j] = r.id
			}
			check := func(tx *store.Tx) error {
				if err := tx.StateLock(ctx, deliverDrainKey); err != nil {
					return err
				}
				n, err := tx.DeliveryWaitingCount(ctx, ids)
				if err == nil && len(ids) > 0 && n != len(ids) {
					err = errDrainRaced
				}
				return err
			}
			err = p.commitResolved(ctx, part, check, func(tx *store.Tx) error {
				if !last || i < len(parts)-1 {
					return nil
				}
				return p.drainDone(ctx, tx, job)
			})
			if err != nil {
				break
			}
		}
		switch {
		case errors.Is(err, errDrainRaced):
			continue
		case err != nil || last:
			return err
		}
	}
}

// splitResolved cuts out into parts of at most max targets each (a
// delivery with more is a part of its own); there is always one part,
// empty when out is.
func splitResolved(out []resolved, max int) [][]resolved {
	parts := [][]resolved{nil}
	n := 0
	for _, r := range out {
		if cur := len(parts) - 1; len(parts[cur]) > 0 && n+len(r.targets) > max {
			parts = append(parts, nil)
			n = 0
		}
		parts[len(parts)-1] = append(parts[len(parts)-1], r)
		n += len(r.targets)
	}
	return parts
}

// drainDone ends a drain's run, in its last transaction (after its
// deliveries are marked resolved): with deliveries still waiting (a backlog longer than
// the run, or ones committed since the chunk was read) it makes sure a
// drain is queued; with none it clears deliverKey.
func (p *Pipeline) drainDone(ctx context.Context, tx *store.Tx, job *river.Job[DeliveryArgs]) error {
	if err := tx.StateLock(ctx, deliverKey); err != nil {
		return err
	}
	left, err := tx.DeliveryWaitingCount(ctx, nil)
	if err != nil {
		return err
	}
	switch {
	case left == 0:
		err = tx.StateSet(ctx, deliverKey, "")
	case job.Args.Periodic:
		// The queued drain, if there is one, goes on; if the flag is
		// clear there is none.
		err = p.queueOnce(ctx, tx, deliverKey, DeliveryArgs{})
	default:
		err = tx.JobInsert(ctx, p.queue, DeliveryArgs{}, nil)
	}
	if err != nil {
		return err
	}
	return store.JobComplete(ctx, tx, job)
}

// resolve reads ds's changes and resolves them into targets, outside any
// transaction.
func (p *Pipeline) resolve(ctx context.Context, ds []store.Delivery) ([]resolved, error) {
	ids := make([]int64, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	changes, err := p.st.ChangeListMany(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]resolved, 0, len(ds))
	for _, d := range ds {
		r := resolved{id: d.ID, requestID: d.RequestID, changes: len(changes[d.ID])}
		log := p.log.With("delivery", d.ID, "request_id", d.RequestID)
		for _, c := range changes[d.ID] {
			res := p.o.Resolver.Resolve(c, p.o.SourceSites[d.Source])
			r.targets = append(r.targets, res.Targets...)
			if p.o.Graph != nil {
				r.learned = append(r.learned, remembered(c, res)...)
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
	return out, nil
}

// commitResolved runs, in one transaction, check (if any), records out
// (writeResolved: what the graph learned, the events, the targets, which
// marks the deliveries resolved), then end.
func (p *Pipeline) commitResolved(ctx context.Context, out []resolved, check, end func(tx *store.Tx) error) error {
	var learned []graph.Edge
	for _, r := range out {
		learned = append(learned, r.learned...)
	}
	err := p.st.InTx(ctx, func(tx *store.Tx) error {
		if check != nil {
			if err := check(tx); err != nil {
				return err
			}
		}
		if len(out) > 0 {
			if err := p.writeResolved(ctx, tx, out, learned); err != nil {
				return err
			}
		}
		return end(tx)
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

// writeResolved records resolved deliveries: the graph's new edges,
// their events, and their targets queued for the next batch.
func (p *Pipeline) writeResolved(ctx context.Context, tx *store.Tx, out []resolved, learned []graph.Edge) error {
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
	return p.queueTargets(ctx, tx, ds...)
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
	return p.queueOnce(ctx, tx, flushKey, FlushArgs{})
}

// queueOnce queues a job of args unless the state key says one is
// queued, and then says so; the key is locked for the rest of the
// transaction, so that the job clearing it when it finds nothing left
// either commits first or sees what this transaction wrote.
func (p *Pipeline) queueOnce(ctx context.Context, tx *store.Tx, key string, args river.JobArgs) error {
	if err := tx.StateLock(ctx, key); err != nil {
		return err
	}
	queued, err := tx.StateGet(ctx, key)
	if err != nil || queued == "1" {
		return err
	}
	if err := tx.JobInsert(ctx, p.queue, args, nil); err != nil {
		return err
	}
	return tx.StateSet(ctx, key, "1")
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
