package plan

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/purgehook/purgehook/budget"
	"github.com/purgehook/purgehook/change"
)

func urls(n int) []change.Target {
	var ts []change.Target
	for i := range n {
		ts = append(ts, change.Target{Kind: change.URL, Value: fmt.Sprintf("https://a.example/p/%d", i)})
	}
	return ts
}

var cloudflareLike = Provider{Name: "cf", Layer: change.LayerEdge, Limits: change.Limits{
	Kinds:   change.AllKinds,
	PerCall: map[change.TargetKind]int{change.URL: 30, change.Tag: 30, change.Host: 30, change.Prefix: 30},
}}

func TestCallsSplitWithinLimits(t *testing.T) {
	ts := append(urls(200), urls(200)...) // duplicates collapse
	ts = append(ts, change.Target{Kind: change.Tag, Value: "news"}, change.Target{Kind: change.Tag, Value: "news"})
	calls, notes := Calls(cloudflareLike, ts)
	if len(notes) != 0 {
		t.Errorf("notes: %v", notes)
	}
	seen := map[string]int{}
	nURL, nTag := 0, 0
	for _, c := range calls {
		if len(c.Items) > 30 {
			t.Errorf("call of %d items exceeds 30", len(c.Items))
		}
		if c.Provider != "cf" || c.Layer != change.LayerEdge {
			t.Errorf("call %+v lacks provider/layer", c)
		}
		for _, it := range c.Items {
			seen[it]++
		}
		switch c.Kind {
		case change.URL:
			nURL++
		case change.Tag:
			nTag++
		}
	}
	if nURL != 7 || nTag != 1 {
		t.Errorf("got %d url calls, %d tag calls; want 7 and 1", nURL, nTag)
	}
	if len(seen) != 201 {
		t.Errorf("distinct items = %d, want 201", len(seen))
	}
	for it, n := range seen {
		if n != 1 {
			t.Errorf("%s planned %d times", it, n)
		}
	}
}

func TestCallsBodyBytes(t *testing.T) {
	p := Provider{Name: "ak", Limits: change.Limits{Kinds: []change.TargetKind{change.URL}, BodyBytes: 1000}}
	calls, _ := Calls(p, urls(100))
	total := 0
	for _, c := range calls {
		size := 64
		for _, it := range c.Items {
			size += len(it) + 3
		}
		if size > 1000 {
			t.Errorf("call of %d bytes exceeds 1000", size)
		}
		total += len(c.Items)
	}
	if total != 100 || len(calls) < 3 {
		t.Errorf("%d items in %d calls", total, len(calls))
	}
}

func TestEscalation(t *testing.T) {
	varnishLike := Provider{Name: "v", Limits: change.Limits{Kinds: []change.TargetKind{change.URL, change.Tag, change.Host, change.Everything}}}
	calls, notes := Calls(varnishLike, []change.Target{
		{Kind: change.Prefix, Value: "https://a.example/news"},
		{Kind: change.URL, Value: "https://a.example/x"},
	})
	if len(calls) != 2 || calls[0].Kind != change.URL || calls[1].Kind != change.Host || calls[1].Items[0] != "a.example" {
		t.Errorf("calls = %+v", calls)
	}
	if len(notes) != 1 || !strings.Contains(string(notes[0]), "purged as host") {
		t.Errorf("notes = %v", notes)
	}

	urlOnly := Provider{Name: "u", Limits: change.Limits{Kinds: []change.TargetKind{change.URL}}}
	calls, notes, _ = CallsWith(urlOnly, []change.Target{{Kind: change.Tag, Value: "t"}, {Kind: change.URL, Value: "https://a.example/"}}, Graph{UnknownTags: PurgeEverythingForUnknownTags})
	if len(calls) != 1 || calls[0].Kind != change.URL || len(notes) != 1 || !strings.Contains(string(notes[0]), "cannot purge") {
		t.Errorf("calls %+v notes %v", calls, notes)
	}

	calls, _ = Calls(cloudflareLike, append(urls(50), change.Target{Kind: change.Everything}))
	if len(calls) != 1 || calls[0].Kind != change.Everything || len(calls[0].Items) != 0 {
		t.Errorf("everything should replace the rest: %+v", calls)
	}
}

func withBudget(p Provider, perDay int, policy budget.Policy) Provider {
	p.Budget = budget.Budget{PerDay: perDay, Policy: policy}
	return p
}

var nov23 = time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)

func TestFitBudget(t *testing.T) {
	calls, _ := Calls(cloudflareLike, urls(200)) // 7 calls
	escalated := func(n Note) bool { return strings.Contains(string(n), "one purge-everything instead") }

	got, note := fit(cloudflareLike, calls, nov23, nil, false)
	if len(got) != 7 || note != "" || got[0].Day != "" {
		t.Errorf("unlimited: %d calls, note %q, day %q", len(got), note, got[0].Day)
	}

	got, note = fit(withBudget(cloudflareLike, 3, budget.PurgeEverything), calls, nov23, nil, false)
	if !escalated(note) || len(got) != 1 || got[0].Call.Kind != change.Everything || !got[0].NotBefore.IsZero() || got[0].Day != "2026-11-23" {
		t.Errorf("purge_everything: %+v %q", got, note)
	}

	// Budget spent: the one everything call waits for tomorrow.
	got, note = fit(withBudget(cloudflareLike, 3, budget.PurgeEverything), calls, nov23, budget.Spent{"2026-11-23": 3}, false)
	if len(got) != 1 || got[0].Day != "2026-11-24" || !got[0].NotBefore.Equal(time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)) || !strings.Contains(string(note), "waits until") {
		t.Errorf("exhausted: %+v %q", got, note)
	}

	got, note = fit(withBudget(cloudflareLike, 3, budget.Wait), calls, nov23, budget.Spent{"2026-11-24": 1}, false)
	perDay := map[string]int{}
	for _, c := range got {
		perDay[c.Day]++
	}
	if len(got) != 7 || perDay["2026-11-23"] != 3 || perDay["2026-11-24"] != 2 || perDay["2026-11-25"] != 2 {
		t.Errorf("wait: %v", perDay)
	}
	if note == "" {
		t.Error("wait: no note")
	}

	within, note := fit(withBudget(cloudflareLike, 3, budget.PurgeEverything), calls[:2], nov23, nil, false)
	if escalated(note) || len(within) != 2 {
		t.Errorf("within budget: %+v", within)
	}

	// A provider that cannot purge everything waits instead.
	noEverything := withBudget(Provider{Name: "cf", Limits: change.Limits{Kinds: []change.TargetKind{change.URL}, PerCall: map[change.TargetKind]int{change.URL: 30}}}, 3, budget.PurgeEverything)
	got, _ = fit(noEverything, calls, nov23, nil, false)
	if len(got) != 7 || got[6].Day != "2026-11-25" {
		t.Errorf("no everything: %+v", got)
	}
}

var (
	appLike     = Provider{Name: "app", Layer: change.LayerApp, Limits: change.Limits{Kinds: []change.TargetKind{change.Tag}}}
	varnishLike = Provider{Name: "varnish", Layer: change.LayerOrigin, Limits: change.Limits{Kinds: []change.TargetKind{change.URL, change.Tag, change.Host, change.Everything}}}
)

func TestNextWalksLayersInsideOut(t *testing.T) {
	providers := []Provider{cloudflareLike, varnishLike, appLike}
	targets := urls(40)

	// The app layer has nothing it can purge for URLs: the first step is
	// the origin, and the note says why the app layer was passed.
	s := Next(Input{Targets: targets, Providers: providers, Now: nov23})
	if s.Done || s.Layer != change.LayerOrigin || len(s.Calls) != 1 || s.Calls[0].Call.Provider != "varnish" {
		t.Fatalf("first step: %+v", s)
	}
	// (40 notes, one per URL, and one that the outer layers may refetch
	// what the app layer keeps.)
	if len(s.Notes) != 41 || !strings.Contains(string(s.Notes[0]), "app: cannot purge url") || !strings.Contains(string(s.Notes[40]), "app (app): 40 targets") {
		t.Errorf("first step notes: %d %v", len(s.Notes), s.Notes[:1])
	}
	s = Next(Input{Targets: targets, Providers: providers, From: change.LayerEdge, Now: nov23})
	if s.Done || s.Layer != change.LayerEdge || len(s.Calls) != 2 || len(s.CallsOf("cf")) != 2 {
		t.Fatalf("edge step: %+v", s)
	}
	if s.Broad {
		t.Error("a URL purge is not broad")
	}
	s = Next(Input{Targets: targets, Providers: providers, From: change.LayerEdge + 1, Now: nov23})
	if !s.Done || len(s.Calls) != 0 {
		t.Fatalf("after the edge: %+v", s)
	}

	// A tag reaches the app layer first.
	s = Next(Input{Targets: []change.Target{{Kind: change.Tag, Value: "news"}}, Providers: providers, Now: nov23})
	if s.Layer != change.LayerApp || len(s.Calls) != 1 {
		t.Fatalf("tag: %+v", s)
	}
}

func TestNextBudgetAndBroad(t *testing.T) {
	cf := withBudget(cloudflareLike, 3, budget.PurgeEverything)
	s := Next(Input{Targets: urls(200), Providers: []Provider{cf}, Now: nov23, Spent: map[string]budget.Spent{"cf": {"2026-11-23": 1}}})
	if len(s.Calls) != 1 || s.Calls[0].Call.Kind != change.Everything || !s.Broad {
		t.Fatalf("escalated step: %+v", s)
	}
	if len(s.Notes) != 1 || !strings.Contains(string(s.Notes[0]), "7 calls needed, 2 left") {
		t.Errorf("notes: %v", s.Notes)
	}
	if c := s.Charges(); c["cf"]["2026-11-23"] != 1 || len(c) != 1 {
		t.Errorf("charges: %v", c)
	}
}

func TestAllChargesEachStep(t *testing.T) {
	// Two providers in two layers; All plans both steps and a final Done.
	edge := withBudget(cloudflareLike, 10, budget.Wait)
	steps := All(Input{Targets: urls(40), Providers: []Provider{edge, varnishLike}, Now: nov23})
	if len(steps) != 3 || steps[0].Layer != change.LayerOrigin || steps[1].Layer != change.LayerEdge || !steps[2].Done {
		t.Fatalf("steps: %+v", steps)
	}
	// The budget carries from step to step: with 1 call left, the second
	// of the edge's two calls waits for tomorrow.
	spent := map[string]budget.Spent{"cf": {"2026-11-23": 9}}
	steps = All(Input{Targets: urls(40), Providers: []Provider{edge}, Now: nov23, Spent: spent})
	if len(steps) != 2 || len(steps[0].Calls) != 2 || steps[0].Calls[1].Day != "2026-11-24" {
		t.Fatalf("budgeted steps: %+v", steps)
	}
	if spent["cf"]["2026-11-23"] != 9 {
		t.Error("All changed its input's spending")
	}
}

func TestProvidersServeTheirSites(t *testing.T) {
	// Two sites, each behind a CloudFront-like distribution of its own
	// (paths only), and one Varnish for both.
	cloudfrontLike := change.Limits{Kinds: []change.TargetKind{change.URL, change.Prefix, change.Everything}}
	savoy := Provider{Name: "cf-savoy", Layer: change.LayerEdge, Limits: cloudfrontLike, Sites: []string{"savoy"}}
	royal := Provider{Name: "cf-royal", Layer: change.LayerEdge, Limits: cloudfrontLike, Sites: []string{"royal"}}
	shared := Provider{Name: "varnish", Layer: change.LayerEdge, Limits: varnishLike.Limits}
	targets := []change.Target{
		{Kind: change.URL, Value: "https://savoy.example/rooms", Site: "savoy"},
		// A tag on savoy escalates (graph.unknown_tags: purge_everything)
		// to everything on savoy's distribution only, never on royal's.
		{Kind: change.Tag, Value: "room:1", Site: "savoy"},
	}
	s := Next(Input{Targets: targets, Providers: []Provider{savoy, royal, shared}, Now: nov23, Graph: Graph{UnknownTags: PurgeEverythingForUnknownTags}})
	if got := s.CallsOf("cf-royal"); len(got) != 0 {
		t.Errorf("royal's distribution got savoy's targets: %+v", got)
	}
	if got := s.CallsOf("cf-savoy"); len(got) != 1 || got[0].Call.Kind != change.Everything {
		t.Errorf("savoy's distribution: %+v", got)
	}
	if got := s.CallsOf("varnish"); len(got) != 2 {
		t.Errorf("the shared Varnish: %+v", got)
	}

	// Everything on every site (a shared footer) reaches every provider.
	s = Next(Input{Targets: []change.Target{{Kind: change.Everything}}, Providers: []Provider{savoy, royal}, Now: nov23})
	if len(s.CallsOf("cf-savoy")) != 1 || len(s.CallsOf("cf-royal")) != 1 {
		t.Errorf("everything on all sites: %+v", s.Calls)
	}
	// Everything on one site reaches only its providers.
	s = Next(Input{Targets: []change.Target{{Kind: change.Everything, Site: "royal"}}, Providers: []Provider{savoy, royal}, Now: nov23})
	if len(s.CallsOf("cf-savoy")) != 0 || len(s.CallsOf("cf-royal")) != 1 {
		t.Errorf("everything on royal: %+v", s.Calls)
	}
}

func TestEmergencyGoesNowPastTheBudget(t *testing.T) {
	cf := withBudget(cloudflareLike, 3, budget.Wait)
	spent := map[string]budget.Spent{"cf": {"2026-11-23": 3}}
	everything := change.Target{Kind: change.Everything}

	// An ordinary purge of everything waits for tomorrow…
	s := Next(Input{Targets: []change.Target{everything}, Providers: []Provider{cf}, Now: nov23, Spent: spent})
	if len(s.Calls) != 1 || s.Calls[0].NotBefore.IsZero() {
		t.Fatalf("ordinary: %+v", s.Calls)
	}
	// …an emergency one goes now, charged to today, and says so.
	everything.Overdraft = true
	s = Next(Input{Targets: []change.Target{everything}, Providers: []Provider{cf}, Now: nov23, Spent: spent})
	if len(s.Calls) != 1 || !s.Calls[0].NotBefore.IsZero() || s.Calls[0].Day != "2026-11-23" || s.Calls[0].Call.Kind != change.Everything {
		t.Fatalf("emergency: %+v", s.Calls)
	}
	if len(s.Notes) != 1 || !strings.Contains(string(s.Notes[0]), "1 call(s) past today's budget of 3 (overdraft)") {
		t.Errorf("notes: %v", s.Notes)
	}
	// Within the budget there is nothing to say.
	s = Next(Input{Targets: []change.Target{everything}, Providers: []Provider{cf}, Now: nov23})
	if len(s.Calls) != 1 || len(s.Notes) != 0 {
		t.Errorf("within budget: %+v", s)
	}
}

// A tag for a provider that cannot purge tags becomes the pages the graph
// knows carry it, split to the provider's limits; a tag no known page
// carries is dropped with a note, or escalated when asked to.
func TestTagExpansion(t *testing.T) {
	cloudfrontLike := Provider{Name: "cfront", Layer: change.LayerEdge, Limits: change.Limits{
		Kinds: []change.TargetKind{change.URL, change.Prefix, change.Everything}, PerCall: map[change.TargetKind]int{change.URL: 15},
	}}
	var rooms []string
	for i := range 20 {
		rooms = append(rooms, fmt.Sprintf("https://a.example/rooms/%d", i))
	}
	g := Graph{TagURLs: map[TagRef][]string{
		{Site: "a", Tag: "rooms"}: rooms,
		// Another site's pages with the same tag are not this target's.
		{Site: "b", Tag: "rooms"}: {"https://b.example/rooms"},
	}}
	targets := []change.Target{
		{Kind: change.Tag, Value: "rooms", Site: "a"},
		{Kind: change.Tag, Value: "nobody-shows-this", Site: "a"},
		// A page also named by URL is purged once.
		{Kind: change.URL, Value: "https://a.example/rooms/3", Site: "a"},
	}
	calls, notes, dropped := CallsWith(cloudfrontLike, targets, g)
	if len(calls) != 2 || len(calls[0].Items) != 15 || len(calls[1].Items) != 5 || calls[0].Kind != change.URL {
		t.Fatalf("calls %+v, want the 20 pages in 2 URL calls of at most 15", calls)
	}
	if len(notes) != 2 || !strings.Contains(string(notes[0]), `tag "rooms" purged as the 20 page(s)`) || !strings.Contains(string(notes[1]), `tag "nobody-shows-this" dropped`) {
		t.Errorf("notes %q", notes)
	}
	if len(dropped) != 1 || dropped[0] != (DroppedTag{Provider: "cfront", Tag: "nobody-shows-this"}) {
		t.Errorf("dropped %+v", dropped)
	}

	// The old behaviour, on request: the unknown tag empties the cache.
	g.UnknownTags = PurgeEverythingForUnknownTags
	calls, _, dropped = CallsWith(cloudfrontLike, targets, g)
	if len(calls) != 1 || calls[0].Kind != change.Everything || dropped != nil {
		t.Errorf("purge_everything: calls %+v dropped %+v", calls, dropped)
	}

	// A provider that purges tags gets the tag itself.
	calls, _, _ = CallsWith(cloudflareLike, targets, Graph{})
	if len(calls) != 2 || calls[1].Kind != change.Tag || len(calls[1].Items) != 2 {
		t.Errorf("tag-capable provider: %+v", calls)
	}

	// Next reports the drop on the step, even from a layer it passed.
	s := Next(Input{Targets: targets[1:2], Providers: []Provider{cloudfrontLike}, Now: nov23})
	if !s.Done || len(s.Dropped) != 1 {
		t.Errorf("step %+v", s)
	}
	if _, err := ParseUnknownTags("sometimes"); err == nil {
		t.Error("ParseUnknownTags accepted sometimes")
	}
}
