package pipeline

import (
	"context"

	"github.com/riverqueue/river"

	"github.com/purgehook/purgehook/store"
)

// pruneWorker deletes settled work older than the retention, hourly.
type pruneWorker struct {
	river.WorkerDefaults[PruneArgs]
	p *Pipeline
}

func (w *pruneWorker) Work(ctx context.Context, job *river.Job[PruneArgs]) error {
	p := w.p
	return p.st.InTx(ctx, func(tx *store.Tx) error {
		n, err := tx.Prune(ctx, p.st.Now().Add(-p.o.Retention))
		if err != nil {
			return err
		}
		if n > 0 {
			p.log.Info("pruned", "rows", n, "older_than", p.o.Retention)
		}
		return store.JobComplete(ctx, tx, job)
	})
}
