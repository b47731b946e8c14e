package budget

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestWindows(t *testing.T) {
	// A window is the UTC day, whatever the caller's zone.
	lisbon := time.FixedZone("WET+1", 3600)
	w := WindowAt(time.Date(2026, 3, 1, 0, 30, 0, 0, lisbon)) // 23:30 UTC the day before
	if w.Day != "2026-02-28" || !w.Start.Equal(time.Date(2026, 2, 28, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("window = %+v", w)
	}
	if n := w.Next(); n.Day != "2026-03-01" || !n.Start.Equal(w.End()) {
		t.Errorf("next = %+v, end %v", n, w.End())
	}
}

func TestStatus(t *testing.T) {
	now := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	s := Budget{PerDay: 10}.Status("cf", now, 4)
	if s.Remaining != 6 || s.Spent != 4 || s.Day != "2026-11-23" || !s.Resets.Equal(time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)) || s.Unlimited() {
		t.Errorf("limited: %+v", s)
	}
	if s := (Budget{PerDay: 10}).Status("cf", now, 12); s.Remaining != 0 {
		t.Errorf("overspent: remaining %d", s.Remaining)
	}
	if s := (Budget{}).Status("cf", now, 0); s.Remaining != -1 || !s.Unlimited() {
		t.Errorf("unlimited: %+v", s)
	}
}

type ledger struct {
	spent Spent
	err   error
	asked []string
}

func (l *ledger) BudgetSpent(_ context.Context, provider, fromDay string) (Spent, error) {
	l.asked = append(l.asked, provider+" "+fromDay)
	return l.spent, l.err
}

func TestRead(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	l := &ledger{spent: Spent{"2026-11-22": 9, "2026-11-23": 2, "2026-11-24": 5}}
	s, err := Read(ctx, l, "cf", Budget{PerDay: 3}, now)
	if err != nil || s.Remaining != 1 || s.Spent != 2 {
		t.Errorf("read: %+v %v", s, err)
	}
	if len(l.asked) != 1 || l.asked[0] != "cf 2026-11-23" {
		t.Errorf("asked %v", l.asked)
	}

	// A read error is an error, not an empty (or a full) budget.
	boom := errors.New("database is locked")
	if _, err := Read(ctx, &ledger{err: boom}, "cf", Budget{PerDay: 3}, now); !errors.Is(err, boom) {
		t.Errorf("read error = %v", err)
	}
	// An unlimited budget needs no read.
	l = &ledger{err: boom}
	if s, err := Read(ctx, l, "cf", Budget{}, now); err != nil || s.Remaining != -1 || len(l.asked) != 0 {
		t.Errorf("unlimited: %+v %v %v", s, err, l.asked)
	}
}

func TestParsePolicy(t *testing.T) {
	for in, want := range map[string]Policy{"": PurgeEverything, "purge_everything": PurgeEverything, "wait": Wait} {
		if got, err := ParsePolicy(in); err != nil || got != want {
			t.Errorf("ParsePolicy(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParsePolicy("later"); err == nil {
		t.Error("ParsePolicy(later) succeeded")
	}
}
