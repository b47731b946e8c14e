package store

import (
	"testing"
	"time"

	"github.com/purgehook/purgehook/change"
)

func TestCallHours(t *testing.T) {
	drivers(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		ctx := t.Context()
		day := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
		now := day.Add(-time.Minute) // yesterday: not counted
		s.SetClock(func() time.Time { return now })
		b, err := s.BatchInsert(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		insert := func(provider string) change.Call {
			c, err := s.CallInsert(ctx, change.Call{Batch: b, Provider: provider, Layer: change.LayerEdge, Kind: change.URL, Items: []string{"https://a.example/"}}, "", time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		insert("cf")
		now = day.Add(9*time.Hour + 5*time.Minute)
		insert("cf")
		insert("cf")
		insert("other")
		now = day.Add(9*time.Hour + 59*time.Minute)
		split := insert("cf")
		must(t, s.CallUpdate(ctx, CallUpdateParams{ID: split.ID, State: CallSplit}))
		now = day.Add(13 * time.Hour)
		insert("cf")

		got, err := s.CallHours(ctx, "cf", day)
		if err != nil {
			t.Fatal(err)
		}
		want := map[time.Time]int{day.Add(9 * time.Hour): 2, day.Add(13 * time.Hour): 1}
		if len(got) != len(want) {
			t.Fatalf("got %v, want %v", got, want)
		}
		for h, n := range want {
			if got[h] != n {
				t.Errorf("hour %s: %d calls, want %d (all: %v)", h.Format(time.TimeOnly), got[h], n, got)
			}
		}
	})
}
