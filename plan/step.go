package plan

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/purgehook/purgehook/budget"
	"github.com/purgehook/purgehook/change"
)

// Input is everything one planning step reads.
type Input struct {
	Targets   []change.Target
	Providers []Provider
	// From is the innermost layer still to purge: change.LayerApp for a
	// new batch, the layer after the one that just completed otherwise.
	From change.Layer
	// Spent is each limited provider's spending per window, from the
	// window of Now on; a provider or window that is absent spent nothing.
	Spent map[string]budget.Spent
	Now   time.Time
	// Graph is what the content graph knows of the targets' tags.
	Graph Graph
}

// Step is a batch's next step: the calls of one layer, or, when Done,
// nothing left to purge.
type Step struct {
	Layer change.Layer
	Calls []Scheduled
	// Notes say what the planner escalated, dropped or deferred, and why.
	Notes []Note
	// Done means no layer from Input.From outwards has a call to make: the
	// batch goes on to its warm-up.
	Done bool
	// Broad means a call of the step purges a whole host or everything,
	// so the affected sites' warm lists are fetched afterwards.
	Broad bool
	// Dropped are the tags a provider of the step's layer, or of a layer
	// passed on the way to it, could not purge and no known page carries.
	Dropped []DroppedTag
	// Stale are the targets a provider of the step's layer, or of a layer
	// passed on the way to it, purged nothing for while a provider of an
	// outer layer purges them: the outer cache may refetch the inner
	// one's stale copy.
	Stale []Stale
}

// Stale is a target an inner provider could not purge, under an outer
// provider that does.
type Stale struct {
	// Provider and Layer are the inner provider's.
	Provider string
	Layer    change.Layer
	Target   change.Target
	// Outer names the outer providers that purge the target.
	Outer []string
}

// Scheduled is a call with the budget window it is charged to and the
// time it may run from (zero: now).
type Scheduled struct {
	Call change.Call
	// Day names the budget window the call is charged to ("" when the
	// provider's budget is unlimited).
	Day       string
	NotBefore time.Time
	// Reason is the budget's decision about the call, if it made one.
	Reason Note
}

// Charges counts a step's calls per provider and budget window: what the
// pipeline adds to the ledger when it persists the step.
func (s Step) Charges() map[string]budget.Spent {
	out := map[string]budget.Spent{}
	for _, c := range s.Calls {
		if c.Day == "" {
			continue
		}
		if out[c.Call.Provider] == nil {
			out[c.Call.Provider] = budget.Spent{}
		}
		out[c.Call.Provider][c.Day]++
	}
	return out
}

// CallsOf returns the step's calls for one provider.
func (s Step) CallsOf(provider string) []Scheduled {
	var out []Scheduled
	for _, c := range s.Calls {
		if c.Call.Provider == provider {
			out = append(out, c)
		}
	}
	return out
}

// Next plans a batch's next step: the innermost layer from in.From
// outwards whose providers have calls to make for in.Targets, within
// their limits and budgets.
func Next(in Input) Step {
	var notes []Note
	var dropped []DroppedTag
	var stale []Stale
	for _, layer := range change.Layers {
		if layer < in.From {
			continue
		}
		s := Step{Layer: layer}
		for _, p := range in.Providers {
			if p.Layer != layer {
				continue
			}
			r := callsFor(p, in.Targets, in.Graph)
			calls := r.calls
			notes = append(notes, r.notes...)
			dropped = append(dropped, r.dropped...)
			var st []Stale
			for _, t := range r.unpurged {
				if s, ok := staleUnder(p, t, in.Providers); ok {
					st = append(st, s)
				}
			}
			if len(st) > 0 {
				stale = append(stale, st...)
				notes = append(notes, staleNote(st))
			}
			overdraft := slices.ContainsFunc(in.Targets, func(t change.Target) bool {
				return t.Kind == change.Everything && t.Overdraft && p.serves(t)
			})
			sched, note := fit(p, calls, in.Now, in.Spent[p.Name], overdraft)
			if note != "" {
				notes = append(notes, note)
			}
			for _, c := range sched {
				if c.Call.Kind == change.Everything || c.Call.Kind == change.Host {
					s.Broad = true
				}
			}
			s.Calls = append(s.Calls, sched...)
		}
		if len(s.Calls) > 0 {
			s.Notes, s.Dropped, s.Stale = notes, dropped, stale
			return s
		}
	}
	return Step{Done: true, Notes: notes, Dropped: dropped, Stale: stale}
}

// staleUnder reports whether a provider of a layer outside p's purges t,
// which p could not purge: that provider's cache may then refetch p's
// stale copy.
func staleUnder(p Provider, t change.Target, providers []Provider) (Stale, bool) {
	st := Stale{Provider: p.Name, Layer: p.Layer, Target: t}
	for _, q := range providers {
		if q.Layer > p.Layer && q.serves(t) {
			st.Outer = append(st.Outer, q.Name)
		}
	}
	return st, len(st.Outer) > 0
}

// staleNote says, once for one provider's stale targets, which outer
// providers may refetch their stale copies.
func staleNote(st []Stale) Note {
	first := st[0]
	what := fmt.Sprintf("%s %q", first.Target.Kind, first.Target.Value)
	if len(st) > 1 {
		what = fmt.Sprintf("%d targets (%s, …)", len(st), what)
	}
	return Note(fmt.Sprintf("%s (%s): %s not purged here; %s outside may refetch the stale copy", first.Provider, first.Layer, what, strings.Join(first.Outer, ", ")))
}

// All plans every step at once, as if each layer completed as soon as it
// was planned, charging each step's calls before planning the next: what
// `purgehook explain` shows and `purge --direct` starts from.
func All(in Input) []Step {
	spent := map[string]budget.Spent{}
	for p, s := range in.Spent {
		spent[p] = budget.Spent{}
		for d, n := range s {
			spent[p][d] = n
		}
	}
	in.Spent = spent
	var steps []Step
	for {
		s := Next(in)
		steps = append(steps, s)
		if s.Done {
			return steps
		}
		for p, days := range s.Charges() {
			if spent[p] == nil {
				spent[p] = budget.Spent{}
			}
			for d, n := range days {
				spent[p][d] += n
			}
		}
		in.From = s.Layer + 1
	}
}

// fit fits a provider's calls into its budget, as its pace allows now
// (pace.go). Under purge_everything a plan the allowance cannot cover
// becomes one purge-everything call (if the provider supports it); under
// wait, and when not even that one call is allowed now, calls beyond the
// allowance are scheduled for when the reserve lets them go, or into the
// following windows. An overdraft plan (an emergency purge of everything)
// goes now, charged to today even past the budget and its reserve.
func fit(p Provider, calls []change.Call, now time.Time, spent budget.Spent, overdraft bool) ([]Scheduled, Note) {
	b := p.Budget
	w := budget.WindowAt(now)
	if overdraft && b.Limited() {
		var note Note
		if over := len(calls) - (b.PerDay - spent[w.Day]); over > 0 {
			note = Note(fmt.Sprintf("%s: emergency purge of everything sent now, %d call(s) past today's budget of %d (overdraft)", p.Name, min(over, len(calls)), b.PerDay))
		}
		return atOnce(calls, w.Day, note), note
	}
	if !b.Limited() {
		return atOnce(calls, "", ""), ""
	}
	return paced(p, calls, now, spent)
}

// atOnce schedules calls to run now, charged to day ("" when the budget
// is unlimited), with the budget's reason.
func atOnce(calls []change.Call, day string, reason Note) []Scheduled {
	out := make([]Scheduled, len(calls))
	for i, c := range calls {
		out[i] = Scheduled{Call: c, Day: day, Reason: reason}
	}
	return out
}
