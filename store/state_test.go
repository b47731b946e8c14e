package store

import (
	"testing"

	"github.com/purgehook/purgehook/change"
)

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

// TestStateLockOrdersFlushAndQueue replays, on PostgreSQL, the race
// between a flush that is finishing and a delivery that queues targets:
// the flush has taken the pending targets and is about to clear the
// "flush queued" flag when the delivery inserts a target and reads the
// flag. Without StateLock the delivery reads "1" (the finishing flush's
// flag, not yet cleared) and queues no flush, while the flush's take
// could not see the delivery's target: it waits for the periodic flush.
// With it the delivery reads the flag only after the flush committed.
// (SQLite's write transactions are exclusive: the delivery cannot begin
// until the flush commits.)
func TestStateLockOrdersFlushAndQueue(t *testing.T) {
	drivers(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		if s.Driver() != Postgres {
			t.Skip("SQLite serialises write transactions")
		}
		ctx := t.Context()
		const key = "flush_queued"
		must(t, s.StateSet(ctx, key, "1"))
		d, _, err := s.DeliveryInsert(ctx, change.Delivery{Source: "cms", ID: "d"})
		must(t, err)

		taken := make(chan struct{})
		read := make(chan string, 1)
		go func() {
			<-taken
			read <- func() string {
				var v string
				err := s.InTx(ctx, func(tx *Tx) error {
					if err := tx.PendingInsert(ctx, d, []change.Target{{Kind: change.URL, Value: "https://a.example/"}}); err != nil {
						return err
					}
					if err := tx.StateLock(ctx, key); err != nil {
						return err
					}
					var err error
					v, err = tx.StateGet(ctx, key)
					return err
				})
				if err != nil {
					return "error: " + err.Error()
				}
				return v
			}()
		}()

		var early string
		mustTx(t, s, func(tx *Tx) error {
			if err := tx.StateLock(ctx, key); err != nil {
				return err
			}
			if _, err := tx.PendingTake(ctx, 0); err != nil {
				return err
			}
			close(taken)
			// Go on once the delivery has either read the flag (no lock
			// held it back) or is waiting for this transaction's lock.
			for early == "" {
				select {
				case early = <-read:
				default:
					var waiting int
					if err := s.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`).Scan(&waiting); err != nil {
						return err
					}
					if waiting > 0 {
						early = "waiting"
					}
				}
			}
			return tx.StateSet(ctx, key, "")
		})
		got := early
		if early == "waiting" {
			got = <-read
		}
		if got != "" {
			t.Errorf("the delivery read the flag as %q while the flush was clearing it: its targets would wait for the periodic flush", got)
		}
		if n, _, _, _ := s.PendingWindow(ctx); n != 1 {
			t.Errorf("%d targets pending, want the delivery's 1", n)
		}
	})
}
