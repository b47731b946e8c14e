package ui

import (
	"context"
	"fmt"
	"html/template"
	"slices"
	"strings"
	"time"

	"github.com/purgehook/purgehook/admin"
	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/store"
)

// Stage states, which the stylesheet colours.
const (
	stDone    = "done"
	stActive  = "active"
	stFailed  = "failed"
	stNone    = "none" // not reached, or nothing to do there
	stWaiting = "waiting"
)

// stage is one step of a delivery's way through purgehook.
type stage struct {
	Name  string
	State string
	// Detail is the tooltip: counts, errors.
	Detail string
}

// row is one delivery in the timeline.
type row struct {
	ID                     int64
	At                     time.Time
	Source, Content, Event string
	Stages                 []stage
}

func (u *UI) rows(ctx context.Context, n int) ([]row, error) {
	ds, err := u.o.Store.DeliveryList(ctx, n)
	if err != nil {
		return nil, err
	}
	layers := u.layers()
	out := make([]row, 0, len(ds))
	for _, d := range ds {
		p, err := admin.ReadProgress(ctx, u.o.Store, d.ID)
		if err != nil {
			return nil, err
		}
		changes, err := u.o.Store.ChangeList(ctx, d.ID)
		if err != nil {
			return nil, err
		}
		r := row{ID: d.ID, At: d.ReceivedAt, Source: d.Source}
		r.Content, r.Event = summary(d, changes)
		r.Stages = stages(p, layers)
		out = append(out, r)
	}
	return out, nil
}

// summary names a delivery's content and event in a few words.
func summary(d store.Delivery, changes []change.Change) (content, event string) {
	if len(changes) == 0 {
		return d.DeliveryID, ""
	}
	c := changes[0]
	content = cmp(c.ContentID, c.Codename, c.Slug)
	if content == "" && len(c.URLs) > 0 {
		content = c.URLs[0]
	}
	if len(changes) > 1 {
		content += fmt.Sprintf(" (+%d more)", len(changes)-1)
	}
	return content, c.Event
}

func cmp(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// stages reads a delivery's progress as accepted → resolved → planned →
// purged, one stage per configured layer → warmed.
func stages(p admin.Progress, layers []string) []stage {
	d := p.Delivery
	out := []stage{{Name: "accepted", State: stDone, Detail: d.ReceivedAt.UTC().Format(time.RFC3339)}}
	resolved := stage{Name: "resolved", State: stActive}
	switch d.State {
	case store.DeliveryResolved:
		resolved.State = stDone
	case store.DeliveryNothing:
		resolved.State, resolved.Detail = stDone, "nothing to purge"
	}
	out = append(out, resolved)
	nothing := d.State == store.DeliveryNothing
	settled := len(p.Batches) > 0
	calls, warm, warmed := 0, 0, 0
	for _, b := range p.Batches {
		if b.State != store.BatchDone && b.State != store.BatchFailed {
			settled = false
		}
		calls += b.Calls
		warm += b.Warm
		warmed += b.Warmed
	}
	planned := stage{Name: "planned", State: stWaiting}
	switch {
	case nothing:
		planned.State = stNone
	case calls > 0 || settled:
		planned.State, planned.Detail = stDone, fmt.Sprintf("%d batch(es), %d call(s)", len(p.Batches), calls)
	case len(p.Batches) > 0:
		planned.State = stActive
	}
	out = append(out, planned)
	for _, l := range layers {
		out = append(out, layerStage(p.Batches, l, settled || nothing))
	}
	w := stage{Name: "warmed", State: stWaiting}
	switch {
	case warm > 0 && warmed == warm:
		w.State, w.Detail = stDone, fmt.Sprintf("%d page(s)", warm)
	case warm > 0:
		w.State, w.Detail = stActive, fmt.Sprintf("%d of %d page(s)", warmed, warm)
	case settled || nothing:
		w.State, w.Detail = stNone, "nothing to warm"
	}
	return append(out, w)
}

// layerStage is one layer's calls across the delivery's batches.
func layerStage(bs []admin.BatchProgress, layer string, settled bool) stage {
	s := stage{Name: "purged " + layer, State: stWaiting}
	calls, done, failed := 0, 0, 0
	var errs []string
	for _, b := range bs {
		for _, l := range b.Layers {
			if l.Layer != layer {
				continue
			}
			calls, done, failed = calls+l.Calls, done+l.Done, failed+l.Failed
			if l.Failed > 0 && b.Error != "" && !slices.Contains(errs, b.Error) {
				errs = append(errs, b.Error)
			}
		}
	}
	switch {
	case failed > 0:
		s.State, s.Detail = stFailed, fmt.Sprintf("%d of %d call(s) failed %s", failed, calls, strings.Join(errs, "; "))
	case calls > 0 && done == calls:
		s.State, s.Detail = stDone, fmt.Sprintf("%d call(s)", calls)
	case calls > 0:
		s.State, s.Detail = stActive, fmt.Sprintf("%d of %d call(s) done", done, calls)
	case settled:
		s.State, s.Detail = stNone, "no call in this layer"
	}
	return s
}

// trace is one delivery, whole.
type trace struct {
	Delivery store.Delivery
	Changes  []change.Change
	Stages   []stage
	Batches  []batchTrace
	Events   []store.Event
}

type batchTrace struct {
	Batch   store.Batch
	Targets []targetView
	Calls   []store.CallRow
	Warms   []store.Warm
}

// targetView is a target with the chain that led to it.
type targetView struct {
	change.Target
	// From is the delivery the target came from when another delivery's
	// (the batch coalesced them); 0 for this one.
	From  int64
	Chain []string
}

func (u *UI) readTrace(ctx context.Context, id int64) (trace, error) {
	st := u.o.Store
	p, err := admin.ReadProgress(ctx, st, id)
	if err != nil {
		return trace{}, err
	}
	changes, err := st.ChangeList(ctx, id)
	if err != nil {
		return trace{}, err
	}
	t := trace{Delivery: p.Delivery, Changes: changes, Stages: stages(p, u.layers()), Events: p.Events}
	for _, bp := range p.Batches {
		b, err := st.BatchGet(ctx, bp.ID)
		if err != nil {
			return trace{}, err
		}
		bt := batchTrace{Batch: b}
		targets, err := st.BatchTargets(ctx, b.ID)
		if err != nil {
			return trace{}, err
		}
		for _, pt := range targets {
			tv := targetView{Target: pt.Target, Chain: chain(pt.Target, changes)}
			if pt.Delivery != id {
				tv.From = pt.Delivery
			}
			bt.Targets = append(bt.Targets, tv)
		}
		// This delivery's targets first, the coalesced ones after.
		slices.SortStableFunc(bt.Targets, func(a, b targetView) int {
			return boolInt(a.From != 0) - boolInt(b.From != 0)
		})
		if bt.Calls, err = st.CallList(ctx, b.ID, 1000); err != nil {
			return trace{}, err
		}
		if bt.Warms, err = st.WarmList(ctx, b.ID, "", 1000); err != nil {
			return trace{}, err
		}
		t.Batches = append(t.Batches, bt)
	}
	return t, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// chain explains a target: the change that asked for it, and for a page
// the content graph found, the key it was found by.
func chain(t change.Target, changes []change.Change) []string {
	content := ""
	if len(changes) > 0 {
		c := changes[0]
		content = fmt.Sprintf("%s %s", c.Event, cmp(c.ContentID, c.Codename, c.Slug))
	}
	key, ok := strings.CutPrefix(t.Reason, "graph: ")
	if !ok {
		if content == "" {
			return []string{t.Reason}
		}
		return []string{content, t.Reason}
	}
	return []string{content, "content graph: the page shows " + key, "page " + t.Value}
}

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"ts": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("15:04:05")
	},
	"full": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	},
	"items": func(items []string) string {
		if len(items) <= 3 {
			return strings.Join(items, " ")
		}
		return fmt.Sprintf("%s … (%d in all)", strings.Join(items[:3], " "), len(items))
	},
	"join": strings.Join,
	"ms": func(d time.Duration) string {
		return fmt.Sprintf("%d ms", d.Milliseconds())
	},
}
