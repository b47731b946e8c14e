package store

import (
	"testing"
	"time"

	"github.com/purgehook/purgehook/change"
)

func TestFindWhatPurgedAPage(t *testing.T) {
	drivers(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		ctx := t.Context()
		page := "https://a.example/50%_off?x=1&y=2"
		b1, _ := s.BatchInsert(ctx, []PendingTarget{
			{Delivery: 7, Target: change.Target{Kind: change.URL, Value: page, Site: "a", Reason: "payload"}},
			{Delivery: 7, Target: change.Target{Kind: change.URL, Value: "https://a.example/50x_off?x=1&y=2", Reason: "payload"}},
		})
		b2, _ := s.BatchInsert(ctx, []PendingTarget{{Delivery: 8, Target: change.Target{Kind: change.Tag, Value: "offers", Reason: "rule 1"}}})
		for _, c := range []change.Call{
			{Batch: b1, Provider: "cf", Kind: change.URL, Items: []string{page, "https://a.example/other"}},
			{Batch: b2, Provider: "cfront", Kind: change.URL, Items: []string{page}},
			// Another page whose URL differs in case only, and one that a
			// bare LIKE would match (_ and % are wildcards).
			{Batch: b2, Provider: "cf", Kind: change.URL, Items: []string{"https://a.example/50%_OFF?x=1&y=2", "https://a.example/50x_off?x=1&y=2"}},
		} {
			if _, err := s.CallInsert(ctx, c, "", time.Time{}); err != nil {
				t.Fatal(err)
			}
		}
		calls, err := s.CallFindItem(ctx, page, 10)
		if err != nil || len(calls) != 2 || calls[0].Batch != b2 || calls[1].Batch != b1 {
			t.Fatalf("calls %+v %v, want batch %d's then %d's", calls, err, b2, b1)
		}
		targets, err := s.BatchTargetFind(ctx, change.URL, page, 10)
		if err != nil || len(targets) != 1 || targets[0].Batch != b1 || targets[0].Delivery != 7 || targets[0].Target.Reason != "payload" {
			t.Fatalf("targets %+v %v", targets, err)
		}
		if ts, _ := s.BatchTargetFind(ctx, change.Tag, "offers", 10); len(ts) != 1 || ts[0].Batch != b2 {
			t.Errorf("tag targets %+v", ts)
		}
	})
}
