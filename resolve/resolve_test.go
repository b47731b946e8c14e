package resolve

import (
	"slices"
	"strings"
	"testing"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/config"
	"github.com/purgehook/purgehook/graph"
)

func sites() []config.Site {
	return []config.Site{
		{Name: "savoy", BaseURL: "https://www.savoy.example", Aliases: []string{"https://savoy.example"}, Cultures: map[string]string{"pt": "/pt", "en": "/en"}, Warm: []string{"/"}},
		{Name: "calheta", BaseURL: "https://www.calheta.example", Cultures: map[string]string{"pt": "/pt", "en": "/en", "de": "/de"}},
	}
}

func values(ts []change.Target) []string {
	var out []string
	for _, t := range ts {
		out = append(out, string(t.Kind)+" "+t.Value+" @"+t.Site)
	}
	return out
}

func TestResolve(t *testing.T) {
	rules := []config.Rule{
		{When: config.Match{ContentType: "roomDetailPage"}, Purge: []config.RuleTarget{{URL: "/"}, {Tag: "rooms"}}},
		{When: config.Match{ContentType: "sharedContent"}, Purge: []config.RuleTarget{{EverythingOn: "all_sites"}}},
		{When: config.Match{ContentType: "siteRoot"}, Purge: []config.RuleTarget{{EverythingOn: "this_site"}}},
		{When: config.Match{ContentType: "article"}, Purge: []config.RuleTarget{{URL: "/{culture}/news/{slug}"}, {Prefix: "/{culture}/news"}}},
	}
	r, err := New(sites(), rules)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		change      change.Change
		sourceSite  string
		want        []string
		wantDropped []string
	}{
		{
			name:   "relative URLs use the source's site; rule adds home and tag",
			change: change.Change{ContentType: "roomDetailPage", URLs: []string{"/pt/quarto", "/en/room"}, Dependencies: []string{"/pt/", "/en/"}},
			// The culture prefixes are shared by both sites, so they do not
			// decide; the source's site does.
			sourceSite: "savoy",
			want: []string{"url https://www.savoy.example/pt/quarto @savoy", "url https://www.savoy.example/en/room @savoy",
				"url https://www.savoy.example/pt/ @savoy", "url https://www.savoy.example/en/ @savoy",
				"url https://www.savoy.example/ @savoy", "tag rooms @savoy"},
		},
		{
			name:   "absolute URL host chooses the site, alias kept",
			change: change.Change{ContentType: "news", URLs: []string{"https://savoy.example/en/a", "https://www.calheta.example/en/b#frag"}},
			want:   []string{"url https://savoy.example/en/a @savoy", "url https://www.calheta.example/en/b @calheta"},
		},
		{
			name:       "a culture prefix only one site has chooses it",
			change:     change.Change{URLs: []string{"/de/zimmer"}},
			sourceSite: "savoy",
			want:       []string{"url https://www.calheta.example/de/zimmer @calheta"},
		},
		{
			name:        "outside every site is dropped",
			change:      change.Change{URLs: []string{"https://evil.example/x", "ftp://www.savoy.example/x"}},
			sourceSite:  "savoy",
			wantDropped: []string{"https://evil.example/x", "ftp://www.savoy.example/x"},
		},
		{
			name:        "relative URL with no site is dropped",
			change:      change.Change{URLs: []string{"/en/x"}},
			wantDropped: []string{"/en/x"},
		},
		{
			name:   "shared content purges everything",
			change: change.Change{ContentType: "sharedContent"},
			want:   []string{"everything  @"},
		},
		{
			name:       "site root purges every host of its site",
			change:     change.Change{ContentType: "siteRoot"},
			sourceSite: "savoy",
			want:       []string{"host www.savoy.example @savoy", "host savoy.example @savoy"},
		},
		{
			name:       "templates fill per culture",
			change:     change.Change{ContentType: "article", Slug: "hello world", Cultures: []string{"pt", "en"}},
			sourceSite: "calheta",
			want: []string{"url https://www.calheta.example/pt/news/hello%20world @calheta", "url https://www.calheta.example/en/news/hello%20world @calheta",
				"prefix https://www.calheta.example/pt/news @calheta", "prefix https://www.calheta.example/en/news @calheta"},
		},
		{
			name:        "a template field the change lacks drops that target",
			change:      change.Change{ContentType: "article", Cultures: []string{"en"}},
			sourceSite:  "calheta",
			want:        []string{"prefix https://www.calheta.example/en/news @calheta"},
			wantDropped: []string{"/{culture}/news/{slug}"},
		},
		{
			name:       "duplicates collapse",
			change:     change.Change{URLs: []string{"/en/a", "/en/a"}, Dependencies: []string{"/en/a"}, Tags: []string{"t", "t"}},
			sourceSite: "savoy",
			want:       []string{"url https://www.savoy.example/en/a @savoy", "tag t @savoy"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := r.Resolve(tt.change, tt.sourceSite)
			if got := values(res.Targets); !slices.Equal(got, tt.want) {
				t.Errorf("targets:\n got %q\nwant %q", got, tt.want)
			}
			var dropped []string
			for _, d := range res.Dropped {
				dropped = append(dropped, d.Value)
				if d.Reason == "" {
					t.Errorf("dropped %q without a reason", d.Value)
				}
			}
			if !slices.Equal(dropped, tt.wantDropped) {
				t.Errorf("dropped: got %q want %q", dropped, tt.wantDropped)
			}
		})
	}
}

func TestWarmFlag(t *testing.T) {
	no := false
	r, _ := New(sites(), []config.Rule{{When: config.Match{Kind: "publish"}, Purge: []config.RuleTarget{{URL: "/sitemap.xml", Warm: &no}}}})
	res := r.Resolve(change.Change{Kind: change.Publish, URLs: []string{"/en/a"}}, "savoy")
	for _, tg := range res.Targets {
		if want := !strings.HasSuffix(tg.Value, "sitemap.xml"); tg.Warm != want {
			t.Errorf("%s warm = %v, want %v", tg.Value, tg.Warm, want)
		}
	}
}

func TestGraphPurgesWhatAnIDShows(t *testing.T) {
	g := graph.New()
	g.Apply(
		// An earlier publish named the page's two URLs.
		graph.Edge{Key: graph.Key{Site: "savoy", Kind: graph.ID, Value: "1234"}, URL: "https://www.savoy.example/pt/quarto", Origin: graph.Payload},
		graph.Edge{Key: graph.Key{Site: "savoy", Kind: graph.ID, Value: "1234"}, URL: "https://www.savoy.example/en/room", Origin: graph.Payload},
		// The rooms list reports the room's codename as a cache tag.
		graph.Edge{Key: graph.Key{Site: "savoy", Kind: graph.Tag, Value: "deluxe_room"}, URL: "https://www.savoy.example/en/rooms", Origin: graph.Learned},
		// Another site shows the same item (shared content).
		graph.Edge{Key: graph.Key{Site: "calheta", Kind: graph.Tag, Value: "1234"}, URL: "https://www.calheta.example/", Origin: graph.Learned},
		// A page of a site no longer configured.
		graph.Edge{Key: graph.Key{Site: "gone", Kind: graph.ID, Value: "1234"}, URL: "https://gone.example/x", Origin: graph.Payload},
		graph.Edge{Key: graph.Key{Site: "savoy", Kind: graph.ID, Value: "999"}, URL: "https://www.savoy.example/other", Origin: graph.Payload},
	)
	r, _ := New(sites(), nil)
	unpublish := change.Change{Kind: change.Unpublish, Event: "ContentUnpublished", ContentID: "1234", Codename: "deluxe_room"}
	if res := r.Resolve(unpublish, ""); len(res.Targets) != 0 {
		t.Fatalf("without a graph: %q", values(res.Targets))
	}
	r.SetGraph(g)
	res := r.Resolve(unpublish, "")
	want := []string{"url https://www.savoy.example/pt/quarto @savoy", "url https://www.savoy.example/en/room @savoy",
		"url https://www.calheta.example/ @calheta", "url https://www.savoy.example/en/rooms @savoy"}
	if got := values(res.Targets); !slices.Equal(got, want) {
		t.Errorf("unpublish by id:\n got %q\nwant %q", got, want)
	}
	for _, tg := range res.Targets {
		if tg.Warm || !strings.HasPrefix(tg.Reason, "graph: ") {
			t.Errorf("%s: warm %v reason %q, want no warm-up of an unpublished page and a graph reason", tg.Value, tg.Warm, tg.Reason)
		}
	}
	if len(res.Dropped) != 1 || res.Dropped[0].Value != "https://gone.example/x" {
		t.Errorf("dropped %+v, want the page of the site no longer configured", res.Dropped)
	}
	// A publish naming its URL keeps the payload's reason and warms the
	// pages the graph adds.
	res = r.Resolve(change.Change{Kind: change.Publish, ContentID: "1234", URLs: []string{"/en/room"}}, "savoy")
	if res.Targets[0].Reason != "payload" || len(res.Targets) != 3 || !res.Targets[1].Warm {
		t.Errorf("publish %+v", res.Targets)
	}
}
