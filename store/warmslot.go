package store

import (
	"context"
	"fmt"
	"time"
)

// WarmSlotTake takes one of slots leases on warm-up requests to origin for
// holder, for ttl: a slot is free when no one holds it or its lease has
// run out. It returns the slot taken, or -1 when every slot is held.
func (s *Store) WarmSlotTake(ctx context.Context, origin, holder string, slots int, ttl time.Duration) (int, error) {
	now := s.now()
	taken := -1
	err := s.InTx(ctx, func(tx *Tx) error {
		for i := range slots {
			res, err := tx.q.ExecContext(ctx, `INSERT INTO ph_warm_slot (origin, slot, holder, until_ms) VALUES (?, ?, ?, ?)
				ON CONFLICT (origin, slot) DO UPDATE SET holder = excluded.holder, until_ms = excluded.until_ms
				WHERE ph_warm_slot.until_ms <= ?`, origin, i, holder, ms(now.Add(ttl)), ms(now))
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 1 {
				taken = i
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return -1, fmt.Errorf("store: warm slot: %w", err)
	}
	return taken, nil
}

// WarmSlotGive gives back a slot holder took (nothing when its lease ran
// out and another took it).
func (s *Store) WarmSlotGive(ctx context.Context, origin, holder string, slot int) error {
	err := s.InTx(ctx, func(tx *Tx) error {
		_, err := tx.q.ExecContext(ctx, `DELETE FROM ph_warm_slot WHERE origin = ? AND slot = ? AND holder = ?`, origin, slot, holder)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: warm slot: %w", err)
	}
	return nil
}
