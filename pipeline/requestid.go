package pipeline

import (
	"context"
	"log/slog"
)

// maxLoggedRequestIDs caps the request ids one log line of a batch names:
// a bulk publish coalesces thousands of deliveries into one batch.
const maxLoggedRequestIDs = 20

// requestIDer is the store or a transaction on it.
type requestIDer interface {
	BatchRequestIDs(ctx context.Context, batch int64, limit int) ([]string, int, error)
}

// batchLog is the logger of a batch's jobs (flush, step, call, warm): it
// names the batch and the request ids of the webhooks it serves, so that
// one request id finds every line its webhook caused. A batch coalesces
// deliveries, so it names them all (up to maxLoggedRequestIDs, then how
// many there are in all).
func (p *Pipeline) batchLog(ctx context.Context, q requestIDer, batch int64) *slog.Logger {
	log := p.log.With("batch", batch)
	ids, n, err := q.BatchRequestIDs(ctx, batch, maxLoggedRequestIDs)
	if err != nil {
		// A log line without its request ids beats a job failed for them.
		log.Debug("request ids unreadable", "err", err)
		return log
	}
	if n == 0 {
		return log
	}
	log = log.With("request_ids", ids)
	if n > len(ids) {
		log = log.With("request_ids_total", n)
	}
	return log
}
