package plan

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/purgehook/purgehook/change"
)

// pages returns n page URLs under dir (https://a.example/news/0, …).
func pages(dir string, from, n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("https://a.example/%s/%d", dir, from+i))
	}
	return out
}

func urlTargets(us ...[]string) []change.Target {
	var out []change.Target
	for _, u := range us {
		for _, v := range u {
			out = append(out, change.Target{Kind: change.URL, Value: v, Site: "a"})
		}
	}
	return out
}

// summary is a plan's calls as "kind:items" per call, in order, for
// comparing: "url:30 tag:[news]" lists a tag call's items, a URL call's
// count.
func summary(calls []change.Call) string {
	var s []string
	for _, c := range calls {
		if c.Kind == change.URL {
			s = append(s, fmt.Sprintf("url:%d", len(c.Items)))
			continue
		}
		s = append(s, fmt.Sprintf("%s:%v", c.Kind, c.Items))
	}
	return strings.Join(s, " ")
}

func TestCostModel(t *testing.T) {
	cloudfrontLike := Provider{Name: "cfront", Layer: change.LayerEdge, Limits: change.Limits{
		Kinds:         []change.TargetKind{change.URL, change.Prefix, change.Everything},
		PerCall:       map[change.TargetKind]int{change.URL: 1000, change.Prefix: 15},
		BilledPerItem: true,
	}}
	overPurging := cloudflareLike
	overPurging.OverPurge = 0.1
	royalOnly := cloudflareLike
	royalOnly.Sites = []string{"royal"}
	tagsOnly := cloudflareLike
	tagsOnly.Covers = []change.TargetKind{change.Tag}
	noCovers := cloudflareLike
	noCovers.Covers = []change.TargetKind{}
	news := pages("news", 0, 40)
	newsAndMore := append(slices.Clone(news), "https://a.example/news/archive")
	cases := []struct {
		name      string
		p         Provider
		targets   []change.Target
		covers    []Cover
		want      string
		wantNotes []string
	}{{
		name:      "a tag whose known pages are all targets: one call instead of two",
		p:         cloudflareLike,
		targets:   urlTargets(news),
		covers:    []Cover{{Kind: change.Tag, Value: "news", Site: "a", URLs: news}},
		want:      "tag:[news]",
		wantNotes: []string{`cf: chose tag "news" for 40 URL(s)`, "cf: cost model: 1 call(s) instead of 2"},
	}, {
		name:    "covers: [] turns the cost model off: the URLs",
		p:       noCovers,
		targets: urlTargets(news),
		covers:  []Cover{{Kind: change.Tag, Value: "news", Site: "a", URLs: news}},
		want:    "url:30 url:10",
	}, {
		name:    "covers: [tag] takes a tag but not a prefix",
		p:       tagsOnly,
		targets: urlTargets(news),
		covers:  []Cover{{Kind: change.Prefix, Value: "https://a.example/news/", Site: "a", URLs: news}},
		want:    "url:30 url:10",
	}, {
		name:    "no graph, no covers: the URLs",
		p:       cloudflareLike,
		targets: urlTargets(news),
		want:    "url:30 url:10",
	}, {
		name:    "a tag that also shows a page nobody asked for, over_purge 0: the URLs",
		p:       cloudflareLike,
		targets: urlTargets(news),
		covers:  []Cover{{Kind: change.Tag, Value: "news", Site: "a", URLs: newsAndMore}},
		want:    "url:30 url:10",
	}, {
		name:      "the same tag within over_purge 0.1",
		p:         overPurging,
		targets:   urlTargets(news),
		covers:    []Cover{{Kind: change.Tag, Value: "news", Site: "a", URLs: newsAndMore}},
		want:      "tag:[news]",
		wantNotes: []string{`cf: chose tag "news" for 40 URL(s), also purging 1 known page(s) not asked for (over_purge 0.1)`, "1 call(s) instead of 2"},
	}, {
		name:    "over_purge bounds the extra pages: 5 of 45 is over 0.1",
		p:       overPurging,
		targets: urlTargets(news),
		covers:  []Cover{{Kind: change.Tag, Value: "news", Site: "a", URLs: append(slices.Clone(news), pages("old", 0, 5)...)}},
		want:    "url:30 url:10",
	}, {
		name:    "a cover that saves no call: the URLs, which purge exactly what was asked",
		p:       cloudflareLike,
		targets: urlTargets(pages("news", 0, 10)),
		covers:  []Cover{{Kind: change.Tag, Value: "news", Site: "a", URLs: pages("news", 0, 10)}},
		want:    "url:10",
	}, {
		name:    "two covers that only save a call together",
		p:       cloudflareLike,
		targets: urlTargets(pages("news", 0, 16), pages("sport", 0, 15)),
		covers: []Cover{
			{Kind: change.Tag, Value: "news", Site: "a", URLs: pages("news", 0, 16)},
			{Kind: change.Tag, Value: "sport", Site: "a", URLs: pages("sport", 0, 15)},
		},
		want:      "tag:[news sport]",
		wantNotes: []string{`chose tag "news" for 16 URL(s)`, `chose tag "sport" for 15 URL(s)`, "1 call(s) instead of 2"},
	}, {
		name:    "the widest cover first; the narrower kind on a tie",
		p:       cloudflareLike,
		targets: urlTargets(news),
		covers: []Cover{
			{Kind: change.Host, Value: "a.example", Site: "a", URLs: news},
			{Kind: change.Prefix, Value: "https://a.example/news/", Site: "a", URLs: news},
			{Kind: change.Tag, Value: "front", Site: "a", URLs: news[:35]},
			{Kind: change.Tag, Value: "news", Site: "a", URLs: news},
		},
		want: "tag:[news]",
	}, {
		name:    "a prefix when no tag covers the pages",
		p:       cloudflareLike,
		targets: urlTargets(news),
		covers:  []Cover{{Kind: change.Prefix, Value: "https://a.example/news/", Site: "a", URLs: news}},
		want:    "prefix:[https://a.example/news/]",
	}, {
		name:      "CloudFront: a wildcard path for 40 URLs, counted in paths",
		p:         cloudfrontLike,
		targets:   urlTargets(news),
		covers:    []Cover{{Kind: change.Prefix, Value: "https://a.example/news/", Site: "a", URLs: news}},
		want:      "prefix:[https://a.example/news/]",
		wantNotes: []string{`cfront: chose wildcard "https://a.example/news/*" for 40 URL(s)`, "cfront: cost model: 1 path(s) instead of 40"},
	}, {
		name:      "CloudFront: even two URLs are two paths, a wildcard one",
		p:         cloudfrontLike,
		targets:   urlTargets(pages("news", 0, 2)),
		covers:    []Cover{{Kind: change.Prefix, Value: "https://a.example/news/", Site: "a", URLs: pages("news", 0, 2)}},
		want:      "prefix:[https://a.example/news/]",
		wantNotes: []string{"1 path(s) instead of 2"},
	}, {
		name:    "CloudFront: a wildcard over a page nobody asked for is not taken",
		p:       cloudfrontLike,
		targets: urlTargets(pages("news", 0, 2)),
		covers:  []Cover{{Kind: change.Prefix, Value: "https://a.example/news/", Site: "a", URLs: pages("news", 0, 3)}},
		want:    "url:2",
	}, {
		name:      "CloudFront: three URLs, a wildcard saves two paths though not a call",
		p:         cloudfrontLike,
		targets:   urlTargets(pages("news", 0, 3)),
		covers:    []Cover{{Kind: change.Prefix, Value: "https://a.example/news/", Site: "a", URLs: pages("news", 0, 3)}},
		want:      "prefix:[https://a.example/news/]",
		wantNotes: []string{"1 path(s) instead of 3"},
	}, {
		name:    "CloudFront cannot purge tags: a tag cover is not a candidate",
		p:       cloudfrontLike,
		targets: urlTargets(news),
		covers:  []Cover{{Kind: change.Tag, Value: "news", Site: "a", URLs: news}},
		want:    "url:40",
	}, {
		name:    "another site's cover never reaches a provider of one site",
		p:       royalOnly,
		targets: []change.Target{{Kind: change.URL, Value: news[0], Site: "royal"}, {Kind: change.URL, Value: news[1], Site: "royal"}},
		covers:  []Cover{{Kind: change.Tag, Value: "news", Site: "a", URLs: news[:2]}},
		want:    "url:2",
	}, {
		name: "a chosen tag joins the batch's own tag call",
		p:    cloudflareLike,
		targets: append(urlTargets(pages("news", 0, 31)),
			change.Target{Kind: change.Tag, Value: "front", Site: "a"}),
		covers: []Cover{{Kind: change.Tag, Value: "news", Site: "a", URLs: pages("news", 0, 31)}},
		want:   "tag:[front news]",
	}, {
		name:    "a cover of part of the URLs",
		p:       cloudflareLike,
		targets: urlTargets(pages("news", 0, 65), pages("misc", 0, 5)),
		covers:  []Cover{{Kind: change.Prefix, Value: "https://a.example/news/", Site: "a", URLs: pages("news", 0, 65)}},
		want:    "url:5 prefix:[https://a.example/news/]",
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			calls, notes, _ := CallsWith(tc.p, tc.targets, Graph{Covers: tc.covers})
			if got := summary(calls); got != tc.want {
				t.Errorf("calls %s, want %s", got, tc.want)
			}
			all := fmt.Sprint(notes)
			for _, w := range tc.wantNotes {
				if !strings.Contains(all, w) {
					t.Errorf("notes %q lack %q", notes, w)
				}
			}
			if strings.HasPrefix(tc.want, "url:") && !strings.Contains(tc.want, "[") && len(notes) != 0 {
				t.Errorf("notes %q, want none when the URLs are kept", notes)
			}
		})
	}
}

// The choice reaches the step's notes, which the trace records.
func TestCostModelNotesInTheStep(t *testing.T) {
	news := pages("news", 0, 40)
	s := Next(Input{Targets: urlTargets(news), Providers: []Provider{cloudflareLike}, Now: nov23,
		Graph: Graph{Covers: []Cover{{Kind: change.Tag, Value: "news", Site: "a", URLs: news}}}})
	if len(s.Calls) != 1 || s.Calls[0].Call.Kind != change.Tag {
		t.Fatalf("calls %+v", s.Calls)
	}
	if !slices.Contains(s.Notes, Note(`cf: chose tag "news" for 40 URL(s)`)) {
		t.Errorf("notes %q", s.Notes)
	}
}

// A target an inner layer cannot purge becomes the pages the graph knows
// under it; when the graph knows none, the step says the outer layer's
// purge may refetch the inner layer's stale copy.
func TestInnerLayerCannotPurge(t *testing.T) {
	nginx := Provider{Name: "nginx", Layer: change.LayerOrigin, Limits: change.Limits{Kinds: []change.TargetKind{change.URL}}}
	prefix := change.Target{Kind: change.Prefix, Value: "https://a.example/news/", Site: "a"}
	tag := change.Target{Kind: change.Tag, Value: "news", Site: "a"}
	news := pages("news", 0, 3)

	s := Next(Input{Targets: []change.Target{prefix}, Providers: []Provider{nginx, cloudflareLike}, Now: nov23,
		Graph: Graph{Covers: []Cover{{Kind: change.Prefix, Value: prefix.Value, Site: "a", URLs: news}}}})
	if s.Layer != change.LayerOrigin || summary(callsOf(s)) != "url:3" || len(s.Stale) != 0 {
		t.Errorf("expanded: %+v", s)
	}

	s = Next(Input{Targets: []change.Target{prefix, tag}, Providers: []Provider{nginx, cloudflareLike}, Now: nov23})
	if s.Layer != change.LayerEdge || summary(callsOf(s)) != "tag:[news] prefix:[https://a.example/news/]" {
		t.Errorf("the edge still purges: %+v", s)
	}
	if len(s.Stale) != 2 || s.Stale[0].Provider != "nginx" || s.Stale[0].Layer != change.LayerOrigin || !slices.Equal(s.Stale[0].Outer, []string{"cf"}) {
		t.Errorf("stale %+v", s.Stale)
	}
	want := Note(`nginx (origin): 2 targets (prefix "https://a.example/news/", …) not purged here; cf outside may refetch the stale copy`)
	if !slices.Contains(s.Notes, want) {
		t.Errorf("notes %q lack %q", s.Notes, want)
	}

	// With no outer layer, nothing can refetch it: a note, no stale.
	s = Next(Input{Targets: []change.Target{prefix}, Providers: []Provider{nginx}, Now: nov23})
	if !s.Done || len(s.Stale) != 0 || len(s.Notes) != 1 {
		t.Errorf("alone: %+v", s)
	}
}

func callsOf(s Step) []change.Call {
	var out []change.Call
	for _, c := range s.Calls {
		out = append(out, c.Call)
	}
	return out
}

// cheapestByRescan is the cost model as it was first written: at each
// step it counts every candidate's new URLs and re-splits the whole plan.
// It is quadratic and more (a bulk import's batch of 5,000 covers held a
// flush for minutes), but plainly right, so the lazy greedy is checked
// against it.
func cheapestByRescan(p Provider, items map[change.TargetKind][]string, covers []Cover) (map[change.TargetKind][]string, int) {
	urls := items[change.URL]
	before := cost(p, items)
	targets := map[string]bool{}
	for _, u := range urls {
		targets[u] = true
	}
	cands := candidates(p, targets, covers)
	done := map[string]bool{}
	var run, bestRun []candidate
	bestCost := before
	for len(cands) > 0 {
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
		if best < 0 {
			break
		}
		c := cands[best]
		cands = slices.Delete(cands, best, best+1)
		run = append(run, c)
		for _, u := range c.covered {
			done[u] = true
		}
		if n := cost(p, replaced(items, run, done)); n < bestCost {
			bestRun, bestCost = slices.Clone(run), n
		}
	}
	done = map[string]bool{}
	for _, c := range bestRun {
		for _, u := range c.covered {
			done[u] = true
		}
	}
	if len(bestRun) == 0 {
		return items, before
	}
	return replaced(items, bestRun, done), bestCost
}

// TestCheapestAgreesWithRescan draws batches of overlapping covers (a
// site's directories, tags that share pages) and checks that the lazy
// greedy chooses what the plain one does when only item limits bind, and
// that with a body limit it never makes a plan dearer or drops a target.
func TestCheapestAgreesWithRescan(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	byItems := Provider{Name: "cf", Layer: change.LayerEdge, Limits: change.Limits{
		Kinds: change.AllKinds, PerCall: map[change.TargetKind]int{change.URL: 7, change.Tag: 3, change.Prefix: 4, change.Host: 2},
	}}
	byBytes := byItems
	byBytes.Limits.BodyBytes = 600
	withCovers := 0
	for i := range 300 {
		var all []string
		for d := range 1 + r.IntN(6) {
			all = append(all, pages(fmt.Sprintf("d%d", d), 0, 1+r.IntN(12))...)
		}
		var covers []Cover
		for c := range r.IntN(12) {
			var us []string
			for _, u := range all {
				if r.IntN(3) == 0 {
					us = append(us, u)
				}
			}
			kind := []change.TargetKind{change.Tag, change.Prefix, change.Host}[r.IntN(3)]
			covers = append(covers, Cover{Kind: kind, Value: fmt.Sprintf("c%d", c), URLs: us})
		}
		var asked []string
		for _, u := range all {
			if r.IntN(5) != 0 {
				asked = append(asked, u)
			}
		}
		items := map[change.TargetKind][]string{change.URL: asked, change.Tag: {"c0"}}
		got, ch := cheapest(byItems, items, covers)
		want, wantCost := cheapestByRescan(byItems, items, covers)
		if ch.after != wantCost || !sameItems(got, want) {
			t.Fatalf("batch %d: lazy %v (cost %d), rescan %v (cost %d)", i, got, ch.after, want, wantCost)
		}
		if len(ch.covers) > 0 {
			withCovers++
		}
		got, ch = cheapest(byBytes, items, covers)
		if ch.after > ch.before || cost(byBytes, got) != ch.after {
			t.Fatalf("batch %d, body limit: cost %d → %d (recomputed %d)", i, ch.before, ch.after, cost(byBytes, got))
		}
		coveredBy := map[string]bool{}
		for _, u := range got[change.URL] {
			coveredBy[u] = true
		}
		for _, c := range ch.covers {
			for _, u := range c.covered {
				coveredBy[u] = true
			}
		}
		for _, u := range asked {
			if !coveredBy[u] {
				t.Fatalf("batch %d, body limit: %s neither planned nor covered", i, u)
			}
		}
	}
	if withCovers < 30 {
		t.Fatalf("covers chosen in %d batches of 300: the draw does not test the choice", withCovers)
	}
}

func sameItems(a, b map[change.TargetKind][]string) bool {
	for _, k := range change.AllKinds {
		if !slices.Equal(a[k], b[k]) {
			return false
		}
	}
	return true
}

// BenchmarkCheapestBulkImport is a bulk import's batch: n deliveries,
// each two pages under a directory of its own that the graph knows (a
// prefix cover each), and the four list pages they share; "rescan" is the
// first cost model (cheapestByRescan), the baseline, at the smaller size.
func BenchmarkCheapestBulkImport(b *testing.B) {
	batch := func(n int) (map[change.TargetKind][]string, []Cover) {
		var urls []string
		var covers []Cover
		for i := range n {
			own := pages(fmt.Sprintf("p/%d", i), 0, 2)
			urls = append(urls, own...)
			covers = append(covers, Cover{Kind: change.Prefix, Value: fmt.Sprintf("https://a.example/p/%d/", i), URLs: own})
		}
		urls = append(urls, pages("news", 0, 4)...)
		return map[change.TargetKind][]string{change.URL: urls}, covers
	}
	for _, n := range []int{250, 2500} {
		items, covers := batch(n)
		b.Run(fmt.Sprintf("lazy/%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, ch := cheapest(cloudflareLike, items, covers); len(ch.covers) == 0 {
					b.Fatal("no cover chosen")
				}
			}
		})
		if n > 250 {
			continue // the rescan takes minutes
		}
		b.Run(fmt.Sprintf("rescan/%d", n), func(b *testing.B) {
			for b.Loop() {
				cheapestByRescan(cloudflareLike, items, covers)
			}
		})
	}
}

func TestCostNotesNameTwentyCoversAndCountTheRest(t *testing.T) {
	var urls []string
	var covers []Cover
	for i := range 50 {
		own := pages(fmt.Sprintf("p/%d", i), 0, 3)
		urls = append(urls, own...)
		covers = append(covers, Cover{Kind: change.Prefix, Value: fmt.Sprintf("https://a.example/p/%d/", i), URLs: own})
	}
	_, ch := cheapest(cloudflareLike, map[change.TargetKind][]string{change.URL: urls}, covers)
	notes := ch.notes(cloudflareLike)
	if len(ch.covers) != 50 || len(notes) != maxCoverNotes+2 {
		t.Fatalf("%d covers, %d notes: %v", len(ch.covers), len(notes), notes)
	}
	if got := string(notes[maxCoverNotes]); got != "cf: and 30 more cover(s) for 90 URL(s)" {
		t.Errorf("summary note: %q", got)
	}
	if got := string(notes[len(notes)-1]); got != "cf: cost model: 2 call(s) instead of 5" {
		t.Errorf("cost note: %q", got)
	}
}
