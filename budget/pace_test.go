package budget

import (
	"testing"
	"time"
)

var start = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)

func TestAllowance(t *testing.T) {
	b := Budget{PerDay: 100, Reserve: 0.2}
	for _, c := range []struct {
		at   time.Duration
		want int
	}{
		{0, 80},                          // the whole reserve is kept at midnight
		{6 * time.Hour, 85},              // 20 × 18/24 = 15 kept
		{12 * time.Hour, 90},             // half of it let go at noon
		{22*time.Hour + time.Minute, 99}, // ⌊1.65⌋ = 1 kept
		{23*time.Hour + time.Minute, 100},
	} {
		if got := b.Allowance(start.Add(c.at)); got != c.want {
			t.Errorf("allowance at +%s = %d, want %d", c.at, got, c.want)
		}
	}
	if got := (Budget{PerDay: 100}).Allowance(start); got != 100 {
		t.Errorf("no reserve: allowance %d, want the whole day", got)
	}
	if got := (Budget{PerDay: 10, Reserve: 1}).Allowance(start); got != 0 {
		t.Errorf("reserve 1: allowance at midnight %d, want 0", got)
	}
}

// Slot and Allowance agree: the k-th call's slot is the first moment the
// allowance covers it, and not a millisecond earlier.
func TestSlotMatchesAllowance(t *testing.T) {
	for _, b := range []Budget{{PerDay: 100, Reserve: 0.2}, {PerDay: 7, Reserve: 0.5}, {PerDay: 1000, Reserve: 1}, {PerDay: 3}} {
		w := WindowAt(start)
		for k := 1; k <= b.PerDay; k++ {
			at := b.Slot(w, k)
			if at.Before(w.Start) || !at.Before(w.End()) {
				t.Fatalf("%+v: slot of call %d at %v is outside the window", b, k, at)
			}
			if got := b.Allowance(at); got < k {
				t.Errorf("%+v: allowance at call %d's slot %v is %d", b, k, at, got)
			}
			if at.After(w.Start) {
				if got := b.Allowance(at.Add(-time.Millisecond)); got >= k {
					t.Errorf("%+v: call %d allowed (%d) before its slot %v", b, k, got, at)
				}
			}
		}
		if got := b.Slot(w, b.PerDay+1); !got.Equal(w.End()) {
			t.Errorf("%+v: a call past the budget has slot %v, want the window's end", b, got)
		}
	}
}

func TestStatusShowsPace(t *testing.T) {
	b := Budget{PerDay: 100, Reserve: 0.2}
	s := b.Status("cf", start.Add(6*time.Hour), 50)
	// 85 allowed by 06:00: 35 more now, 15 of the 50 left kept back;
	// 50 in 6 hours projects 200 by midnight.
	if s.Remaining != 50 || s.AllowanceNow != 35 || s.Reserve != 15 || s.Projected != 200 {
		t.Errorf("status = %+v", s)
	}
	// Over the allowance (spent before a reserve was configured): nothing
	// more now, and what is left is all reserve.
	s = b.Status("cf", start.Add(time.Hour), 90)
	if s.AllowanceNow != 0 || s.Reserve != 10 {
		t.Errorf("overspent status = %+v", s)
	}
	if s := (Budget{}).Status("app", start, 0); s.AllowanceNow != 0 || s.Reserve != 0 || s.Projected != 0 || s.Remaining != -1 {
		t.Errorf("unlimited status = %+v", s)
	}
}

func TestProject(t *testing.T) {
	for _, c := range []struct {
		at         time.Duration
		spent, out int
	}{
		{10 * time.Minute, 10, 10 + 238}, // measured over at least an hour
		{12 * time.Hour, 30, 60},
		{18 * time.Hour, 0, 0},
	} {
		if got := Project(c.spent, start.Add(c.at)); got != c.out {
			t.Errorf("project(%d at +%s) = %d, want %d", c.spent, c.at, got, c.out)
		}
	}
}

func TestRate(t *testing.T) {
	r := Rate{PerSecond: 4, Burst: 3}
	var tat time.Time
	var got []time.Duration
	for range 6 {
		var slot time.Time
		slot, tat = r.Take(tat, start)
		got = append(got, slot.Sub(start))
	}
	// A burst of 3 at once, then one every 250ms.
	want := []time.Duration{0, 0, 0, 250 * time.Millisecond, 500 * time.Millisecond, 750 * time.Millisecond}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("slots = %v, want %v", got, want)
		}
	}
	if free := r.Free(tat, start); free != start.Add(time.Second) {
		t.Errorf("next free %v after the six calls, want +1s", free.Sub(start))
	}
	// Idle long enough, the burst is available again.
	later := start.Add(time.Minute)
	for range 3 {
		var slot time.Time
		slot, tat = r.Take(tat, later)
		if !slot.Equal(later) {
			t.Fatalf("after a minute idle, slot %v", slot.Sub(later))
		}
	}
	if slot, _ := (Rate{}).Take(time.Time{}, start); !slot.Equal(start) {
		t.Error("an unlimited rate waits")
	}
}
