package pipeline

import (
	"context"
	"log/slog"
	"sync"
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
	ids, n, ok := p.reqIDs.get(batch)
	if !ok {
		var err error
		ids, n, err = q.BatchRequestIDs(ctx, batch, maxLoggedRequestIDs)
		if err != nil {
			// A log line without its request ids beats a job failed for them.
			log.Debug("request ids unreadable", "err", err)
			return log
		}
		if n > 0 {
			p.reqIDs.put(batch, ids, n)
		}
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

// requestIDCache keeps the request ids of recent batches: every job of a
// batch (each of its calls, its warm-up) logs them, a batch's deliveries
// do not change once it has targets, and reading them means reading
// every target of a batch that may serve thousands of deliveries.
type requestIDCache struct {
	mu sync.Mutex
	m  map[int64]batchRequestIDs
}

type batchRequestIDs struct {
	ids []string
	n   int
}

// requestIDCacheSize bounds the cache; when full it starts again (the
// batches in flight at once are far fewer).
const requestIDCacheSize = 1024

func (c *requestIDCache) get(batch int64) ([]string, int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[batch]
	return e.ids, e.n, ok
}

func (c *requestIDCache) put(batch int64, ids []string, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= requestIDCacheSize {
		c.m = map[int64]batchRequestIDs{}
	}
	c.m[batch] = batchRequestIDs{ids, n}
}
