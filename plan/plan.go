// Package plan is purgehook's one planner: given a batch's targets, the
// providers (their layers, per-call limits and budgets) and what each
// budget has spent, it computes the batch's next step: the innermost layer
// that has something to purge, with its calls escalated to kinds the
// provider supports, deduplicated, split within the per-call limits and
// fitted into the daily budget, plus notes saying what was escalated and
// why. A tag for a provider that cannot purge tags becomes the pages the
// content graph knows carry it (Input.Graph, read by the pipeline). Next is a pure function; the pipeline reads its input from the
// store and persists the step (read → plan → persist), and All runs every
// step at once for `purgehook explain` and `purge --direct`.
package plan

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/purgehook/purgehook/budget"
	"github.com/purgehook/purgehook/change"
)

// Provider is what the planner needs to know about one provider.
type Provider struct {
	Name   string
	Layer  change.Layer
	Limits change.Limits
	Budget budget.Budget
	// Sites are the sites whose pages the provider caches; empty means
	// every site.
	Sites []string
	// OverPurge is the fraction (0 to 1) of a cover's known pages that may
	// be pages nobody asked to purge when the cost model purges the cover
	// (a tag, prefix or host) instead of the URLs; 0, the default, takes
	// only covers whose known pages are all targets.
	OverPurge float64
	// Covers are the kinds the cost model may purge instead of URLs; nil
	// means every kind the provider purges, empty means none.
	Covers []change.TargetKind
}

// serves reports whether the provider caches pages of the target's site.
// A target of no site (everything on every site) reaches every provider.
func (p Provider) serves(t change.Target) bool {
	return len(p.Sites) == 0 || t.Site == "" || slices.Contains(p.Sites, t.Site)
}

// Note is something the planner decided that a person should be able to
// see (an escalation, a target no kind of this provider covers).
type Note string

// UnknownTags is what the planner does with a tag that no page the graph
// knows carries, for a provider that cannot purge tags.
type UnknownTags string

// The unknown-tag policies.
const (
	// DropUnknownTags (the default, also "") drops the tag with a note:
	// no known page shows it, so purging everything for it would empty
	// a whole cache for nothing anyone saw.
	DropUnknownTags UnknownTags = "drop"
	// PurgeEverythingForUnknownTags escalates the tag to everything, as
	// purgehook did before it had a graph.
	PurgeEverythingForUnknownTags UnknownTags = "purge_everything"
)

// ParseUnknownTags reads the policy from config.
func ParseUnknownTags(s string) (UnknownTags, error) {
	switch u := UnknownTags(s); u {
	case "", DropUnknownTags:
		return DropUnknownTags, nil
	case PurgeEverythingForUnknownTags:
		return u, nil
	}
	return "", fmt.Errorf("want drop or purge_everything, got %q", s)
}

// TagRef names a tag target: a tag on a site ("" for no site).
type TagRef struct {
	Site string
	Tag  string
}

// RefOf returns a tag target's reference.
func RefOf(t change.Target) TagRef { return TagRef{Site: t.Site, Tag: t.Value} }

// Graph is what the pipeline read from the content graph for a batch
// before planning, so that planning stays a pure function.
type Graph struct {
	// TagURLs are, for each tag target, the pages the graph knows carry
	// the tag. A provider that cannot purge tags purges these instead.
	TagURLs map[TagRef][]string
	// UnknownTags is what happens to a tag with no known page.
	UnknownTags UnknownTags
	// Covers are the tags, prefixes and hosts the graph knows the batch's
	// URL targets share, with every page the graph knows under each, for
	// the cost model (cost.go); and the pages under each prefix and host
	// target, for a provider that can purge neither.
	Covers []Cover
}

// cover returns the cover the graph knows for a prefix or host target.
func (g Graph) cover(t change.Target) (Cover, bool) {
	for _, c := range g.Covers {
		if c.Kind == t.Kind && c.Value == t.Value && (c.Site == t.Site || t.Site == "") {
			return c, true
		}
	}
	return Cover{}, false
}

// DroppedTag is a tag a provider could not purge and no known page carries.
type DroppedTag struct {
	Provider string
	Tag      string
}

// Calls plans targets for one provider, with an empty graph. The calls
// carry Provider, Layer, Kind and Items; ids and keys are the store's.
func Calls(p Provider, targets []change.Target) ([]change.Call, []Note) {
	calls, notes, _ := CallsWith(p, targets, Graph{})
	return calls, notes
}

// CallsWith plans targets for one provider: a tag the provider cannot
// purge becomes the pages g knows carry it, split like any URL; one no
// known page carries is dropped (or, under PurgeEverythingForUnknownTags,
// escalated to everything). URLs the graph knows share a tag, prefix or
// host the provider can purge may be replaced by it when that makes the
// plan cheaper (cheapest).
func CallsWith(p Provider, targets []change.Target, g Graph) ([]change.Call, []Note, []DroppedTag) {
	r := callsFor(p, targets, g)
	return r.calls, r.notes, r.dropped
}

// planned is one provider's part of a step.
type planned struct {
	calls   []change.Call
	notes   []Note
	dropped []DroppedTag
	// unpurged are the targets the provider purges nothing for: no kind
	// of it covers them and the graph knows no page under them.
	unpurged []change.Target
}

func callsFor(p Provider, targets []change.Target, g Graph) planned {
	var r planned
	byKind := map[change.TargetKind][]string{}
	seen := map[string]bool{}
	everything := false
	var add func(change.Target)
	add = func(t change.Target) {
		et, ok := escalate(t, p.Limits)
		if !ok {
			r.expand(p, t, g, add)
			return
		}
		if et.Kind != t.Kind {
			r.notes = append(r.notes, Note(fmt.Sprintf("%s: %s %q purged as %s %q (kind not supported)", p.Name, t.Kind, t.Value, et.Kind, et.Value)))
		}
		if et.Kind == change.Everything {
			everything = true
			return
		}
		if seen[et.Key()] {
			return
		}
		seen[et.Key()] = true
		byKind[et.Kind] = append(byKind[et.Kind], et.Value)
	}
	for _, t := range targets {
		if !p.serves(t) {
			// Another site's target: escalating it here (a host or a tag
			// as everything) would empty this provider's cache for a
			// change it does not hold.
			continue
		}
		if t.Kind != change.Tag || p.Limits.Supports(change.Tag) {
			add(t)
			continue
		}
		urls := g.TagURLs[RefOf(t)]
		switch {
		case len(urls) > 0:
			r.notes = append(r.notes, Note(fmt.Sprintf("%s: tag %q purged as the %d page(s) the graph knows carry it (tags not supported)", p.Name, t.Value, len(urls))))
			for _, u := range urls {
				add(change.Target{Kind: change.URL, Value: u, Site: t.Site})
			}
		case g.UnknownTags == PurgeEverythingForUnknownTags:
			add(t)
		default:
			r.notes = append(r.notes, Note(fmt.Sprintf("%s: tag %q dropped: no page the graph knows carries it (graph.unknown_tags: purge_everything purges everything instead)", p.Name, t.Value)))
			r.dropped = append(r.dropped, DroppedTag{Provider: p.Name, Tag: t.Value})
			r.unpurged = append(r.unpurged, t)
		}
	}
	if everything {
		r.calls = []change.Call{{Provider: p.Name, Layer: p.Layer, Kind: change.Everything}}
		return r
	}
	byKind, ch := cheapest(p, byKind, g.Covers)
	r.notes = append(r.notes, ch.notes(p)...)
	for _, k := range change.AllKinds {
		items := byKind[k]
		if len(items) == 0 {
			continue
		}
		for _, chunk := range split(items, p.Limits.Max(k), p.Limits.BodyBytes) {
			r.calls = append(r.calls, change.Call{Provider: p.Name, Layer: p.Layer, Kind: k, Items: chunk})
		}
	}
	return r
}

// expand purges a prefix or host target that no kind of p covers (an
// nginx that purges URLs only) as the pages the graph knows under it;
// when the graph knows none, the target is not purged here, and the note
// says so.
func (r *planned) expand(p Provider, t change.Target, g Graph, add func(change.Target)) {
	if c, ok := g.cover(t); ok && (t.Kind == change.Prefix || t.Kind == change.Host) && len(c.URLs) > 0 {
		r.notes = append(r.notes, Note(fmt.Sprintf("%s: %s %q purged as the %d page(s) the graph knows under it (kind not supported)", p.Name, t.Kind, t.Value, len(c.URLs))))
		for _, u := range c.URLs {
			add(change.Target{Kind: change.URL, Value: u, Site: t.Site})
		}
		return
	}
	r.notes = append(r.notes, Note(fmt.Sprintf("%s: cannot purge %s %q: no supported kind covers it and the graph knows no page under it", p.Name, t.Kind, t.Value)))
	r.unpurged = append(r.unpurged, t)
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

// splitOverhead is the JSON envelope around a call's items.
const splitOverhead = 64

// split chunks items so that no chunk has more than max items (0: no
// limit) or more than maxBytes of encoded items (0: no limit). A single
// item larger than maxBytes still gets a call of its own: the provider will
// refuse it and say why, which is better than silently dropping it.
func split(items []string, maxItems, maxBytes int) [][]string {
	var out [][]string
	var cur []string
	size := splitOverhead
	for _, it := range items {
		n := len(it) + 3 // quotes and comma
		if len(cur) > 0 && ((maxItems > 0 && len(cur) >= maxItems) || (maxBytes > 0 && size+n > maxBytes)) {
			out = append(out, cur)
			cur, size = nil, splitOverhead
		}
		cur = append(cur, it)
		size += n
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}
