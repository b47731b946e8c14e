package store

import "testing"

func TestState(t *testing.T) {
	drivers(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		ctx := t.Context()
		// Unset reads as "": a coordination flag that was never raised.
		if v, err := s.StateGet(ctx, "flush_queued"); err != nil || v != "" {
			t.Errorf("unset: %q %v", v, err)
		}
		mustTx(t, s, func(tx *Tx) error { return tx.StateSet(ctx, "flush_queued", "1") })
		if v, _ := s.StateGet(ctx, "flush_queued"); v != "1" {
			t.Errorf("set: %q", v)
		}
		if err := s.StateSet(ctx, "flush_queued", ""); err != nil {
			t.Fatal(err)
		}
		if v, _ := s.StateGet(ctx, "flush_queued"); v != "" {
			t.Errorf("overwritten: %q", v)
		}
	})
}
