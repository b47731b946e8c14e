package resolve

import (
	"slices"
	"testing"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/config"
	"github.com/purgehook/purgehook/graph"
)

// The Umbraco guide's §6 dependency table (Savoy Signature Hotels), as
// golden cases: what a publish must purge, with only a site, a source and
// these rules configured, the rest learned by the graph.
//
//	Room Detail page         Room Detail + Rooms List + Homepage (if featured)
//	Dining Detail page       Dining Detail + Dining List
//	Shared Content (footer)  ALL pages across ALL 8 sites
//	siteRoot (header/nav)    ALL pages for that site
//	News article             News Detail + News List
//	Special Offer            Offer Detail + Offers List + Homepage (if featured)
func TestGuideDependencyTable(t *testing.T) {
	sites := []config.Site{
		{Name: "palace", BaseURL: "https://www.savoy-palace.example", Cultures: map[string]string{"pt-PT": "/pt", "en-US": "/en"}, CMSIDs: []string{"1055"}},
		{Name: "calheta", BaseURL: "https://www.calheta.example", Cultures: map[string]string{"pt-PT": "/pt", "en-US": "/"}, CMSIDs: []string{"2011"}},
	}
	featured := config.Match{Fields: map[string]string{"featured": "true"}}
	rules := []config.Rule{
		{When: config.Match{ContentType: "roomDetailPage"}, Purge: []config.RuleTarget{{ListOf: "{content_type}"}}},
		{When: config.Match{ContentType: "diningDetailPage"}, Purge: []config.RuleTarget{{ListOf: "{content_type}"}}},
		{When: config.Match{ContentType: "newsArticle"}, Purge: []config.RuleTarget{{ListOf: "{content_type}"}}},
		{When: config.Match{ContentType: "specialOffer"}, Purge: []config.RuleTarget{{ListOf: "{content_type}"}}},
		{When: featured, Purge: []config.RuleTarget{{URL: "/{culture}/"}}},
		{When: config.Match{ContentType: "sharedContent"}, Purge: []config.RuleTarget{{EverythingOn: "all_sites"}}},
		{When: config.Match{ContentType: "siteRoot"}, Purge: []config.RuleTarget{{EverythingOn: "this_site"}}},
	}
	r, err := New(sites, rules)
	if err != nil {
		t.Fatal(err)
	}
	g := graph.New()
	learned := func(site, page string, tags ...string) {
		for _, tag := range tags {
			g.Apply(graph.Edge{Key: graph.Key{Site: site, Kind: graph.Tag, Value: tag}, URL: page, Origin: graph.Learned})
		}
	}
	// What the pages' Cache-Tag headers reported at warm-up.
	learned("palace", "https://www.savoy-palace.example/en/accommodation", "list:roomDetailPage", "page:rooms")
	learned("palace", "https://www.savoy-palace.example/pt/alojamento", "list:roomDetailPage", "page:rooms")
	learned("palace", "https://www.savoy-palace.example/en/dining", "list:diningDetailPage")
	learned("palace", "https://www.savoy-palace.example/en/news", "list:newsArticle")
	learned("palace", "https://www.savoy-palace.example/en/offers", "list:specialOffer")
	learned("calheta", "https://www.calheta.example/offers", "list:specialOffer")
	r.SetGraph(g)

	u := func(path string) string { return "url https://www.savoy-palace.example" + path + " @palace" }
	tests := []struct {
		name   string
		change change.Change
		want   []string
	}{
		{
			name: "room detail: the room, the rooms lists",
			change: change.Change{Kind: change.Publish, ContentID: "1234", ContentType: "roomDetailPage", Cultures: []string{"en-US"},
				URLs: []string{"/en/accommodation/deluxe-room"}, Fields: map[string]string{"start_item_id": "1055"}},
			want: []string{u("/en/accommodation/deluxe-room"), u("/en/accommodation"), u("/pt/alojamento")},
		},
		{
			name: "room detail, featured: and the homepage of its culture",
			change: change.Change{Kind: change.Publish, ContentID: "1234", ContentType: "roomDetailPage", Cultures: []string{"pt-PT"},
				URLs: []string{"/pt/alojamento/quarto-deluxe"}, Fields: map[string]string{"start_item_id": "1055", "featured": "true"}},
			want: []string{u("/pt/alojamento/quarto-deluxe"), u("/en/accommodation"), u("/pt/alojamento"), u("/pt/")},
		},
		{
			name:   "dining detail: the restaurant, the dining list",
			change: change.Change{Kind: change.Publish, ContentID: "88", ContentType: "diningDetailPage", URLs: []string{"/en/dining/the-grill"}, Fields: map[string]string{"start_item_id": "1055"}},
			want:   []string{u("/en/dining/the-grill"), u("/en/dining")},
		},
		{
			name:   "shared content: everything on every site",
			change: change.Change{Kind: change.Publish, ContentID: "7", ContentType: "sharedContent"},
			want:   []string{"everything  @"},
		},
		{
			name:   "site root: every host of that site, chosen by its start item",
			change: change.Change{Kind: change.Publish, ContentID: "2011", ContentType: "siteRoot", Fields: map[string]string{"start_item_id": "2011"}},
			want:   []string{"host www.calheta.example @calheta"},
		},
		{
			name:   "news article: the article, the news list",
			change: change.Change{Kind: change.Publish, ContentID: "501", ContentType: "newsArticle", URLs: []string{"/en/news/spring"}, Fields: map[string]string{"start_item_id": "1055"}},
			want:   []string{u("/en/news/spring"), u("/en/news")},
		},
		{
			name: "special offer, featured, on the site whose default culture is at the root",
			change: change.Change{Kind: change.Publish, ContentID: "9", ContentType: "specialOffer", Cultures: []string{"en-US"},
				URLs: []string{"/offers/spa"}, Fields: map[string]string{"start_item_id": "2011", "featured": "true"}},
			want: []string{"url https://www.calheta.example/offers/spa @calheta", "url https://www.calheta.example/offers @calheta", "url https://www.calheta.example/ @calheta"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := r.Resolve(tt.change, "palace")
			if got := values(res.Targets); !slices.Equal(got, tt.want) {
				t.Errorf("targets:\n got %q\nwant %q", got, tt.want)
			}
			if len(res.Dropped) > 0 {
				t.Errorf("dropped %+v", res.Dropped)
			}
		})
	}

	// The room, unpublished later by id only, takes its page and the
	// rooms lists with it: the page was remembered, the lists are listed.
	g.Apply(graph.Edge{Key: graph.Key{Site: "palace", Kind: graph.ID, Value: "1234"}, URL: "https://www.savoy-palace.example/en/accommodation/deluxe-room", Origin: graph.Payload})
	res := r.Resolve(change.Change{Kind: change.Unpublish, ContentID: "1234", ContentType: "roomDetailPage"}, "palace")
	want := []string{u("/en/accommodation/deluxe-room"), u("/en/accommodation"), u("/pt/alojamento")}
	if got := values(res.Targets); !slices.Equal(got, want) {
		t.Errorf("unpublish by id:\n got %q\nwant %q", got, want)
	}
	// A list nobody reports is said, not silently missing.
	res = r.Resolve(change.Change{Kind: change.Publish, ContentID: "1", ContentType: "newsArticle", Site: "calheta"}, "")
	if len(res.Dropped) != 1 || res.Dropped[0].Value != "list_of: newsArticle" {
		t.Errorf("unknown list: %+v", res.Dropped)
	}
}

// Media and content types: the pages whose tags name them.
func TestMediaAndTypeChanges(t *testing.T) {
	r, _ := New(sites(), nil)
	g := graph.New()
	g.Apply(
		graph.Edge{Key: graph.Key{Site: "savoy", Kind: graph.Tag, Value: "img-77"}, URL: "https://www.savoy.example/en/room", Origin: graph.Learned},
		graph.Edge{Key: graph.Key{Site: "savoy", Kind: graph.Tag, Value: "type:roomDetailPage"}, URL: "https://www.savoy.example/en/room", Origin: graph.Learned},
		graph.Edge{Key: graph.Key{Site: "calheta", Kind: graph.Tag, Value: "type:roomDetailPage"}, URL: "https://www.calheta.example/en/suite", Origin: graph.Learned},
	)
	r.SetGraph(g)
	res := r.Resolve(change.Change{Kind: change.Media, Event: "Umbraco.MediaSave", ContentID: "img-77"}, "savoy")
	if got := values(res.Targets); !slices.Equal(got, []string{"url https://www.savoy.example/en/room @savoy"}) {
		t.Errorf("media: %q", got)
	}
	res = r.Resolve(change.Change{Kind: change.TypeChanged, Event: "contentTypeChanged", ContentType: "roomDetailPage"}, "savoy")
	if got := values(res.Targets); len(got) != 2 {
		t.Errorf("type change: %q, want both sites' pages carrying type:roomDetailPage", got)
	}
}
