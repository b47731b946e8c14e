package pipeline

import (
	"maps"
	"net/url"
	"slices"
	"strings"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/graph"
	"github.com/purgehook/purgehook/plan"
)

// coversOf reads from the graph what the planner may purge instead of, or
// in place of, a batch's targets (plan.Cover): the tags, directory
// prefixes and hosts two or more URL targets share, for the cost model,
// when some provider can purge that kind; and the pages under each prefix
// and host target, for a provider that can purge neither.
func coversOf(g *graph.Graph, targets []change.Target, providers []plan.Provider) []plan.Cover {
	supports := func(k change.TargetKind) bool {
		return slices.ContainsFunc(providers, func(p plan.Provider) bool { return p.Limits.Supports(k) })
	}
	lacks := func(k change.TargetKind) bool {
		return slices.ContainsFunc(providers, func(p plan.Provider) bool { return !p.Limits.Supports(k) })
	}
	var urls []change.Target
	for _, t := range targets {
		if t.Kind == change.URL {
			urls = append(urls, t)
		}
	}
	var out []plan.Cover
	if len(urls) >= 2 && supports(change.Tag) {
		out = append(out, tagCovers(g, urls)...)
	}
	// Prefixes and hosts: every page under each, in one scan of the graph.
	type want struct {
		kind  change.TargetKind
		value string
		site  string
		under []string
	}
	var wants []want
	if len(urls) >= 2 && supports(change.Prefix) {
		for _, d := range shared(urls, dirs) {
			wants = append(wants, want{change.Prefix, d.value, d.site, []string{d.value}})
		}
	}
	if len(urls) >= 2 && supports(change.Host) {
		for _, h := range shared(urls, host) {
			wants = append(wants, want{change.Host, h.value, h.site, []string{"https://" + h.value + "/", "http://" + h.value + "/"}})
		}
	}
	costWants := len(wants)
	for _, t := range targets {
		switch {
		case t.Kind == change.Prefix && lacks(change.Prefix):
			wants = append(wants, want{change.Prefix, t.Value, t.Site, []string{t.Value}})
		case t.Kind == change.Host && lacks(change.Host):
			wants = append(wants, want{change.Host, t.Value, t.Site, []string{"https://" + t.Value + "/", "http://" + t.Value + "/"}})
		}
	}
	if len(wants) == 0 {
		return out
	}
	// The cost model's covers are worth reading only while they could
	// hold no more pages than the URL targets and the over-purge
	// allowance: (1-OverPurge) of a cover's pages must be targets. The
	// prefix and host targets a provider cannot purge need every page.
	limit := 0
	if overPurge := maxOverPurge(providers); overPurge < 1 {
		limit = int(float64(len(urls))/(1-overPurge)) + 1
	}
	var bounded, whole []string
	for _, w := range wants[:costWants] {
		bounded = append(bounded, w.under...)
	}
	for _, w := range wants[costWants:] {
		whole = append(whole, w.under...)
	}
	under := g.UnderAtMost(bounded, limit)
	maps.Copy(under, g.Under(whole))
	for _, w := range wants {
		c := plan.Cover{Kind: w.kind, Value: w.value, Site: w.site}
		for _, p := range w.under {
			c.URLs = append(c.URLs, under[p]...)
		}
		if len(c.URLs) > 0 {
			out = append(out, c)
		}
	}
	return out
}

// tagCovers returns the tags the graph knows two or more of urls carry,
// each with every page the graph knows carries it.
func tagCovers(g *graph.Graph, urls []change.Target) []plan.Cover {
	count := map[graph.Key]int{}
	var order []graph.Key
	for _, t := range urls {
		for _, k := range g.Keys(t.Value) {
			if k.Kind != graph.Tag || (t.Site != "" && k.Site != t.Site) {
				continue
			}
			if count[k.Key] == 0 {
				order = append(order, k.Key)
			}
			count[k.Key]++
		}
	}
	var out []plan.Cover
	for _, k := range order {
		if count[k] < 2 {
			continue
		}
		out = append(out, plan.Cover{Kind: change.Tag, Value: k.Value, Site: k.Site, URLs: g.URLs(k.Site, graph.Tag, k.Value)})
	}
	return out
}

// keyed is a prefix or host value with its site.
type keyed struct{ value, site string }

// shared returns the values of of that two or more of urls share, in the
// order first seen.
func shared(urls []change.Target, of func(string) []string) []keyed {
	count := map[keyed]int{}
	var order []keyed
	for _, t := range urls {
		for _, v := range of(t.Value) {
			k := keyed{v, t.Site}
			if count[k] == 0 {
				order = append(order, k)
			}
			count[k]++
		}
	}
	return slices.DeleteFunc(order, func(k keyed) bool { return count[k] < 2 })
}

// dirs returns the directories a URL is under, below its host's root:
// https://h/a/b/c is under https://h/a/b/ and https://h/a/, and
// https://h/a/ under itself. The root is the host's cover. A URL on an
// explicit port has none: a prefix purge names host/path (Cloudflare's
// prefixes, CloudFront's paths), so it could not say which port, and
// such a page is purged by its URL.
func dirs(u string) []string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok || explicitPort(u) {
		return nil
	}
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		rest = rest[:i]
	}
	slash := strings.IndexByte(rest, '/')
	if slash < 0 {
		return nil
	}
	var out []string
	for i := len(rest) - 1; i > slash; i-- {
		if rest[i] == '/' {
			out = append(out, scheme+"://"+rest[:i+1])
		}
	}
	return out
}

// host returns a URL's host name, as host targets name it; none for a
// URL on an explicit port, since a host purge would reach every port.
func host(u string) []string {
	p, err := url.Parse(u)
	if err != nil || p.Hostname() == "" || p.Port() != "" {
		return nil
	}
	return []string{strings.ToLower(p.Hostname())}
}

// explicitPort reports whether a URL names its port.
func explicitPort(u string) bool {
	p, err := url.Parse(u)
	return err != nil || p.Port() != ""
}

// maxOverPurge is the largest over-purge allowance of providers.
func maxOverPurge(providers []plan.Provider) float64 {
	m := 0.0
	for _, p := range providers {
		m = max(m, p.OverPurge)
	}
	return m
}
