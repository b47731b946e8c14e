package plan

import (
	"fmt"
	"strings"
	"testing"
	"time"

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
	calls, notes = Calls(urlOnly, []change.Target{{Kind: change.Tag, Value: "t"}, {Kind: change.URL, Value: "https://a.example/"}})
	if len(calls) != 1 || calls[0].Kind != change.URL || len(notes) != 1 || !strings.Contains(string(notes[0]), "cannot purge") {
		t.Errorf("calls %+v notes %v", calls, notes)
	}

	calls, _ = Calls(cloudflareLike, append(urls(50), change.Target{Kind: change.Everything}))
	if len(calls) != 1 || calls[0].Kind != change.Everything || len(calls[0].Items) != 0 {
		t.Errorf("everything should replace the rest: %+v", calls)
	}
}

func day(s string) Window {
	t, _ := time.Parse("2006-01-02", s)
	return Window{Day: s, Start: t}
}

func next(w Window) Window {
	t := w.Start.AddDate(0, 0, 1)
	return Window{Day: t.Format("2006-01-02"), Start: t}
}

func TestApplyBudget(t *testing.T) {
	calls, _ := Calls(cloudflareLike, urls(200)) // 7 calls
	spentNone := func(string) int { return 0 }

	d := ApplyBudget(cloudflareLike, calls, PurgeEverything, 0, day("2026-11-23"), spentNone, next)
	if len(d.Calls) != 7 || d.Escalated {
		t.Errorf("unlimited: %d calls escalated=%v", len(d.Calls), d.Escalated)
	}

	d = ApplyBudget(cloudflareLike, calls, PurgeEverything, 3, day("2026-11-23"), spentNone, next)
	if !d.Escalated || len(d.Calls) != 1 || d.Calls[0].Call.Kind != change.Everything || !d.Calls[0].NotBefore.IsZero() {
		t.Errorf("purge_everything: %+v", d)
	}

	// Budget spent: the one everything call waits for tomorrow.
	spentAll := func(day string) int {
		if day == "2026-11-23" {
			return 3
		}
		return 0
	}
	d = ApplyBudget(cloudflareLike, calls, PurgeEverything, 3, day("2026-11-23"), spentAll, next)
	if len(d.Calls) != 1 || d.Calls[0].Day != "2026-11-24" || d.Calls[0].NotBefore.IsZero() {
		t.Errorf("exhausted: %+v", d.Calls)
	}

	d = ApplyBudget(cloudflareLike, calls, Wait, 3, day("2026-11-23"), spentNone, next)
	perDay := map[string]int{}
	for _, c := range d.Calls {
		perDay[c.Day]++
	}
	if len(d.Calls) != 7 || perDay["2026-11-23"] != 3 || perDay["2026-11-24"] != 3 || perDay["2026-11-25"] != 1 {
		t.Errorf("wait: %v", perDay)
	}
	if d.Note == "" {
		t.Error("wait: no note")
	}

	within := ApplyBudget(cloudflareLike, calls[:2], PurgeEverything, 3, day("2026-11-23"), spentNone, next)
	if within.Escalated || len(within.Calls) != 2 {
		t.Errorf("within budget: %+v", within)
	}
}
