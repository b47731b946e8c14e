package resolve

import (
	"fmt"
	"net/url"
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

func TestHostConfiguredAndSameSite(t *testing.T) {
	r, err := New(append(sites(), config.Site{Name: "local", BaseURL: "http://127.0.0.1:8080"}), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		hostport string
		want     bool
	}{
		{"www.savoy.example:443", true},
		{"WWW.Savoy.Example:443", true},
		{"savoy.example:443", true}, // an alias
		{"www.savoy.example:80", false},
		{"127.0.0.1:8080", true},
		{"127.0.0.1:8081", false},
		{"evil.example:443", false},
	} {
		if got := r.HostConfigured(tc.hostport); got != tc.want {
			t.Errorf("HostConfigured(%q) = %v, want %v", tc.hostport, got, tc.want)
		}
	}
	for _, tc := range []struct {
		from, to string
		want     bool
	}{
		{"https://www.savoy.example/a", "https://savoy.example/b", true},
		{"https://savoy.example/a", "https://www.savoy.example:443/b", true},
		{"https://www.savoy.example/a", "https://www.calheta.example/b", false}, // another site
		{"https://www.savoy.example/a", "https://evil.example/b", false},
		{"https://www.savoy.example/a", "http://www.savoy.example/b", false}, // port 80 is not configured
		{"https://www.savoy.example/a", "ftp://www.savoy.example/b", false},
		{"https://evil.example/a", "https://evil.example/b", false},
	} {
		from, _ := url.Parse(tc.from)
		to, _ := url.Parse(tc.to)
		if got := r.SameSite(from, to); got != tc.want {
			t.Errorf("SameSite(%s, %s) = %v, want %v", tc.from, tc.to, got, tc.want)
		}
	}
}

func TestURLLengthLimit(t *testing.T) {
	rules := []config.Rule{{When: config.Match{ContentType: "x"}, Purge: []config.RuleTarget{{Prefix: "/p/{slug}"}}}}
	r, err := New(sites(), rules, Limits{URLLength: 60})
	if err != nil {
		t.Fatal(err)
	}
	base := "https://www.savoy.example"   // 25 bytes
	fits := "/" + strings.Repeat("a", 34) // 60 bytes absolute
	long := "/" + strings.Repeat("b", 512*1024)
	res := r.Resolve(change.Change{ContentType: "x", Slug: strings.Repeat("c", 40), URLs: []string{fits, long}, Dependencies: []string{fits + "z"}}, "savoy")
	if got := values(res.Targets); !slices.Equal(got, []string{"url " + base + fits + " @savoy"}) {
		t.Errorf("targets %q", got)
	}
	if len(res.Dropped) != 3 {
		t.Fatalf("dropped %+v, want the long URL, the long dependency and the long prefix", res.Dropped)
	}
	for _, d := range res.Dropped {
		if !strings.Contains(d.Reason, "longer than 60 bytes (limits.url_length)") {
			t.Errorf("reason %q", d.Reason)
		}
		if len(d.Value) > 204 {
			t.Errorf("a dropped value of %d bytes goes into the trace", len(d.Value))
		}
	}
	// Without limits nothing is dropped for its length.
	r, _ = New(sites(), nil)
	if res := r.Resolve(change.Change{URLs: []string{long}}, "savoy"); len(res.Targets) != 1 {
		t.Errorf("no limit: %+v", res.Dropped)
	}
}

func TestCap(t *testing.T) {
	r, err := New(sites(), nil, Limits{Targets: 3})
	if err != nil {
		t.Fatal(err)
	}
	u := func(site, v string) change.Target {
		host := map[string]string{"savoy": "https://www.savoy.example", "calheta": "https://www.calheta.example"}[site]
		return change.Target{Kind: change.URL, Value: host + v, Site: site, Warm: true}
	}
	tests := []struct {
		name string
		in   []change.Target
		want []string
		note string
	}{
		{"at the cap: kept", []change.Target{u("savoy", "/1"), u("savoy", "/2"), u("savoy", "/3")},
			[]string{"url https://www.savoy.example/1 @savoy", "url https://www.savoy.example/2 @savoy", "url https://www.savoy.example/3 @savoy"}, ""},
		{"duplicates count once", []change.Target{u("savoy", "/1"), u("savoy", "/1"), u("savoy", "/2"), u("savoy", "/3")},
			[]string{"url https://www.savoy.example/1 @savoy", "url https://www.savoy.example/1 @savoy", "url https://www.savoy.example/2 @savoy", "url https://www.savoy.example/3 @savoy"}, ""},
		{"over: the site's hosts", []change.Target{u("savoy", "/1"), u("savoy", "/2"), u("savoy", "/3"), {Kind: change.Tag, Value: "t", Site: "savoy"}},
			[]string{"host www.savoy.example @savoy", "host savoy.example @savoy"}, "4 targets, over limits.targets (3): purging the hosts of savoy instead"},
		{"over, two sites", []change.Target{u("savoy", "/1"), u("calheta", "/2"), u("savoy", "/3"), u("calheta", "/4")},
			[]string{"host www.savoy.example @savoy", "host savoy.example @savoy", "host www.calheta.example @calheta"}, "4 targets, over limits.targets (3): purging the hosts of savoy, calheta instead"},
		{"over, a target of no site", []change.Target{u("savoy", "/1"), u("savoy", "/2"), u("savoy", "/3"), {Kind: change.Tag, Value: "t"}},
			[]string{"everything  @"}, "4 targets, over limits.targets (3): purging everything instead"},
	}
	for _, tt := range tests {
		got, note := r.Cap(tt.in)
		if !slices.Equal(values(got), tt.want) || note != tt.note {
			t.Errorf("%s:\n got %q %q\nwant %q %q", tt.name, values(got), note, tt.want, tt.note)
		}
	}
	unlimited, _ := New(sites(), nil)
	many := make([]change.Target, 5000)
	for i := range many {
		many[i] = u("savoy", fmt.Sprintf("/%d", i))
	}
	if got, note := unlimited.Cap(many); len(got) != 5000 || note != "" {
		t.Errorf("no limit: %d targets, %q", len(got), note)
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
