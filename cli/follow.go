package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/purgehook/purgehook/admin"
	"github.com/purgehook/purgehook/store"
)

// trail is where a command follows a delivery's progress: a server's
// admin API (remote), or the private store of purge --direct (local).
type trail interface {
	progress(ctx context.Context, id int64) (admin.Progress, error)
}

// Outcome is how a followed delivery ended, as --json prints it.
type Outcome struct {
	// State is done, failed or "nothing to purge".
	State   string                `json:"state"`
	Batches []admin.BatchProgress `json:"batches"`
	Events  []store.Event         `json:"events"`
}

// Outcome states.
const (
	outcomeDone    = "done"
	outcomeFailed  = "failed"
	outcomeNothing = "nothing to purge"
)

// watcher shows a followed delivery's progress.
type watcher interface {
	// event is a new line of the delivery's trail.
	event(e store.Event)
	// progress is how many of the batches' calls and warm-ups are done
	// of how many are known so far, and what is happening.
	progress(done, total int, what string)
	// end is the outcome.
	end(state string)
}

// newWatcher shows progress as a bar when out is a terminal, as plain
// lines otherwise, and not at all for --json (quiet).
func newWatcher(out io.Writer, quiet bool) watcher {
	if quiet {
		return quietWatcher{}
	}
	if f, ok := out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return newBarWatcher(out)
	}
	return lineWatcher{out}
}

// waitDelivery follows a delivery until every batch that its events
// after the first `from` name has settled, showing its trail and progress
// on w. It returns the outcome; a failed batch is an outcome, not an
// error.
func waitDelivery(ctx context.Context, t trail, id int64, from int, poll time.Duration, w watcher) (Outcome, error) {
	seen := from
	for {
		p, err := t.progress(ctx, id)
		if err != nil {
			return Outcome{}, err
		}
		for i := seen; i < len(p.Events); i++ {
			w.event(p.Events[i])
		}
		seen = max(seen, len(p.Events))
		o := Outcome{Events: p.Events[min(from, len(p.Events)):], Batches: []admin.BatchProgress{}}
		if p.Delivery.State == store.DeliveryNothing {
			o.State = outcomeNothing
			w.end(o.State)
			return o, nil
		}
		mine := map[int64]bool{}
		for _, e := range o.Events {
			if e.Batch != 0 {
				mine[e.Batch] = true
			}
		}
		done, total := 0, 0
		what := string(p.Delivery.State)
		settled, failed := len(mine) > 0, false
		for _, b := range p.Batches {
			if !mine[b.ID] {
				continue
			}
			o.Batches = append(o.Batches, b)
			done += b.CallsDone + b.Warmed
			total += b.Calls + b.Warm
			switch b.State {
			case store.BatchDone:
			case store.BatchFailed:
				failed = true
			default:
				settled = false
				what = fmt.Sprintf("batch %d %s", b.ID, b.State)
				if b.State == store.BatchPurging && b.Layer != "" {
					what += " " + b.Layer
				}
			}
		}
		w.progress(done, total, what)
		if settled {
			o.State = outcomeDone
			// A provider refused an item of this delivery's (the batch
			// went on for the others').
			if failed || p.Delivery.State == store.DeliveryFailed {
				o.State = outcomeFailed
			}
			w.end(o.State)
			return o, nil
		}
		select {
		case <-ctx.Done():
			return o, fmt.Errorf("delivery %d not done: %w", id, ctx.Err())
		case <-time.After(poll):
		}
	}
}

// lineWatcher prints the trail as lines, for logs and CI.
type lineWatcher struct{ out io.Writer }

func (l lineWatcher) event(e store.Event)       { fmt.Fprintf(l.out, "  %-8s %s\n", e.Kind, e.Message) }
func (l lineWatcher) progress(int, int, string) {}
func (l lineWatcher) end(state string)          { fmt.Fprintln(l.out, state) }

// quietWatcher shows nothing: --json prints the outcome at the end.
type quietWatcher struct{}

func (quietWatcher) event(store.Event)         {}
func (quietWatcher) progress(int, int, string) {}
func (quietWatcher) end(string)                {}

// barWatcher draws a progress bar of the calls and warm-ups done, with
// the trail's lines printed above it.
type barWatcher struct {
	out io.Writer
	bar *progressbar.ProgressBar
}

func newBarWatcher(out io.Writer) *barWatcher {
	return &barWatcher{out: out, bar: progressbar.NewOptions(1,
		progressbar.OptionSetWriter(out),
		progressbar.OptionSetWidth(30),
		progressbar.OptionShowCount(),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionSetPredictTime(false),
		progressbar.OptionThrottle(0),
		progressbar.OptionClearOnFinish(),
	)}
}

func (b *barWatcher) event(e store.Event) {
	_ = b.bar.Clear()
	fmt.Fprintf(b.out, "  %-8s %s\n", e.Kind, e.Message)
}

func (b *barWatcher) progress(done, total int, what string) {
	b.bar.ChangeMax(max(total, 1))
	b.bar.Describe(what)
	_ = b.bar.Set(done)
}

func (b *barWatcher) end(state string) {
	_ = b.bar.Clear()
	fmt.Fprintln(b.out, state)
}
