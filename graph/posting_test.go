package graph

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

// model is the graph as the plainest maps: what Graph must answer.
type model struct {
	edges map[Key]map[string]uint8
	order map[string]int // a URL's place in the order the graph learned it
}

func (m *model) apply(e Edge) {
	bit := e.Origin.bit()
	if e.Removed {
		if m.edges[e.Key][e.URL]&bit != 0 {
			m.edges[e.Key][e.URL] &^= bit
			if m.edges[e.Key][e.URL] == 0 {
				delete(m.edges[e.Key], e.URL)
			}
		}
		return
	}
	if _, ok := m.order[e.URL]; !ok {
		m.order[e.URL] = len(m.order)
	}
	if m.edges[e.Key] == nil {
		m.edges[e.Key] = map[string]uint8{}
	}
	m.edges[e.Key][e.URL] |= bit
}

func (m *model) urls(site string, kind Kind, value string) []string {
	set := map[string]bool{}
	for k, urls := range m.edges {
		if k.Kind == kind && k.Value == value && (site == "" || k.Site == site) {
			for u := range urls {
				set[u] = true
			}
		}
	}
	if len(set) == 0 {
		return nil
	}
	return slices.SortedFunc(maps.Keys(set), func(a, b string) int { return m.order[a] - m.order[b] })
}

func (m *model) len() int {
	n := 0
	for _, urls := range m.edges {
		n += len(urls)
	}
	return n
}

// TestGraphMatchesModel applies random additions and removals, in random
// order, to a graph and to the model, and compares every answer: a tag
// most pages show crosses into a bitmap and back as pages stop showing it,
// per site and across sites.
func TestGraphMatchesModel(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 9))
	g, m := New(), &model{edges: map[Key]map[string]uint8{}, order: map[string]int{}}
	sites := []string{"a", "b", ""}
	const pages = 3000
	url := func() string { return fmt.Sprintf("https://x.example/%d", rng.IntN(pages)) }
	key := func() Key {
		s := sites[rng.IntN(len(sites))]
		switch r := rng.IntN(10); {
		case r < 4:
			// The footer: most pages of every site show it.
			return Key{Site: s, Kind: Tag, Value: "footer"}
		case r < 7:
			return Key{Site: s, Kind: Tag, Value: fmt.Sprintf("module-%d", rng.IntN(20))}
		default:
			return Key{Site: s, Kind: ID, Value: fmt.Sprintf("%d", rng.IntN(500))}
		}
	}
	sawBitmap, sawBack := false, false
	for round := range 40 {
		// Early rounds mostly add; later ones mostly remove, so the
		// footer's posting grows into a bitmap and shrinks out of it.
		removing := float64(round) / 40
		var batch []Edge
		for range 1500 {
			e := Edge{Key: key(), URL: url(), Origin: origins[rng.IntN(len(origins))]}
			if rng.Float64() < removing {
				e.Removed = true
			}
			batch = append(batch, e)
			m.apply(e)
		}
		g.Apply(batch...)
		if p := g.posting(Key{Site: "a", Kind: Tag, Value: "footer"}); p != nil {
			if p.words != nil {
				sawBitmap = true
			} else if sawBitmap {
				sawBack = true
			}
		}
		if g.Len() != m.len() {
			t.Fatalf("round %d: len %d, want %d", round, g.Len(), m.len())
		}
		for _, s := range sites {
			for _, v := range []string{"footer", "module-3", "module-17"} {
				if got, want := g.URLs(s, Tag, v), m.urls(s, Tag, v); !slices.Equal(got, want) {
					t.Fatalf("round %d: URLs(%q, tag, %s): %d pages, want %d", round, s, v, len(got), len(want))
				}
			}
			if got, want := g.URLs(s, ID, "42"), m.urls(s, ID, "42"); !slices.Equal(got, want) {
				t.Fatalf("round %d: URLs(%q, id, 42) %q, want %q", round, s, got, want)
			}
		}
		for range 20 {
			u := url()
			var want []Key
			for k, urls := range m.edges {
				if urls[u] != 0 {
					want = append(want, k)
				}
			}
			var got []Key
			for _, s := range g.Keys(u) {
				got = append(got, s.Key)
				if bits := m.edges[s.Key][u]; len(s.Origins) != popcount(bits) {
					t.Fatalf("round %d: %s shows %v from %v, want bits %b", round, u, s.Key, s.Origins, bits)
				}
			}
			if !sameKeys(got, want) {
				t.Fatalf("round %d: Keys(%s) %v, want %v", round, u, got, want)
			}
		}
	}
	// The footer stops pointing at site a's pages, in random order,
	// until a few are left.
	footer := Key{Site: "a", Kind: Tag, Value: "footer"}
	for i, u := range rng.Perm(pages) {
		if i == pages-5 {
			break
		}
		for _, o := range origins {
			e := Edge{Key: footer, URL: fmt.Sprintf("https://x.example/%d", u), Origin: o, Removed: true}
			g.Apply(e)
			m.apply(e)
		}
	}
	if p := g.posting(footer); p.len() == 0 || p.words == nil {
		sawBack = true
	}
	if got, want := g.URLs("a", Tag, "footer"), m.urls("a", Tag, "footer"); !slices.Equal(got, want) || g.Len() != m.len() {
		t.Errorf("after the footer left: %q, want %q; len %d, want %d", got, want, g.Len(), m.len())
	}
	if !sawBitmap || !sawBack {
		t.Errorf("the footer's posting never became a bitmap (%v) or never went back (%v): the test misses a path", sawBitmap, sawBack)
	}
}

func popcount(b uint8) int {
	n := 0
	for ; b != 0; b &= b - 1 {
		n++
	}
	return n
}

func sameKeys(a, b []Key) bool {
	set := func(ks []Key) map[Key]bool {
		m := map[Key]bool{}
		for _, k := range ks {
			m[k] = true
		}
		return m
	}
	return len(a) == len(b) && maps.Equal(set(a), set(b))
}

// TestPostingOrderAndForms adds ids out of order to a posting, through
// both forms, and checks it reads them back sorted.
func TestPostingOrderAndForms(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	var p posting
	want := map[uint32]bool{}
	for _, u := range rng.Perm(1000) {
		p.add(uint32(u))
		want[uint32(u)] = true
	}
	if p.words == nil {
		t.Fatal("1000 of 1000 ids should be a bitmap")
	}
	for _, u := range rng.Perm(1000)[:990] {
		p.remove(uint32(u))
		delete(want, uint32(u))
	}
	if p.words != nil {
		t.Errorf("10 of 1000 ids should be a slice again")
	}
	got := p.appendIDs(nil)
	wantIDs := slices.Sorted(maps.Keys(want))
	if !slices.Equal(got, wantIDs) || p.len() != len(wantIDs) {
		t.Errorf("ids %v (len %d), want %v", got, p.len(), wantIDs)
	}
	for _, u := range wantIDs {
		p.remove(u)
	}
	if p.len() != 0 || p.appendIDs(nil) != nil || p.ids != nil {
		t.Errorf("emptied posting holds %+v", p)
	}
}
