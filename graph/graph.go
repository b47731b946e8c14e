// Package graph is purgehook's content graph: which pages (URLs) show which
// content, as edges from a key (a content id, a codename or a cache tag,
// per site) to a URL. Each edge says where purgehook learned it (a
// delivery's payload, a response header, a crawl, a registration).
//
// The graph here is the in-memory index the resolver asks; the store keeps
// the edges durable, and the pipeline loads them at start and keeps every
// replica's index current. The package is pure: no I/O, no clock.
package graph

import (
	"cmp"
	"slices"
	"strings"
	"sync"
	"time"
)

// Kind is what a key names.
type Kind string

// The key kinds.
const (
	// ID is a content item's id in its CMS (Umbraco's node id, a
	// Kontent.ai item id, a Sitefinity item id).
	ID Kind = "id"
	// Codename is a content item's codename or slug-like handle.
	Codename Kind = "codename"
	// Tag is a cache tag a page reports (Cache-Tag, Surrogate-Key, xkey).
	Tag Kind = "tag"
)

// ParseKind reads a key kind.
func ParseKind(s string) (Kind, bool) {
	// The constants themselves, not s: an index of a million keys then
	// holds no copy of the word.
	for _, k := range []Kind{ID, Codename, Tag} {
		if string(k) == s {
			return k, true
		}
	}
	return "", false
}

// Origin is how purgehook learned an edge.
type Origin string

// The origins.
const (
	// Payload: a delivery named the URL for the content.
	Payload Origin = "payload"
	// Learned: the page reported the tag in a response header.
	Learned Origin = "learned"
	// Crawled: a crawl found the page reporting the tag.
	Crawled Origin = "crawled"
	// Registered: a CMS plugin or build step registered the edge.
	Registered Origin = "registered"
)

var origins = []Origin{Payload, Learned, Crawled, Registered}

// ParseOrigin reads an origin.
func ParseOrigin(s string) (Origin, bool) {
	for _, o := range origins {
		if string(o) == s {
			return o, true
		}
	}
	return "", false
}

func (o Origin) bit() uint8 {
	for i, x := range origins {
		if x == o {
			return 1 << i
		}
	}
	return 0
}

// Key is one thing pages show: a content id, a codename or a tag, on one
// site (the site of the URLs it points at).
type Key struct {
	Site  string `json:"site"`
	Kind  Kind   `json:"kind"`
	Value string `json:"value"`
}

// Edge says that the page URL shows Key.
type Edge struct {
	Key
	URL       string    `json:"url"`
	Origin    Origin    `json:"origin"`
	FirstSeen time.Time `json:"first_seen,omitzero"`
	LastSeen  time.Time `json:"last_seen,omitzero"`
	// Removed marks an edge that no longer holds (a page stopped reporting
	// a tag); Apply deletes it.
	Removed bool `json:"removed,omitempty"`
}

// Graph is the in-memory index, safe for concurrent use. Keys and URLs are
// interned as small integers in the order the graph first learned of them;
// each key keeps the ids of its pages as a posting (a sorted slice, or a
// bitmap once that is smaller), and each page keeps its keys with the
// origins of each edge. A key every page shows is thus 1M bits rather than
// 1M map entries, and its pages come back in order without a sort.
type Graph struct {
	mu    sync.RWMutex
	urls  []string
	urlID map[string]uint32
	keys  chunks[Key]
	keyID map[Key]uint32
	// sites are the sites of the interned keys: a look-up on any site
	// asks each (there are few) rather than scanning every key.
	sites   []string
	siteSet map[string]string
	// fwd is, by key id, the key's pages; rev, by URL id, the page's
	// keys, sorted by key id, each with the origins of the edge.
	fwd chunks[posting]
	rev [][]held
	n   int
	// dirs is, by each "/"-ending start of a page's URL (https://h/,
	// https://h/news/, …), the pages under it, by URL id in the order they
	// were interned: Under reads the pages under a prefix from its
	// directory's list rather than scanning every page for each batch the
	// planner plans. The keys are substrings of the interned URLs, so
	// they cost no string memory of their own.
	dirs map[string][]uint32
}

// held is one key of a page and the origins of the edge, one bit each.
type held struct {
	key  uint32
	bits uint8
}

// New returns an empty graph.
func New() *Graph {
	return &Graph{
		urlID:   map[string]uint32{},
		keyID:   map[Key]uint32{},
		siteSet: map[string]string{},
		dirs:    map[string][]uint32{},
	}
}

func (g *Graph) internURL(u string) uint32 {
	if id, ok := g.urlID[u]; ok {
		return id
	}
	id := uint32(len(g.urls))
	g.urls = append(g.urls, u)
	g.urlID[u] = id
	g.rev = append(g.rev, nil)
	for _, d := range dirsOf(u) {
		g.dirs[d] = append(g.dirs[d], id)
	}
	return id
}

// dirsOf lists the "/"-ending starts of an absolute URL's path, from the
// host's root down (none for a URL without "://").
func dirsOf(u string) []string {
	start := strings.Index(u, "://")
	if start < 0 {
		return nil
	}
	end := len(u)
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		end = i
	}
	var out []string
	for i := start + 3; i < end; i++ {
		if u[i] == '/' {
			out = append(out, u[:i+1])
		}
	}
	return out
}

func (g *Graph) internKey(k Key) uint32 {
	if id, ok := g.keyID[k]; ok {
		return id
	}
	// Every key of a site shares one copy of its name.
	if site, ok := g.siteSet[k.Site]; ok {
		k.Site = site
	} else {
		g.siteSet[k.Site] = k.Site
		g.sites = append(g.sites, k.Site)
	}
	id := uint32(g.keys.len())
	g.keys.add(k)
	g.keyID[k] = id
	g.fwd.add(posting{})
	return id
}

// Apply adds edges, and deletes those marked Removed. Applying the same
// edge twice changes nothing, so a replica may apply what it already has.
func (g *Graph) Apply(edges ...Edge) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, e := range edges {
		bit := e.Origin.bit()
		if bit == 0 || e.URL == "" {
			continue
		}
		if e.Removed {
			g.remove(e.Key, e.URL, bit)
			continue
		}
		g.add(g.internKey(e.Key), g.internURL(e.URL), bit)
	}
}

func (g *Graph) add(k, u uint32, bit uint8) {
	hs := g.rev[u]
	i, found := slices.BinarySearchFunc(hs, k, cmpHeld)
	if found {
		hs[i].bits |= bit
		return
	}
	g.rev[u] = slices.Insert(hs, i, held{key: k, bits: bit})
	g.fwd.at(k).add(u)
	g.n++
}

func (g *Graph) remove(key Key, url string, bit uint8) {
	k, ok := g.keyID[key]
	if !ok {
		return
	}
	u, ok := g.urlID[url]
	if !ok {
		return
	}
	hs := g.rev[u]
	i, found := slices.BinarySearchFunc(hs, k, cmpHeld)
	if !found || hs[i].bits&bit == 0 {
		return
	}
	hs[i].bits &^= bit
	if hs[i].bits != 0 {
		return
	}
	g.rev[u] = slices.Delete(hs, i, i+1)
	if len(g.rev[u]) == 0 {
		g.rev[u] = nil
	}
	g.fwd.at(k).remove(u)
	g.n--
}

func cmpHeld(h held, k uint32) int { return cmp.Compare(h.key, k) }

// URLs returns the pages that show kind:value on site, or on any site when
// site is "", in the order the graph first learned of them.
func (g *Graph) URLs(site string, kind Kind, value string) []string {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if site != "" {
		return g.posting(Key{Site: site, Kind: kind, Value: value}).strings(g.urls)
	}
	// Keys are per site, and a look-up across sites is rare (a change no
	// site claims): it asks every site and merges what they hold.
	var found []*posting
	for _, s := range g.sites {
		if p := g.posting(Key{Site: s, Kind: kind, Value: value}); p.len() > 0 {
			found = append(found, p)
		}
	}
	switch len(found) {
	case 0:
		return nil
	case 1:
		return found[0].strings(g.urls)
	}
	var ids []uint32
	for _, p := range found {
		ids = p.appendIDs(ids)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	out := make([]string, len(ids))
	for i, u := range ids {
		out[i] = g.urls[u]
	}
	return out
}

// posting returns the pages of a key, nil when the graph never saw it.
func (g *Graph) posting(k Key) *posting {
	id, ok := g.keyID[k]
	if !ok {
		return nil
	}
	return g.fwd.at(id)
}

// Shown is one key a page shows, with the origins of the edge.
type Shown struct {
	Key
	Origins []Origin `json:"origins"`
}

// Keys returns what the graph knows a page shows, sorted by kind and value.
func (g *Graph) Keys(url string) []Shown {
	g.mu.RLock()
	defer g.mu.RUnlock()
	u, ok := g.urlID[url]
	if !ok {
		return nil
	}
	var out []Shown
	for _, h := range g.rev[u] {
		s := Shown{Key: *g.keys.at(h.key)}
		for i, o := range origins {
			if h.bits&(1<<i) != 0 {
				s.Origins = append(s.Origins, o)
			}
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Shown) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Value, b.Value), cmp.Compare(a.Site, b.Site))
	})
	return out
}

// Len returns how many edges (key, URL pairs) the graph holds.
func (g *Graph) Len() int {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.n
}

// Under returns, for each of prefixes (absolute URLs such as
// https://host/news/ or https://host/news), the live pages the graph knows
// whose URL starts with it, in the order the graph learned them; a prefix
// with no page is absent. It reads the pages of the "/"-ending start each
// prefix extends (dirs), so it costs what the prefixes hold, not what the
// graph holds.
func (g *Graph) Under(prefixes []string) map[string][]string {
	return g.UnderAtMost(prefixes, 0)
}

// UnderAtMost is Under leaving out each prefix with more than max live
// pages (max 0: no limit), after reading at most max+1 of them: the
// planner asks whether a cover holds only a batch's targets, and a cover
// under the site's root can hold every page the graph knows.
func (g *Graph) UnderAtMost(prefixes []string, max int) map[string][]string {
	out := map[string][]string{}
	g.mu.RLock()
	defer g.mu.RUnlock()
	for _, p := range prefixes {
		i := strings.LastIndexByte(p, '/')
		if _, done := out[p]; i < 0 || done {
			continue
		}
		if under := g.under(p, g.dirs[p[:i+1]], max); len(under) > 0 {
			out[p] = under
		}
	}
	return out
}

// under returns the live pages of dir (a prefix's directory list) that
// start with p, or nil if there are more than max (max 0: no limit).
func (g *Graph) under(p string, dir []uint32, max int) []string {
	var out []string
	for _, id := range dir {
		if len(g.rev[id]) == 0 {
			// Interned once, every edge since removed.
			continue
		}
		if u := g.urls[id]; strings.HasPrefix(u, p) {
			out = append(out, u)
			if max > 0 && len(out) > max {
				return nil
			}
		}
	}
	return out
}
