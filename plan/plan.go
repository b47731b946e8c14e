// Package plan turns a batch's targets into provider calls: it escalates
// targets a provider cannot purge to a kind that covers them, deduplicates,
// collapses everything-covered targets, splits into calls within the
// provider's per-call limits, and decides what to do when the daily budget
// cannot cover the plan. Everything here is a pure function; the pipeline
// reads the budget from the store and records what the plan decided.
package plan

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/purgehook/purgehook/change"
)

// Provider is what the planner needs to know about one provider.
type Provider struct {
	Name   string
	Layer  change.Layer
	Limits change.Limits
}

// Note is something the planner decided that a person should be able to
// see (an escalation, a target no kind of this provider covers).
type Note string

// Calls plans targets for one provider. The calls carry Provider, Layer,
// Kind and Items; ids and keys are the store's.
func Calls(p Provider, targets []change.Target) ([]change.Call, []Note) {
	var notes []Note
	byKind := map[change.TargetKind][]string{}
	seen := map[string]bool{}
	everything := false
	for _, t := range targets {
		et, ok := escalate(t, p.Limits)
		if !ok {
			notes = append(notes, Note(fmt.Sprintf("%s: cannot purge %s %q: no supported kind covers it", p.Name, t.Kind, t.Value)))
			continue
		}
		if et.Kind != t.Kind {
			notes = append(notes, Note(fmt.Sprintf("%s: %s %q purged as %s %q (kind not supported)", p.Name, t.Kind, t.Value, et.Kind, et.Value)))
		}
		if et.Kind == change.Everything {
			everything = true
			continue
		}
		if seen[et.Key()] {
			continue
		}
		seen[et.Key()] = true
		byKind[et.Kind] = append(byKind[et.Kind], et.Value)
	}
	if everything {
		return []change.Call{{Provider: p.Name, Layer: p.Layer, Kind: change.Everything}}, notes
	}
	var calls []change.Call
	for _, k := range change.AllKinds {
		items := byKind[k]
		if len(items) == 0 {
			continue
		}
		for _, chunk := range split(items, p.Limits.Max(k), p.Limits.BodyBytes) {
			calls = append(calls, change.Call{Provider: p.Name, Layer: p.Layer, Kind: k, Items: chunk})
		}
	}
	return calls, notes
}

// escalate returns the narrowest target of a supported kind that covers t:
// a URL by its host, a prefix by its host, a host or tag by everything.
func escalate(t change.Target, l change.Limits) (change.Target, bool) {
	for {
		if l.Supports(t.Kind) {
			return t, true
		}
		switch t.Kind {
		case change.URL, change.Prefix:
			u, err := url.Parse(t.Value)
			if err != nil || u.Host == "" {
				t = change.Target{Kind: change.Everything, Site: t.Site}
				continue
			}
			t = change.Target{Kind: change.Host, Value: strings.ToLower(u.Hostname()), Site: t.Site}
		case change.Tag, change.Host:
			t = change.Target{Kind: change.Everything, Site: t.Site}
		default:
			return t, false
		}
	}
}

// split chunks items so that no chunk has more than max items (0: no
// limit) or more than maxBytes of encoded items (0: no limit). A single
// item larger than maxBytes still gets a call of its own: the provider will
// refuse it and say why, which is better than silently dropping it.
func split(items []string, maxItems, maxBytes int) [][]string {
	const overhead = 64 // the JSON envelope around the items
	var out [][]string
	var cur []string
	size := overhead
	for _, it := range items {
		n := len(it) + 3 // quotes and comma
		if len(cur) > 0 && ((maxItems > 0 && len(cur) >= maxItems) || (maxBytes > 0 && size+n > maxBytes)) {
			out = append(out, cur)
			cur, size = nil, overhead
		}
		cur = append(cur, it)
		size += n
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// Budget policies.
const (
	PurgeEverything = "purge_everything"
	Wait            = "wait"
)

// Scheduled is a call with the time it may run from (zero: now).
type Scheduled struct {
	Call      change.Call
	NotBefore time.Time
	// Day is the budget window the call is charged to.
	Day string
}

// BudgetDecision is what the budget made of a plan.
type BudgetDecision struct {
	Calls []Scheduled
	// Escalated says the plan was replaced by one purge-everything call.
	Escalated bool
	Note      Note
}

// Window is one budget window: its name and when it starts.
type Window struct {
	Day   string
	Start time.Time
}

// ApplyBudget fits calls into a provider's daily budget. perDay 0 means
// unlimited. spent reports what a window has already spent; next returns
// the window after the given one. With policy purge_everything a plan the
// remaining budget cannot cover becomes one everything call (if the
// provider supports it); with wait, calls beyond the budget are scheduled
// into the following windows.
func ApplyBudget(p Provider, calls []change.Call, policy string, perDay int, now Window, spent func(day string) int, next func(Window) Window) BudgetDecision {
	var d BudgetDecision
	if perDay <= 0 {
		for _, c := range calls {
			d.Calls = append(d.Calls, Scheduled{Call: c, Day: now.Day})
		}
		return d
	}
	remaining := perDay - spent(now.Day)
	if len(calls) <= remaining {
		for _, c := range calls {
			d.Calls = append(d.Calls, Scheduled{Call: c, Day: now.Day})
		}
		return d
	}
	everythingOnly := len(calls) == 1 && calls[0].Kind == change.Everything
	if policy == PurgeEverything && p.Limits.Supports(change.Everything) && !everythingOnly {
		d.Escalated = true
		d.Note = Note(fmt.Sprintf("%s: %d calls needed, %d left in today's budget of %d: one purge-everything instead", p.Name, len(calls), max(remaining, 0), perDay))
		calls = []change.Call{{Provider: p.Name, Layer: p.Layer, Kind: change.Everything}}
		if remaining >= 1 {
			d.Calls = []Scheduled{{Call: calls[0], Day: now.Day}}
			return d
		}
		// Not even one call left today: the everything call waits.
	}
	w := now
	left := remaining
	deferred := 0
	for _, c := range calls {
		for left <= 0 {
			w = next(w)
			left = perDay - spent(w.Day)
		}
		s := Scheduled{Call: c, Day: w.Day}
		if w.Day != now.Day {
			s.NotBefore = w.Start
			deferred++
		}
		d.Calls = append(d.Calls, s)
		left--
	}
	if deferred > 0 && d.Note == "" {
		d.Note = Note(fmt.Sprintf("%s: %d of %d calls wait for the next budget window (%d per day)", p.Name, deferred, len(calls), perDay))
	} else if deferred > 0 {
		d.Note += Note(fmt.Sprintf("; no budget left today, it waits until %s", d.Calls[0].NotBefore.Format(time.RFC3339)))
	}
	return d
}

// Layers returns the layers that have providers, innermost first.
func Layers(ps []Provider) []change.Layer {
	var out []change.Layer
	for _, l := range change.Layers {
		if slices.ContainsFunc(ps, func(p Provider) bool { return p.Layer == l }) {
			out = append(out, l)
		}
	}
	return out
}
