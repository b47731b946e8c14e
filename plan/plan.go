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
// escalated to everything).
func CallsWith(p Provider, targets []change.Target, g Graph) ([]change.Call, []Note, []DroppedTag) {
	var notes []Note
	var dropped []DroppedTag
	byKind := map[change.TargetKind][]string{}
	seen := map[string]bool{}
	everything := false
	add := func(t change.Target) {
		et, ok := escalate(t, p.Limits)
		if !ok {
			notes = append(notes, Note(fmt.Sprintf("%s: cannot purge %s %q: no supported kind covers it", p.Name, t.Kind, t.Value)))
			return
		}
		if et.Kind != t.Kind {
			notes = append(notes, Note(fmt.Sprintf("%s: %s %q purged as %s %q (kind not supported)", p.Name, t.Kind, t.Value, et.Kind, et.Value)))
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
			notes = append(notes, Note(fmt.Sprintf("%s: tag %q purged as the %d page(s) the graph knows carry it (tags not supported)", p.Name, t.Value, len(urls))))
			for _, u := range urls {
				add(change.Target{Kind: change.URL, Value: u, Site: t.Site})
			}
		case g.UnknownTags == PurgeEverythingForUnknownTags:
			add(t)
		default:
			notes = append(notes, Note(fmt.Sprintf("%s: tag %q dropped: no page the graph knows carries it (graph.unknown_tags: purge_everything purges everything instead)", p.Name, t.Value)))
			dropped = append(dropped, DroppedTag{Provider: p.Name, Tag: t.Value})
		}
	}
	if everything {
		return []change.Call{{Provider: p.Name, Layer: p.Layer, Kind: change.Everything}}, notes, dropped
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
	return calls, notes, dropped
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
