package plan

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/purgehook/purgehook/change"
)

// Cover is something the content graph knows a batch's URL targets share
// and a provider may purge in one item instead of many URLs: a tag, a
// prefix (an absolute URL ending in "/", which CloudFront purges as the
// wildcard path "/dir/*") or a host, with every page the graph knows it
// covers. The pipeline reads covers from the graph (Pipeline.PlanGraph);
// the cost model decides which, if any, to purge.
type Cover struct {
	Kind  change.TargetKind
	Value string
	// Site is the site of the pages ("" when the cover is not a site's).
	Site string
	// URLs are every page the graph knows the cover purges.
	URLs []string
}

// candidate is a cover a provider can purge in place of the target URLs
// it covers.
type candidate struct {
	Cover
	// covered are the target URLs the cover purges; extra is how many
	// known pages it purges that are not targets.
	covered []string
	extra   int
}

// chosen is what the cost model decided for one provider.
type chosen struct {
	covers []candidate
	// before and after are the plan's cost without and with the covers,
	// in the provider's unit.
	before, after int
}

// candidates returns the covers p can purge whose known pages are URL
// targets, or within p's over-purge allowance: at most OverPurge of the
// cover's known pages may be pages nobody asked to purge. A cover of
// fewer than two targets never makes a plan cheaper, so it is left out.
func candidates(p Provider, targets map[string]bool, covers []Cover) []candidate {
	var out []candidate
	for _, c := range covers {
		if !p.Limits.Supports(c.Kind) || !p.serves(change.Target{Site: c.Site}) || len(c.URLs) == 0 ||
			(p.Covers != nil && !slices.Contains(p.Covers, c.Kind)) {
			continue
		}
		var covered []string
		for _, u := range c.URLs {
			if targets[u] {
				covered = append(covered, u)
			}
		}
		extra := len(c.URLs) - len(covered)
		// A small tolerance keeps 0.1 × 10 from counting as 0.99….
		allowed := int(math.Floor(p.OverPurge*float64(len(c.URLs)) + 1e-9))
		if len(covered) < 2 || extra > allowed {
			continue
		}
		out = append(out, candidate{Cover: c, covered: covered, extra: extra})
	}
	return out
}

// cost is what purging items costs p: the paths for a provider billed per
// item (CloudFront: each invalidation path, a wildcard counting as one),
// the calls after splitting to its limits otherwise.
func cost(p Provider, items map[change.TargetKind][]string) int {
	n := 0
	for _, k := range change.AllKinds {
		if len(items[k]) == 0 {
			continue
		}
		if p.Limits.BilledPerItem {
			n += len(items[k])
			continue
		}
		n += len(split(items[k], p.Limits.Max(k), p.Limits.BodyBytes))
	}
	return n
}

// cheapest chooses, for one provider's planned items, the covers that
// make its plan cheapest, and returns the items with the covered URLs
// replaced by their covers.
//
// Choosing the cheapest set of covers is a set-cover problem; the model is
// greedy: it takes covers in turn, each time the one that covers the most
// target URLs not yet covered (ties: the narrower kind, then the fewer
// pages not asked for, then by value), and keeps the shortest run of
// covers with the lowest cost. Keeping the best run, rather than stopping
// at the first cover that does not lower the cost, lets two covers that
// each leave the number of calls unchanged win together (31 URLs, 30 per
// call: one cover of 16 still needs two calls, two covers need one). Ties
// keep the URLs, which purge exactly what was asked. Purging everything
// is not a cover: it is what escalation and the budget (fit) fall back on
// when nothing else fits.
func cheapest(p Provider, items map[change.TargetKind][]string, covers []Cover) (map[change.TargetKind][]string, chosen) {
	urls := items[change.URL]
	best := chosen{before: cost(p, items)}
	best.after = best.before
	if len(urls) < 2 || len(covers) == 0 {
		return items, best
	}
	targets := make(map[string]bool, len(urls))
	for _, u := range urls {
		targets[u] = true
	}
	cands := candidates(p, targets, covers)
	if len(cands) == 0 {
		return items, best
	}
	done := map[string]bool{}
	var run []candidate
	for len(cands) > 0 {
		i := bestCandidate(cands, done)
		if i < 0 {
			break
		}
		c := cands[i]
		cands = slices.Delete(cands, i, i+1)
		run = append(run, c)
		for _, u := range c.covered {
			done[u] = true
		}
		if n := cost(p, replaced(items, run, done)); n < best.after {
			best.covers, best.after = slices.Clone(run), n
		}
	}
	if len(best.covers) == 0 {
		return items, best
	}
	done = map[string]bool{}
	for _, c := range best.covers {
		for _, u := range c.covered {
			done[u] = true
		}
	}
	return replaced(items, best.covers, done), best
}

// bestCandidate returns the index of the candidate that covers the most
// URLs not in done, or -1 when none covers two or more.
func bestCandidate(cands []candidate, done map[string]bool) int {
	best, bestNew := -1, 1
	for i, c := range cands {
		n := 0
		for _, u := range c.covered {
			if !done[u] {
				n++
			}
		}
		if n > bestNew || (n == bestNew && best >= 0 && narrower(c, cands[best])) {
			best, bestNew = i, n
		}
	}
	return best
}

// narrower orders candidates of equal coverage: a tag before a prefix
// before a host, then the fewer pages not asked for, then by value, so
// that the choice does not depend on the graph's order.
func narrower(a, b candidate) bool {
	ka, kb := slices.Index(change.AllKinds, a.Kind), slices.Index(change.AllKinds, b.Kind)
	return cmp.Or(cmp.Compare(ka, kb), cmp.Compare(a.extra, b.extra), cmp.Compare(a.Value, b.Value)) < 0
}

// replaced returns items with the URLs in done removed and run's covers
// added to their kinds (once each).
func replaced(items map[change.TargetKind][]string, run []candidate, done map[string]bool) map[change.TargetKind][]string {
	out := make(map[change.TargetKind][]string, len(items)+1)
	for k, v := range items {
		out[k] = v
	}
	out[change.URL] = slices.DeleteFunc(slices.Clone(items[change.URL]), func(u string) bool { return done[u] })
	for _, c := range run {
		if !slices.Contains(out[c.Kind], c.Value) {
			out[c.Kind] = append(slices.Clone(out[c.Kind]), c.Value)
		}
	}
	return out
}

// notes says what the cost model chose, so that the trace shows it: each
// cover with the URLs it replaced, and the cost before and after.
func (ch chosen) notes(p Provider) []Note {
	if len(ch.covers) == 0 {
		return nil
	}
	unit := "call(s)"
	if p.Limits.BilledPerItem {
		unit = "path(s)"
	}
	var out []Note
	for _, c := range ch.covers {
		what := fmt.Sprintf("%s %q", c.Kind, c.Value)
		if p.Limits.BilledPerItem && c.Kind == change.Prefix {
			what = fmt.Sprintf("wildcard %q", c.Value+"*")
		}
		n := fmt.Sprintf("%s: chose %s for %d URL(s)", p.Name, what, len(c.covered))
		if c.extra > 0 {
			n += fmt.Sprintf(", also purging %d known page(s) not asked for (over_purge %g)", c.extra, p.OverPurge)
		}
		out = append(out, Note(n))
	}
	out = append(out, Note(fmt.Sprintf("%s: cost model: %d %s instead of %d", p.Name, ch.after, unit, ch.before)))
	return out
}
