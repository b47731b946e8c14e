package plan

import (
	"fmt"
	"time"

	"github.com/purgehook/purgehook/budget"
	"github.com/purgehook/purgehook/change"
)

// paced fits a limited provider's calls into its budget's allowance (see
// budget.Budget.Allowance): the calls the allowance covers now go now;
// under purge_everything a plan it cannot cover becomes one
// purge-everything call; every call beyond the allowance waits for the
// time the reserve lets it go (its budget.Budget.Slot), today or in a
// following window.
func paced(p Provider, calls []change.Call, now time.Time, spent budget.Spent) ([]Scheduled, Note) {
	b := p.Budget
	w := budget.WindowAt(now)
	remaining := b.PerDay - spent[w.Day]
	allowed := min(b.Allowance(now)-spent[w.Day], remaining)
	if len(calls) <= allowed {
		return atOnce(calls, w.Day, ""), ""
	}
	var note Note
	// One call becomes one call: escalating it would purge more for
	// nothing.
	if b.Policy == budget.PurgeEverything && p.Limits.Supports(change.Everything) && len(calls) > 1 {
		note = Note(fmt.Sprintf("%s: %d calls needed, %s: one purge-everything instead", p.Name, len(calls), leftToday(b, now, spent[w.Day])))
		calls = []change.Call{{Provider: p.Name, Layer: p.Layer, Kind: change.Everything}}
		if allowed >= 1 {
			return []Scheduled{{Call: calls[0], Day: w.Day, Reason: note}}, note
		}
		// Not even one call allowed now: the everything call waits.
	}
	out, deferred := slots(b, calls, now, spent)
	switch {
	case deferred > 0 && note == "":
		note = Note(fmt.Sprintf("%s: %d of %d calls wait for the budget (%s); the last at %s", p.Name, deferred, len(calls), leftToday(b, now, spent[w.Day]), out[len(out)-1].NotBefore.Format(time.RFC3339)))
	case deferred > 0 && remaining <= 0:
		note += Note(fmt.Sprintf("; no budget left today, it waits until %s", out[0].NotBefore.Format(time.RFC3339)))
	case deferred > 0:
		note += Note(fmt.Sprintf("; the reserve allows no call now, it waits until %s", out[0].NotBefore.Format(time.RFC3339)))
	}
	for i := range out {
		out[i].Reason = note
	}
	return out, note
}

// slots charges each call to the first window with a call left and
// schedules it for the time that window's allowance covers it; it returns
// the calls and how many of them wait.
func slots(b budget.Budget, calls []change.Call, now time.Time, spent budget.Spent) ([]Scheduled, int) {
	w := budget.WindowAt(now)
	used := budget.Spent{}
	out := make([]Scheduled, 0, len(calls))
	deferred := 0
	for _, c := range calls {
		k := spent[w.Day] + used[w.Day] + 1
		for k > b.PerDay {
			w = w.Next()
			k = spent[w.Day] + used[w.Day] + 1
		}
		used[w.Day]++
		s := Scheduled{Call: c, Day: w.Day}
		if at := b.Slot(w, k); at.After(now) {
			s.NotBefore = at
			deferred++
		}
		out = append(out, s)
	}
	return out, deferred
}

// leftToday says what the budget has left now, and how much of it the
// reserve keeps for later changes.
func leftToday(b budget.Budget, now time.Time, spent int) string {
	remaining := max(b.PerDay-spent, 0)
	allowed := max(min(b.Allowance(now)-spent, remaining), 0)
	if allowed == remaining {
		return fmt.Sprintf("%d left in today's budget of %d", remaining, b.PerDay)
	}
	return fmt.Sprintf("%d left in today's budget of %d, %d of them kept for later changes (budget.reserve)", remaining, b.PerDay, remaining-allowed)
}

// Ready is the earliest time from now on at which every limited
// provider's budget allows its next call, as far as the reserve holds it
// back: when the pipeline takes the targets waiting for a batch. Until
// then a batch could only wait for the same call, and every batch taken
// meanwhile would charge calls of its own, spending the reserve on the
// storm it is kept from; waiting, the targets coalesce into one batch, and
// a storm spends one call per step of the allowance. A budget spent for
// the day holds nothing back: waiting for tomorrow would hold the inner
// layers too, so its calls wait instead.
func Ready(providers []Provider, spent map[string]budget.Spent, now time.Time) time.Time {
	ready := now
	today := budget.WindowAt(now).Day
	for _, p := range providers {
		if !p.Budget.Limited() {
			continue
		}
		out, _ := slots(p.Budget, []change.Call{{}}, now, spent[p.Name])
		if at := out[0].NotBefore; out[0].Day == today && at.After(ready) {
			ready = at
		}
	}
	return ready
}
