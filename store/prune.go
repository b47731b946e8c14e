package store

import (
	"context"
	"fmt"
	"time"

	"github.com/purgehook/purgehook/budget"
)

// Prune deletes what is older than before: deliveries with their changes
// and events, settled batches with their targets, calls and warm-ups,
// stream events, the audit log, finished crawls, spent budgets and removed
// graph edges.
// Work still in progress is kept.
func (q *queries) Prune(ctx context.Context, before time.Time) (int64, error) {
	t := ms(before)
	day := budget.WindowAt(before).Day
	var total int64
	for _, st := range []struct {
		query string
		args  []any
	}{
		{`DELETE FROM ph_warm WHERE batch IN (SELECT id FROM ph_batch WHERE done_at IS NOT NULL AND done_at < ?)`, []any{t}},
		{`DELETE FROM ph_call WHERE batch IN (SELECT id FROM ph_batch WHERE done_at IS NOT NULL AND done_at < ?)`, []any{t}},
		{`DELETE FROM ph_batch_target WHERE batch IN (SELECT id FROM ph_batch WHERE done_at IS NOT NULL AND done_at < ?)`, []any{t}},
		{`DELETE FROM ph_batch WHERE done_at IS NOT NULL AND done_at < ?`, []any{t}},
		{`DELETE FROM ph_event WHERE at < ?`, []any{t}},
		{`DELETE FROM ph_change WHERE delivery IN (SELECT id FROM ph_delivery WHERE received_at < ? AND id NOT IN (SELECT delivery FROM ph_pending) AND id NOT IN (SELECT delivery FROM ph_batch_target))`, []any{t}},
		{`DELETE FROM ph_delivery WHERE received_at < ? AND id NOT IN (SELECT delivery FROM ph_pending) AND id NOT IN (SELECT delivery FROM ph_batch_target) AND id NOT IN (SELECT delivery FROM ph_change)`, []any{t}},
		{`DELETE FROM ph_stream WHERE at < ?`, []any{t}},
		{`DELETE FROM ph_audit WHERE at < ?`, []any{t}},
		// Removed graph edges are kept for replicas catching up; one
		// retention later every replica has long seen the removal.
		{`DELETE FROM ph_graph_edge WHERE removed = 1 AND last_seen < ?`, []any{t}},
		{`DELETE FROM ph_crawl_page WHERE crawl IN (SELECT id FROM ph_crawl WHERE finished_at IS NOT NULL AND finished_at < ?)`, []any{t}},
		{`DELETE FROM ph_crawl WHERE finished_at IS NOT NULL AND finished_at < ?`, []any{t}},
		{`DELETE FROM ph_budget WHERE day < ?`, []any{day}},
	} {
		res, err := q.q.ExecContext(ctx, st.query, st.args...)
		if err != nil {
			return total, fmt.Errorf("store: prune: %w", err)
		}
		n, _ := res.RowsAffected()
		total += n
	}
	return total, nil
}
