package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/riverqueue/river"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/graph"
	"github.com/purgehook/purgehook/purger"
	"github.com/purgehook/purgehook/store"
)

// bisectReason starts the reason of the halves of a call a provider
// refused with 400; the call's id follows.
const bisectReason = "bisected from call"

// badRequest reports whether a provider answered 400: the call's body,
// perhaps one item of it, was refused.
func badRequest(err error) bool {
	var pe *purger.Error
	return errors.As(err, &pe) && pe.Status == http.StatusBadRequest
}

// refuse records the one item a provider refused once bisection left it
// alone. The other items of the call were purged by the other halves, so
// the layer is not stopped: the call is refused (not failed), the layer
// closes as usual, and only the deliveries whose targets led to the item
// are marked failed, with an event saying which item and why. The call is
// listed with the failures, for an operator to fix the item and retry.
func (p *Pipeline) refuse(ctx context.Context, job *river.Job[CallArgs], row store.CallRow, cause error) error {
	p.m.calls.WithLabelValues(row.Provider, "refused").Inc()
	p.log.Error("item refused", "provider", row.Provider, "batch", row.Batch, "call", row.ID, "item", row.Items[0], "err", cause)
	msg := cause.Error()
	return p.st.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.BatchLock(ctx, row.Batch); err != nil {
			return err
		}
		if err := tx.CallUpdate(ctx, store.CallUpdateParams{ID: row.ID, State: store.CallRefused, Error: msg, Attempted: true}); err != nil {
			return err
		}
		targets, err := tx.BatchTargets(ctx, row.Batch)
		if err != nil {
			return err
		}
		ds := p.deliveriesOf(targets, row.Kind, row.Items[0])
		note := fmt.Sprintf("%s refused %s %q (call %d): %s; the batch's other items go on", row.Provider, row.Kind, row.Items[0], row.ID, msg)
		events := make([]store.Event, len(ds))
		for i, d := range ds {
			events[i] = store.Event{Delivery: d, Batch: row.Batch, Kind: "failed", Message: note}
		}
		if err := tx.EventAddMany(ctx, events); err != nil {
			return err
		}
		if err := tx.DeliverySetStates(ctx, ds, store.DeliveryFailed); err != nil {
			return err
		}
		return p.closeLayer(ctx, tx, job, row)
	})
}

// deliveriesOf returns the deliveries whose targets led to an item of a
// call: a target of the same value; a URL under a prefix or on a host
// item; a tag the graph knows the URL item carries, or a URL the graph
// knows carries the tag item (the planner's expansions and covers). When
// none is found, every delivery of the batch is named rather than none.
func (p *Pipeline) deliveriesOf(targets []store.PendingTarget, kind change.TargetKind, item string) []int64 {
	var tags map[string]bool
	if g := p.o.Graph; g != nil && kind == change.URL {
		tags = map[string]bool{}
		for _, k := range g.Keys(item) {
			if k.Kind == graph.Tag {
				tags[k.Value] = true
			}
		}
	}
	var carriers map[string]bool
	if g := p.o.Graph; g != nil && kind == change.Tag {
		carriers = map[string]bool{}
		for _, u := range g.URLs("", graph.Tag, item) {
			carriers[u] = true
		}
	}
	led := func(t change.Target) bool {
		switch {
		case t.Value == item:
			return true
		case kind == change.Prefix:
			return strings.HasPrefix(t.Value, item)
		case kind == change.Host:
			u, err := url.Parse(t.Value)
			return err == nil && strings.EqualFold(u.Hostname(), item)
		case kind == change.URL && t.Kind == change.Tag:
			return tags[t.Value]
		case kind == change.Tag && t.Kind == change.URL:
			return carriers[t.Value]
		}
		return false
	}
	var out, all []int64
	seen, seenAll := map[int64]bool{}, map[int64]bool{}
	for _, t := range targets {
		if !seenAll[t.Delivery] {
			seenAll[t.Delivery] = true
			all = append(all, t.Delivery)
		}
		if led(t.Target) && !seen[t.Delivery] {
			seen[t.Delivery] = true
			out = append(out, t.Delivery)
		}
	}
	if len(out) == 0 {
		return all
	}
	return out
}

// refusedWhole counts the refused calls of a batch's layer whose provider
// had no call of the layer done: when bisection found every item refused,
// the provider refused the calls, not an item, and the layer is not
// purged.
func (p *Pipeline) refusedWhole(ctx context.Context, tx *store.Tx, batch int64, layer change.Layer) (int, error) {
	calls, err := tx.CallList(ctx, batch, 100_000)
	if err != nil {
		return 0, err
	}
	refused, done := map[string]int{}, map[string]bool{}
	for _, c := range calls {
		if c.Layer != layer {
			continue
		}
		switch c.State {
		case store.CallRefused:
			refused[c.Provider]++
		case store.CallDone:
			done[c.Provider] = true
		}
	}
	n := 0
	for pr, k := range refused {
		if !done[pr] {
			n += k
		}
	}
	return n, nil
}
