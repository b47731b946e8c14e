package pipeline

import (
	"fmt"
	"slices"
	"testing"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/graph"
	"github.com/purgehook/purgehook/plan"
)

// coversOf reads from the graph the tags, directories and hosts the URL
// targets share, and the pages under a prefix target an nginx-like
// provider cannot purge.
func TestCoversOf(t *testing.T) {
	g := graph.New()
	var news []string
	for i := range 3 {
		u := fmt.Sprintf("https://a.example/news/%d", i)
		news = append(news, u)
		g.Apply(graph.Edge{Key: graph.Key{Site: "a", Kind: graph.Tag, Value: "news"}, URL: u, Origin: graph.Learned})
	}
	g.Apply(graph.Edge{Key: graph.Key{Site: "a", Kind: graph.Tag, Value: "lone"}, URL: news[0], Origin: graph.Learned})
	g.Apply(graph.Edge{Key: graph.Key{Site: "a", Kind: graph.Tag, Value: "home"}, URL: "https://a.example/", Origin: graph.Learned})
	var targets []change.Target
	for _, u := range news[:2] {
		targets = append(targets, change.Target{Kind: change.URL, Value: u, Site: "a"})
	}
	targets = append(targets, change.Target{Kind: change.Prefix, Value: "https://a.example/news", Site: "a"})
	cf := plan.Provider{Name: "cf", Limits: change.Limits{Kinds: change.AllKinds}}
	nginx := plan.Provider{Name: "nginx", Limits: change.Limits{Kinds: []change.TargetKind{change.URL}}}

	got := map[string][]string{}
	for _, c := range coversOf(g, targets, []plan.Provider{cf, nginx}) {
		got[fmt.Sprintf("%s %s %s", c.Kind, c.Value, c.Site)] = c.URLs
	}
	want := map[string][]string{
		"tag news a":                       news, // "lone" carries one target only
		"prefix https://a.example/news/ a": news,
		"prefix https://a.example/news a":  news, // the prefix target, for nginx
		// Not the host: its 4 pages cannot be 2 targets, and without an
		// over-purge allowance the cost model could never choose it.
	}
	if len(got) != len(want) {
		t.Fatalf("covers %v", got)
	}
	for k, w := range want {
		if !slices.Equal(got[k], w) {
			t.Errorf("%s: %v, want %v", k, got[k], w)
		}
	}
	// Allowed to purge half again as many pages as it was asked to, cf
	// could choose the host: it is read.
	cf.OverPurge = 0.5
	all := append(slices.Clone(news), "https://a.example/")
	var host []string
	for _, c := range coversOf(g, targets, []plan.Provider{cf, nginx}) {
		if c.Kind == change.Host {
			host = c.URLs
		}
	}
	if !slices.Equal(host, all) {
		t.Errorf("host with over_purge 0.5: %v, want %v", host, all)
	}
	// With providers that purge URLs only, nothing is read for the cost
	// model, and a prefix target still gets its pages.
	if cs := coversOf(g, targets, []plan.Provider{nginx}); len(cs) != 1 || cs[0].Kind != change.Prefix {
		t.Errorf("nginx only: %+v", cs)
	}
}

// Pages on an explicit port get no prefix or host cover: a prefix or host
// purge names host/path and could not say which port.
func TestCoversOfSkipsExplicitPorts(t *testing.T) {
	g := graph.New()
	var targets []change.Target
	for i := range 3 {
		u := fmt.Sprintf("http://127.0.0.1:8080/en/%d", i)
		g.Apply(graph.Edge{Key: graph.Key{Site: "a", Kind: graph.ID, Value: fmt.Sprint(i)}, URL: u, Origin: graph.Payload})
		targets = append(targets, change.Target{Kind: change.URL, Value: u, Site: "a"})
	}
	cf := plan.Provider{Name: "cf", Limits: change.Limits{Kinds: change.AllKinds}}
	if cs := coversOf(g, targets, []plan.Provider{cf}); len(cs) != 0 {
		t.Errorf("covers for pages on a port: %+v", cs)
	}
}
