package pipeline

import (
	"time"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/plan"
	"github.com/purgehook/purgehook/resolve"
)

// Explanation is what a set of changes would do, without calling anything.
type Explanation struct {
	Resolved resolve.Result
	// Capped says how limits.targets replaced the targets ("" when it did
	// not), as the delivery job does.
	Capped string
	// Steps are the batch's steps, innermost layer first, as plan.All
	// plans them with every budget full; the last step is Done.
	Steps []plan.Step
}

// Explain resolves changes and plans every step of the batch they would
// make, with the same planner the pipeline runs; the budget is assumed
// full. graphOf reads what the content graph knows of the targets'
// tags (Pipeline.PlanGraph; nil: an empty graph that drops unknown tags).
func Explain(r *resolve.Resolver, providers []plan.Provider, sourceSite string, changes []change.Change, now time.Time, graphOf func([]change.Target) plan.Graph) Explanation {
	var e Explanation
	for _, c := range changes {
		res := r.Resolve(c, sourceSite)
		e.Resolved.Targets = append(e.Resolved.Targets, res.Targets...)
		e.Resolved.Dropped = append(e.Resolved.Dropped, res.Dropped...)
	}
	e.Resolved.Targets, e.Capped = r.Cap(e.Resolved.Targets)
	var g plan.Graph
	if graphOf != nil {
		g = graphOf(e.Resolved.Targets)
	}
	e.Steps = plan.All(plan.Input{Targets: e.Resolved.Targets, Providers: providers, Now: now, Graph: g})
	return e
}

// Calls lists the planned calls by provider.
func (e Explanation) Calls() map[string][]change.Call {
	out := map[string][]change.Call{}
	for _, s := range e.Steps {
		for _, c := range s.Calls {
			out[c.Call.Provider] = append(out[c.Call.Provider], c.Call)
		}
	}
	return out
}

// Notes lists every step's notes.
func (e Explanation) Notes() []plan.Note {
	var out []plan.Note
	for _, s := range e.Steps {
		out = append(out, s.Notes...)
	}
	return out
}
