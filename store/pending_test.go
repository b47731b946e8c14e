package store

import (
	"strconv"
	"testing"
	"time"

	"github.com/purgehook/purgehook/change"
)

func TestPending(t *testing.T) {
	drivers(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		ctx := t.Context()
		now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
		s.SetClock(func() time.Time { return now })
		if n, o, nw, err := s.PendingWindow(ctx); err != nil || n != 0 || !o.IsZero() || !nw.IsZero() {
			t.Errorf("empty window: %d %v %v %v", n, o, nw, err)
		}
		d1, _, _ := s.DeliveryInsert(ctx, change.Delivery{Source: "cms", ID: "d1"})
		d2, _, _ := s.DeliveryInsert(ctx, change.Delivery{Source: "cms", ID: "d2"})
		first := now
		if err := s.PendingInsert(ctx, d1, []change.Target{{Kind: change.URL, Value: "https://a.example/1", Warm: true}, {Kind: change.Tag, Value: "t"}}); err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Second)
		if err := s.PendingInsert(ctx, d2, []change.Target{{Kind: change.URL, Value: "https://a.example/2", Site: "a"}}); err != nil {
			t.Fatal(err)
		}
		n, o, nw, err := s.PendingWindow(ctx)
		if err != nil || n != 3 || !o.Equal(first) || !nw.Equal(now) {
			t.Errorf("window: %d %v %v %v", n, o, nw, err)
		}
		if o, ok, err := s.PendingOldest(ctx); err != nil || !ok || !o.Equal(first) {
			t.Errorf("oldest: %v %v %v, want %v", o, ok, err, first)
		}
		var got []PendingTarget
		mustTx(t, s, func(tx *Tx) error {
			var err error
			got, err = tx.PendingTake(ctx, 0)
			return err
		})
		want := []PendingTarget{
			{d1, change.Target{Kind: change.URL, Value: "https://a.example/1", Warm: true}},
			{d1, change.Target{Kind: change.Tag, Value: "t"}},
			{d2, change.Target{Kind: change.URL, Value: "https://a.example/2", Site: "a"}},
		}
		if len(got) != len(want) {
			t.Fatalf("took %+v", got)
		}
		for i := range want {
			if got[i].Delivery != want[i].Delivery || got[i].Target.Kind != want[i].Target.Kind || got[i].Target.Value != want[i].Target.Value ||
				got[i].Target.Warm != want[i].Target.Warm || got[i].Target.Site != want[i].Target.Site {
				t.Errorf("took[%d] %+v, want %+v (in arrival order)", i, got[i], want[i])
			}
		}
		if n, _, _, _ := s.PendingWindow(ctx); n != 0 {
			t.Errorf("%d pending after take", n)
		}
		if _, ok, err := s.PendingOldest(ctx); err != nil || ok {
			t.Errorf("oldest after take: %v %v", ok, err)
		}
		if again, err := s.PendingTake(ctx, 0); err != nil || len(again) != 0 {
			t.Errorf("second take: %+v %v", again, err)
		}
	})
}

// More targets than one multi-row insert takes arrive whole and in order.
func TestPendingInsertMany(t *testing.T) {
	drivers(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		ctx := t.Context()
		d, _, _ := s.DeliveryInsert(ctx, change.Delivery{Source: "cms", ID: "bulk"})
		ts := make([]change.Target, 2*rowsPerInsert+3)
		for i := range ts {
			ts[i] = change.Target{Kind: change.URL, Value: "https://a.example/" + strconv.Itoa(i)}
		}
		if err := s.PendingInsert(ctx, d, ts); err != nil {
			t.Fatal(err)
		}
		got, err := s.PendingTake(ctx, 0)
		if err != nil || len(got) != len(ts) {
			t.Fatalf("took %d of %d: %v", len(got), len(ts), err)
		}
		for i, p := range got {
			if p.Target.Value != ts[i].Value || p.Delivery != d {
				t.Fatalf("took[%d] %+v, want %s (in order)", i, p, ts[i].Value)
			}
		}
	})
}

// A take with a limit takes the oldest targets, in order, and leaves the
// rest for the next.
func TestPendingTakeLimit(t *testing.T) {
	drivers(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		ctx := t.Context()
		d, _, _ := s.DeliveryInsert(ctx, change.Delivery{Source: "cms", ID: "bulk"})
		ts := make([]change.Target, 10)
		for i := range ts {
			ts[i] = change.Target{Kind: change.URL, Value: "https://a.example/" + strconv.Itoa(i)}
		}
		if err := s.PendingInsert(ctx, d, ts); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, want := range []int{4, 4, 2, 0} {
			took, err := s.PendingTake(ctx, 4)
			if err != nil || len(took) != want {
				t.Fatalf("took %d, want %d: %v", len(took), want, err)
			}
			for _, p := range took {
				got = append(got, p.Target.Value)
			}
		}
		for i, v := range got {
			if v != ts[i].Value {
				t.Fatalf("took[%d] %s, want %s (oldest first)", i, v, ts[i].Value)
			}
		}
	})
}
