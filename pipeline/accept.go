package pipeline

import (
	"context"
	"errors"
	"fmt"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/store"
)

// Accept journals a delivery and its resolve job, in one transaction
// shared with the deliveries accepted at the same moment (group.go), and
// returns once they are durable. It returns the delivery's row id, the id it was journaled under, and
// whether it was new; a redelivery of an accepted (source, delivery id)
// changes nothing. When the writer has fallen behind it returns a
// *BusyError and journals nothing.
//
// Accept is where a delivery's id becomes final (a stale body hash is
// renamed), so it is also where the changes are stamped with it.
func (p *Pipeline) Accept(ctx context.Context, d change.Delivery) (int64, string, bool, error) {
	// A redelivery is answered from a read, without taking the write lock
	// (CMSs retry in bursts when purgehook was slow to answer); the insert
	// below still settles a race between two deliveries of the same id.
	finalID := d.ID
	find := p.st.DeliveryFind
	if d.DedupeWithin > 0 {
		// The window runs from the body's latest acceptance: a replay
		// after the first window must not start a new one each time.
		find = p.st.DeliveryFindLatest
	}
	id, at, err := find(ctx, d.Source, d.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return 0, "", false, fmt.Errorf("journal: %w", err)
	case d.DedupeWithin <= 0 || p.st.Now().Sub(at) <= d.DedupeWithin:
		return id, d.ID, false, nil
	default:
		// Renamings are hash@unix-ms (store.DeliveryFindLatest finds them).
		// The same body long after: a new event that looks like an old one
		// (an unpublish, a publish, the same unpublish again). Purging
		// twice costs a call; not purging leaves a stale page.
		finalID = fmt.Sprintf("%s@%d", d.ID, p.st.Now().UnixMilli())
	}
	d = d.Identify(finalID)
	// The insert settles a race between two deliveries of the same id,
	// in one group or in two.
	id, inserted, err := p.w.journal(ctx, d)
	if err != nil {
		return 0, "", false, err
	}
	return id, d.ID, inserted, nil
}

// manualSource is the pseudo-source of manual purges.
const manualSource = "manual"

// Manual queues targets that did not come from a webhook (the admin API,
// the CLI) as a delivery of the pseudo-source "manual".
func (p *Pipeline) Manual(ctx context.Context, id string, targets []change.Target) (int64, error) {
	var row int64
	err := p.st.InTxDurable(ctx, func(tx *store.Tx) error {
		var err error
		var inserted bool
		row, inserted, err = tx.DeliveryInsert(ctx, change.Delivery{Source: manualSource, ID: id})
		if err != nil || !inserted {
			return err
		}
		if err := tx.EventAdd(ctx, row, 0, "accepted", fmt.Sprintf("manual purge of %d target(s)", len(targets))); err != nil {
			return err
		}
		return p.queueTargets(ctx, tx, store.DeliveryTargets{Delivery: row, Targets: targets})
	})
	return row, err
}

// Replay purges a journaled delivery again: a webhook's changes are
// resolved again with the current rules and sites; a manual purge, which
// has no changes, queues the targets it had.
func (p *Pipeline) Replay(ctx context.Context, delivery int64) error {
	changes, err := p.st.ChangeList(ctx, delivery)
	if err != nil {
		return err
	}
	var targets []change.Target
	if len(changes) == 0 {
		if targets, err = p.st.DeliveryTargets(ctx, delivery); err != nil {
			return err
		}
	}
	return p.st.InTxDurable(ctx, func(tx *store.Tx) error {
		if err := tx.EventAdd(ctx, delivery, 0, "replay", "replay requested"); err != nil {
			return err
		}
		if len(changes) == 0 {
			return p.queueTargets(ctx, tx, store.DeliveryTargets{Delivery: delivery, Targets: targets})
		}
		return tx.JobInsert(ctx, p.queue, DeliveryArgs{Delivery: delivery}, nil)
	})
}
