package store

import (
	"testing"
	"time"

	"github.com/purgehook/purgehook/change"
)

func TestBatch(t *testing.T) {
	drivers(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		ctx := t.Context()
		at := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
		s.SetClock(func() time.Time { return at })
		d1, _, _ := s.DeliveryInsert(ctx, change.Delivery{Source: "cms", ID: "d1"})
		d2, _, _ := s.DeliveryInsert(ctx, change.Delivery{Source: "cms", ID: "d2"})
		a := change.Target{Kind: change.URL, Value: "https://a.example/"}
		tag := change.Target{Kind: change.Tag, Value: "t"}
		var b1, b2 int64
		mustTx(t, s, func(tx *Tx) error {
			var err error
			if b1, err = tx.BatchInsert(ctx, []PendingTarget{{d1, a}, {d2, tag}, {d1, tag}}); err != nil {
				return err
			}
			// A batch lock is taken inside a transaction, on a batch that
			// exists.
			if err := tx.BatchLock(ctx, b1); err != nil {
				return err
			}
			b2, err = tx.BatchInsert(ctx, []PendingTarget{{d1, a}})
			return err
		})
		b, err := s.BatchGet(ctx, b1)
		if err != nil || b.ID != b1 || b.State != BatchPurging || b.Layer != -1 || b.Error != "" || !b.CreatedAt.Equal(at) {
			t.Errorf("new batch %+v %v", b, err)
		}
		ts, err := s.BatchTargets(ctx, b1)
		if err != nil || len(ts) != 3 || ts[0].Delivery != d1 || ts[0].Target.Value != a.Value || ts[1].Delivery != d2 || ts[2].Target != tag {
			t.Errorf("targets %+v %v", ts, err)
		}
		if ds, err := s.BatchDeliveryStarts(ctx, b1); err != nil || len(ds) != 2 || ds[0].ID != d1 || ds[1].ID != d2 ||
			ds[0].Source != "cms" || !ds[0].From.Equal(at) {
			t.Errorf("deliveries %+v %v", ds, err)
		}
		// A delivery's targets across batches, each once, first seen first.
		if dt, err := s.DeliveryTargets(ctx, d1); err != nil || len(dt) != 2 || dt[0].Value != a.Value || dt[1] != tag {
			t.Errorf("delivery targets %+v %v", dt, err)
		}

		// A batch purges layer by layer, then settles keeping its last
		// layer; broad is set once a step purged a host or everything.
		steps := []struct {
			purging change.Layer
			state   BatchState
			msg     string
			layer   change.Layer
			broad   bool
		}{
			{purging: change.LayerOrigin, state: BatchPurging, layer: change.LayerOrigin},
			{purging: change.LayerEdge, state: BatchPurging, layer: change.LayerEdge, broad: true},
			{state: BatchWarming, layer: change.LayerEdge, broad: true},
			{state: BatchFailed, msg: "cf call 3: 403", layer: change.LayerEdge, broad: true},
			{state: BatchDone, layer: change.LayerEdge, broad: true},
		}
		for _, c := range steps {
			var err error
			switch c.state {
			case BatchPurging:
				err = s.BatchPurging(ctx, b2, c.purging)
			default:
				err = s.BatchSettle(ctx, b2, c.state, c.msg)
			}
			if err == nil && c.broad {
				err = s.BatchMarkBroad(ctx, b2)
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := s.BatchGet(ctx, b2)
			if got.State != c.state || got.Layer != c.layer || got.Error != c.msg || got.Broad != c.broad {
				t.Errorf("step %+v: got %+v", c, got)
			}
		}
		if b, _ := s.BatchGet(ctx, b1); b.Broad {
			t.Error("another batch was marked broad")
		}
		if bs, err := s.BatchList(ctx, 10); err != nil || len(bs) != 2 || bs[0].ID != b2 || bs[1].ID != b1 {
			t.Errorf("list (newest first) %+v %v", bs, err)
		}
	})
}

func TestBatchNotFound(t *testing.T) {
	drivers(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		ctx := t.Context()
		_, err := s.BatchGet(ctx, 42)
		isNotFound(t, "get", err)
		err = s.InTx(ctx, func(tx *Tx) error { return tx.BatchLock(ctx, 42) })
		if s.Driver() == Postgres {
			isNotFound(t, "lock", err)
		} else if err != nil {
			t.Errorf("lock on sqlite (a no-op): %v", err)
		}
	})
}
