// Package plan is purgehook's one planner: given a batch's targets, the
// providers (their layers, per-call limits and budgets) and what each
// budget has spent, it computes the batch's next step: the innermost layer
// that has something to purge, with its calls escalated to kinds the
// provider supports, deduplicated, split within the per-call limits and
// fitted into the daily budget, plus notes saying what was escalated and
// why. Next is a pure function; the pipeline reads its input from the
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

// Calls plans targets for one provider. The calls carry Provider, Layer,
// Kind and Items; ids and keys are the store's.
func Calls(p Provider, targets []change.Target) ([]change.Call, []Note) {
	var notes []Note
	byKind := map[change.TargetKind][]string{}
	seen := map[string]bool{}
	everything := false
	for _, t := range targets {
		if !p.serves(t) {
			// Another site's target: escalating it here (a host or a tag
			// as everything) would empty this provider's cache for a
			// change it does not hold.
			continue
		}
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
