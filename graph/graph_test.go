package graph

import (
	"fmt"
	"slices"
	"testing"
)

func TestApplyAndLookUp(t *testing.T) {
	t.Parallel()
	g := New()
	room := Key{Site: "palace", Kind: ID, Value: "1234"}
	g.Apply(
		Edge{Key: room, URL: "https://palace.example/pt/quarto", Origin: Payload},
		Edge{Key: room, URL: "https://palace.example/en/room", Origin: Payload},
		Edge{Key: Key{Site: "palace", Kind: Tag, Value: "1234"}, URL: "https://palace.example/", Origin: Learned},
		Edge{Key: Key{Site: "tivoli", Kind: ID, Value: "1234"}, URL: "https://tivoli.example/room", Origin: Payload},
		// The same edge again, from another origin: still one edge.
		Edge{Key: room, URL: "https://palace.example/en/room", Origin: Registered},
	)
	if n := g.Len(); n != 4 {
		t.Errorf("len %d, want 4", n)
	}
	// In the order the graph learned of the pages.
	if got, want := g.URLs("palace", ID, "1234"), []string{"https://palace.example/pt/quarto", "https://palace.example/en/room"}; !slices.Equal(got, want) {
		t.Errorf("palace id: %q, want %q", got, want)
	}
	if got := g.URLs("", ID, "1234"); len(got) != 3 {
		t.Errorf("any site: %q, want 3 pages", got)
	}
	if got := g.URLs("palace", Codename, "1234"); got != nil {
		t.Errorf("another kind: %q", got)
	}
	keys := g.Keys("https://palace.example/en/room")
	if len(keys) != 1 || keys[0].Key != room || !slices.Equal(keys[0].Origins, []Origin{Payload, Registered}) {
		t.Errorf("keys %+v", keys)
	}

	// Removing one origin keeps the edge while another origin holds it.
	g.Apply(Edge{Key: room, URL: "https://palace.example/en/room", Origin: Payload, Removed: true})
	if got := g.URLs("palace", ID, "1234"); len(got) != 2 {
		t.Errorf("after removing one of two origins: %q", got)
	}
	g.Apply(Edge{Key: room, URL: "https://palace.example/en/room", Origin: Registered, Removed: true})
	if got, want := g.URLs("palace", ID, "1234"), []string{"https://palace.example/pt/quarto"}; !slices.Equal(got, want) {
		t.Errorf("after removing both: %q, want %q", got, want)
	}
	if keys := g.Keys("https://palace.example/en/room"); keys != nil {
		t.Errorf("a page with no edge left shows %+v", keys)
	}
	if n := g.Len(); n != 3 {
		t.Errorf("len %d, want 3", n)
	}
	// Removing what is not there, twice, changes nothing.
	g.Apply(Edge{Key: room, URL: "https://palace.example/en/room", Origin: Registered, Removed: true},
		Edge{Key: Key{Site: "x", Kind: Tag, Value: "y"}, URL: "https://x/", Origin: Learned, Removed: true})
	if n := g.Len(); n != 3 {
		t.Errorf("len %d after removing nothing, want 3", n)
	}
}

func TestApplyIgnoresEdgesWithoutOriginOrURL(t *testing.T) {
	t.Parallel()
	g := New()
	g.Apply(Edge{Key: Key{Kind: Tag, Value: "a"}, URL: "https://a/"}, Edge{Key: Key{Kind: Tag, Value: "a"}, Origin: Learned})
	if g.Len() != 0 {
		t.Errorf("len %d", g.Len())
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"id", "codename", "tag"} {
		if k, ok := ParseKind(s); !ok || string(k) != s {
			t.Errorf("kind %s", s)
		}
	}
	if _, ok := ParseKind("url"); ok {
		t.Error("url is not a key kind")
	}
	for _, s := range []string{"payload", "learned", "crawled", "registered"} {
		if o, ok := ParseOrigin(s); !ok || string(o) != s {
			t.Errorf("origin %s", s)
		}
	}
	if _, ok := ParseOrigin("guessed"); ok {
		t.Error("guessed is not an origin")
	}
}

// A Loader applies every edge added, in order, by the time Close returns.
func TestLoader(t *testing.T) {
	t.Parallel()
	g := New()
	l := g.Load()
	const pages = 2*loadBatch + 17
	// A reader while the graph loads (for the race detector) sees whole
	// batches: a number of pages the batches' ends allow.
	stop, read := make(chan struct{}), make(chan error)
	go func() {
		for {
			select {
			case <-stop:
				read <- nil
				return
			default:
			}
			if n := len(g.URLs("s", Tag, "footer")); n%loadBatch != 0 && n != pages-1 {
				read <- fmt.Errorf("a reader saw %d pages, part of a batch", n)
				return
			}
		}
	}()
	for i := range pages {
		l.Add(Edge{Key: Key{Site: "s", Kind: Tag, Value: "footer"}, URL: fmt.Sprintf("https://s/%d", i), Origin: Learned})
	}
	// A removal after the addition it undoes, in another batch.
	l.Add(Edge{Key: Key{Site: "s", Kind: Tag, Value: "footer"}, URL: "https://s/0", Origin: Learned, Removed: true})
	l.Close()
	close(stop)
	if err := <-read; err != nil {
		t.Error(err)
	}
	got := g.URLs("s", Tag, "footer")
	if len(got) != pages-1 || got[0] != "https://s/1" || got[len(got)-1] != fmt.Sprintf("https://s/%d", pages-1) || g.Len() != pages-1 {
		t.Errorf("%d pages from %q to %q, len %d; want %d", len(got), got[0], got[len(got)-1], g.Len(), pages-1)
	}
}

// Under finds the live pages under each prefix, "/"-ending or not, from
// its directory's list; removed pages are not found.
func TestUnder(t *testing.T) {
	g := New()
	for _, u := range []string{"https://a.example/news/1", "https://a.example/news/2?x=/news/", "https://a.example/newsroom", "https://a.example/sport/1", "https://b.example/news/1"} {
		g.Apply(Edge{Key: Key{Site: "a", Kind: Tag, Value: "t"}, URL: u, Origin: Learned})
	}
	g.Apply(Edge{Key: Key{Site: "a", Kind: Tag, Value: "t"}, URL: "https://a.example/sport/1", Origin: Learned, Removed: true})
	got := g.Under([]string{"https://a.example/news/", "https://a.example/news", "https://a.example/sport/", "https://a.example/"})
	want := map[string][]string{
		"https://a.example/news/": {"https://a.example/news/1", "https://a.example/news/2?x=/news/"},
		"https://a.example/news":  {"https://a.example/news/1", "https://a.example/news/2?x=/news/", "https://a.example/newsroom"},
		"https://a.example/":      {"https://a.example/news/1", "https://a.example/news/2?x=/news/", "https://a.example/newsroom"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for p, w := range want {
		if !slices.Equal(got[p], w) {
			t.Errorf("%s: got %v, want %v", p, got[p], w)
		}
	}
	// At most 3 live pages: the root's 3 are; 2 leaves it out.
	if got := g.UnderAtMost([]string{"https://a.example/", "https://a.example/news/"}, 3); !slices.Equal(got["https://a.example/"], want["https://a.example/"]) || len(got) != 2 {
		t.Errorf("at most 3: %v", got)
	}
	if got := g.UnderAtMost([]string{"https://a.example/", "https://a.example/news/"}, 2); got["https://a.example/"] != nil || len(got["https://a.example/news/"]) != 2 {
		t.Errorf("at most 2: %v", got)
	}
}
