package cli

import (
	"context"
	"fmt"
	"io"
	"time"
)

// trail is where a command follows a delivery's progress: a server's
// admin API (remote), or the private store of purge --direct.
type trail interface {
	// delivery returns the delivery's state and its events, oldest first.
	delivery(ctx context.Context, id int64) (string, []trailEvent, error)
	batchState(ctx context.Context, id int64) (string, error)
}

// trailEvent is one line of a delivery's audit trail.
type trailEvent struct {
	Kind    string `json:"kind"`
	Message string `json:"message"`
	Batch   int64  `json:"batch"`
}

// waitDelivery follows a delivery until every batch that its events
// after the first `from` name has settled, printing the events as they
// come. It fails when a batch failed.
func waitDelivery(ctx context.Context, out io.Writer, t trail, id int64, from int, poll time.Duration) error {
	seen := from
	for {
		state, events, err := t.delivery(ctx, id)
		if err != nil {
			return err
		}
		batches := map[int64]bool{}
		for i, e := range events {
			if i >= seen {
				fmt.Fprintf(out, "  %-8s %s\n", e.Kind, e.Message)
			}
			if i >= from && e.Batch != 0 {
				batches[e.Batch] = true
			}
		}
		seen = max(seen, len(events))
		if state == "nothing to purge" {
			fmt.Fprintln(out, "nothing to purge")
			return nil
		}
		settled, failed := len(batches) > 0, false
		for b := range batches {
			s, err := t.batchState(ctx, b)
			if err != nil {
				return err
			}
			switch s {
			case "done":
			case "failed":
				failed = true
			default:
				settled = false
			}
		}
		if settled {
			if failed {
				return errSilent
			}
			fmt.Fprintln(out, "done")
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("delivery %d not done: %w", id, ctx.Err())
		case <-time.After(poll):
		}
	}
}
