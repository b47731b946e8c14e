package plan

import (
	"cmp"
	"container/heap"
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
	// gain is how many of covered the greedy last found not yet covered.
	gain int
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
//
// A batch of a bulk import has thousands of targets and as many covers,
// so the greedy is lazy (a heap keyed by each cover's last count of new
// URLs, a count that only falls as URLs are covered) and a run's cost is
// kept as running counts (tally) instead of splitting the items anew for
// each cover: the choice takes about (covers + covered URLs) × log
// covers, not their product. The chosen plan is then costed exactly, and
// its covers kept only if it is cheaper.
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
	h := make(candHeap, len(cands))
	for i := range cands {
		cands[i].gain = len(cands[i].covered)
		h[i] = &cands[i]
	}
	heap.Init(&h)
	t := newTally(p, items)
	done := map[string]bool{}
	var run []candidate
	bestLen, bestCost := 0, best.before
	for h.Len() > 0 {
		c := heap.Pop(&h).(*candidate)
		c.gain = 0
		for _, u := range c.covered {
			if !done[u] {
				c.gain++
			}
		}
		if c.gain < 2 {
			continue // it can only cover fewer as others are taken
		}
		if h.Len() > 0 && h.less(h[0], c) {
			heap.Push(&h, c) // another may cover more: look at it first
			continue
		}
		run = append(run, *c)
		for _, u := range c.covered {
			if !done[u] {
				done[u] = true
				t.remove(change.URL, u)
			}
		}
		t.add(c.Kind, c.Value)
		if n := t.cost(); n < bestCost {
			bestLen, bestCost = len(run), n
		}
	}
	if bestLen == 0 {
		return items, best
	}
	run = run[:bestLen]
	done = map[string]bool{}
	for _, c := range run {
		for _, u := range c.covered {
			done[u] = true
		}
	}
	out := replaced(items, run, done)
	if n := cost(p, out); n < best.before {
		best.covers, best.after = run, n
		return out, best
	}
	return items, best
}

// candHeap orders candidates by the URLs they would newly cover, most
// first, then narrower first.
type candHeap []*candidate

func (h candHeap) less(a, b *candidate) bool {
	if a.gain != b.gain {
		return a.gain > b.gain
	}
	return narrower(*a, *b)
}
func (h candHeap) Len() int           { return len(h) }
func (h candHeap) Less(i, j int) bool { return h.less(h[i], h[j]) }
func (h candHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *candHeap) Push(x any)        { *h = append(*h, x.(*candidate)) }
func (h *candHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// tally is a plan's items as counts per kind, so that a run of covers is
// costed without splitting its items anew.
type tally struct {
	p     Provider
	n     map[change.TargetKind]int
	bytes map[change.TargetKind]int             // as split counts them: each item's length + 3
	has   map[change.TargetKind]map[string]bool // the items of the kinds covers are added to
	items map[change.TargetKind][]string
}

func newTally(p Provider, items map[change.TargetKind][]string) *tally {
	t := &tally{p: p, n: map[change.TargetKind]int{}, bytes: map[change.TargetKind]int{},
		has: map[change.TargetKind]map[string]bool{}, items: items}
	for k, v := range items {
		t.n[k] = len(v)
		for _, it := range v {
			t.bytes[k] += len(it) + 3
		}
	}
	return t
}

func (t *tally) remove(k change.TargetKind, it string) {
	t.n[k]--
	t.bytes[k] -= len(it) + 3
}

// add counts a cover, once however many times it is added and whether or
// not the plan had it already.
func (t *tally) add(k change.TargetKind, it string) {
	if t.has[k] == nil {
		t.has[k] = map[string]bool{}
		for _, v := range t.items[k] {
			t.has[k][v] = true
		}
	}
	if t.has[k][it] {
		return
	}
	t.has[k][it] = true
	t.n[k]++
	t.bytes[k] += len(it) + 3
}

// cost is cost's figure for the counted items: exact when only the
// per-call item limit binds (split then makes ⌈n / max⌉ calls), at least
// the calls the body limit needs for the bytes otherwise (split may need
// one or two more, as whole items do not fill a body to the byte).
func (t *tally) cost() int {
	total := 0
	for _, k := range change.AllKinds {
		n := t.n[k]
		if n <= 0 {
			continue
		}
		if t.p.Limits.BilledPerItem {
			total += n
			continue
		}
		calls := 1
		if m := t.p.Limits.Max(k); m > 0 {
			calls = (n + m - 1) / m
		}
		if b := t.p.Limits.BodyBytes; b > splitOverhead {
			per := b - splitOverhead
			calls = max(calls, (t.bytes[k]+per-1)/per)
		}
		total += calls
	}
	return total
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
	has := map[change.TargetKind]map[string]bool{}
	for _, c := range run {
		if has[c.Kind] == nil {
			has[c.Kind] = map[string]bool{}
			for _, v := range items[c.Kind] {
				has[c.Kind][v] = true
			}
			out[c.Kind] = slices.Clone(items[c.Kind])
		}
		if !has[c.Kind][c.Value] {
			has[c.Kind][c.Value] = true
			out[c.Kind] = append(out[c.Kind], c.Value)
		}
	}
	return out
}

// maxCoverNotes is how many chosen covers the notes name one by one; a
// bulk import's batch may choose thousands, and the trace shows the notes.
const maxCoverNotes = 20

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
	shown := ch.covers
	if len(shown) > maxCoverNotes {
		shown = shown[:maxCoverNotes]
	}
	for _, c := range shown {
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
	if more := len(ch.covers) - len(shown); more > 0 {
		covered := 0
		for _, c := range ch.covers[len(shown):] {
			covered += len(c.covered)
		}
		out = append(out, Note(fmt.Sprintf("%s: and %d more cover(s) for %d URL(s)", p.Name, more, covered)))
	}
	out = append(out, Note(fmt.Sprintf("%s: cost model: %d %s instead of %d", p.Name, ch.after, unit, ch.before)))
	return out
}
