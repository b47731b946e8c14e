package store

import (
	"slices"
	"testing"
	"time"

	"github.com/purgehook/purgehook/change"
)

func TestEvent(t *testing.T) {
	drivers(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		ctx := t.Context()
		at := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
		s.SetClock(func() time.Time { return at })
		d, _, err := s.DeliveryInsert(ctx, change.Delivery{Source: "cms", ID: "d1"})
		if err != nil {
			t.Fatal(err)
		}
		var b int64
		mustTx(t, s, func(tx *Tx) error {
			var err error
			if b, err = tx.BatchInsert(ctx, nil); err != nil {
				return err
			}
			for _, e := range []struct {
				d, b int64
				kind string
			}{{d, 0, "accepted"}, {d, b, "batch"}, {0, b, "plan"}, {0, 0, "note"}} {
				if err := tx.EventAdd(ctx, e.d, e.b, e.kind, e.kind+" msg"); err != nil {
					return err
				}
			}
			return nil
		})
		kinds := func(es []Event) (ks []string) {
			for _, e := range es {
				ks = append(ks, e.Kind)
			}
			return ks
		}
		for _, c := range []struct {
			name  string
			d, b  int64
			limit int
			want  []string
		}{
			{"of a delivery", d, 0, 10, []string{"batch", "accepted"}},
			{"of a batch", 0, b, 10, []string{"plan", "batch"}},
			{"newest", 0, 0, 10, []string{"note", "plan", "batch", "accepted"}},
			{"newest, limited", 0, 0, 2, []string{"note", "plan"}},
		} {
			es, err := s.EventList(ctx, c.d, c.b, c.limit)
			if err != nil || !slices.Equal(kinds(es), c.want) {
				t.Errorf("%s: %v %v, want %v", c.name, kinds(es), err, c.want)
			}
		}
		es, _ := s.EventList(ctx, d, 0, 10)
		if len(es) == 2 && (es[0].Delivery != d || es[0].Batch != b || es[1].Batch != 0 || !es[1].At.Equal(at) || es[1].Message != "accepted msg") {
			t.Errorf("events %+v", es)
		}
	})
}
