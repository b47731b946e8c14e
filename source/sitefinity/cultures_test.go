package sitefinity_test

import (
	"slices"
	"testing"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/config"
	"github.com/purgehook/purgehook/graph"
	"github.com/purgehook/purgehook/resolve"
	"github.com/purgehook/purgehook/source"
	"github.com/purgehook/purgehook/source/sitefinity"
)

// memory is a content graph that knows the URLs of content ids.
type memory map[string][]string

func (m memory) URLs(_ string, kind graph.Kind, value string) []string {
	if kind != graph.ID {
		return nil
	}
	return m[value]
}

var site = config.Site{Name: "savoy", BaseURL: "https://www.savoysignature.com", Cultures: map[string]string{"en": "/", "pt": "/pt"}}

func parse(t *testing.T, body string) change.Change {
	t.Helper()
	s, err := sitefinity.New(source.Options{Name: "sitefinity"})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := s.Parse([]byte(body), nil)
	if err != nil || len(cs) != 1 {
		t.Fatalf("parse: %v %v", cs, err)
	}
	return cs[0]
}

func urls(res resolve.Result) []string {
	var out []string
	for _, t := range res.Targets {
		if t.Kind == change.URL {
			out = append(out, t.Value)
		}
	}
	slices.Sort(out)
	return out
}

// A news item changed in English is purged in Portuguese too: the item's
// AvailableLanguages fill a {culture} template once each.
func TestOtherLanguagesByTemplate(t *testing.T) {
	c := parse(t, `{"Name":"News item is published","Item":{"Id":"n-1","UrlName":"spa-opening","AvailableLanguages":["en","pt"]},
		"OriginalEvent":{"Action":"Updated","ItemType":"Telerik.Sitefinity.News.Model.NewsItem","ItemId":"n-1","Language":"en","AffectedLanguages":["en"]}}`)
	if !slices.Equal(c.Cultures, []string{"en", "pt"}) || c.Fields["language"] != "en" {
		t.Fatalf("cultures %q, language %q", c.Cultures, c.Fields["language"])
	}
	if v, _ := c.Field("culture"); v != "en" {
		t.Errorf("{culture} alone is %q, want the event's en", v)
	}
	r, err := resolve.New([]config.Site{site}, []config.Rule{{When: config.Match{ContentType: "NewsItem"}, Purge: []config.RuleTarget{{URL: "/{culture}/news/{slug}"}}}})
	if err != nil {
		t.Fatal(err)
	}
	got := urls(r.Resolve(c, "savoy"))
	want := []string{"https://www.savoysignature.com/news/spa-opening", "https://www.savoysignature.com/pt/news/spa-opening"}
	if !slices.Equal(got, want) {
		t.Errorf("purged %q, want %q", got, want)
	}
}

// A page whose URL differs per language (a translated slug) is purged in
// every language whose URL an earlier delivery named: the graph
// remembers each URL under the item's id.
func TestOtherLanguagesByTheGraph(t *testing.T) {
	c := parse(t, `{"Name":"Page is published","Item":{"Id":"p-1","UrlName":"deluxe-room","RelativeUrlPath":"/accommodation/deluxe-room","AvailableLanguages":["en","pt"]},
		"OriginalEvent":{"Action":"Updated","ItemType":"Telerik.Sitefinity.Pages.Model.PageNode","ItemId":"p-1","Language":"en"}}`)
	r, err := resolve.New([]config.Site{site}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.SetGraph(memory{"p-1": {"https://www.savoysignature.com/accommodation/deluxe-room", "https://www.savoysignature.com/pt/alojamento/quarto-deluxe"}})
	got := urls(r.Resolve(c, "savoy"))
	want := []string{"https://www.savoysignature.com/accommodation/deluxe-room", "https://www.savoysignature.com/pt/alojamento/quarto-deluxe"}
	if !slices.Equal(got, want) {
		t.Errorf("purged %q, want %q", got, want)
	}
}
