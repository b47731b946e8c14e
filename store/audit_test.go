package store

import (
	"testing"
	"time"
)

func TestAudit(t *testing.T) {
	drivers(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		ctx := t.Context()
		now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
		s.SetClock(func() time.Time { return now })
		if as, err := s.AuditList(ctx, 10); err != nil || len(as) != 0 {
			t.Fatalf("empty: %+v %v", as, err)
		}
		if err := s.AuditAdd(ctx, Audit{Token: "ci", Action: "purge", Detail: "delivery 1: 2 target(s); reason: deploy 1.4.2"}); err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Minute)
		mustTx(t, s, func(tx *Tx) error {
			return tx.AuditAdd(ctx, Audit{Token: "ops", Action: "retry", Detail: "call 7 as call 9"})
		})
		as, err := s.AuditList(ctx, 10)
		if err != nil || len(as) != 2 {
			t.Fatalf("list %+v %v", as, err)
		}
		if a := as[0]; a.Token != "ops" || a.Action != "retry" || a.Detail != "call 7 as call 9" || !a.At.Equal(now) {
			t.Errorf("newest %+v", a)
		}
		if a := as[1]; a.Token != "ci" || a.Action != "purge" || !a.At.Equal(now.Add(-time.Minute)) {
			t.Errorf("oldest %+v", a)
		}
		if as, _ := s.AuditList(ctx, 1); len(as) != 1 || as[0].Token != "ops" {
			t.Errorf("limit 1: %+v", as)
		}
	})
}
