package budget

import (
	"math"
	"time"
)

// day is the length of a budget window.
const day = 24 * time.Hour

// Pacing: a budget keeps Reserve × PerDay calls back at the start of its
// window, and lets that reserve go linearly as the window passes, so that
// by its end every call may be spent. At any time the calls that may have
// been spent since the window started, the allowance, are
//
//	PerDay − ⌊Reserve × PerDay × (share of the window still to come)⌋
//
// A morning storm may spend at most (1 − Reserve) × PerDay; what it
// cannot spend waits (or, under purge_everything, becomes one call), and a
// change later in the day still finds calls left. The curve is a pure
// function of the time, so replicas that read the same spending agree.

// kept is how many calls the reserve holds back at t, in the window w.
func (b Budget) kept(w Window, t time.Time) int {
	if b.Reserve <= 0 || !b.Limited() {
		return 0
	}
	left := float64(w.End().Sub(t)) / float64(day)
	left = min(max(left, 0), 1)
	return int(math.Floor(b.reserve() * float64(b.PerDay) * left))
}

// reserve is Reserve within [0, 1].
func (b Budget) reserve() float64 { return min(max(b.Reserve, 0), 1) }

// Allowance is how many calls the window of now may have spent by now:
// PerDay less what the reserve still holds back (PerDay when the budget
// keeps no reserve; 0 for an unlimited budget, which Limited tells apart).
func (b Budget) Allowance(now time.Time) int {
	if !b.Limited() {
		return 0
	}
	return b.PerDay - b.kept(WindowAt(now), now)
}

// Slot is the earliest time in the window w at which the window's k-th
// call (counting from 1) is within the allowance: w.Start while k is
// within (1 − Reserve) × PerDay, later as the reserve is let go. k beyond
// PerDay has no slot in w; Slot returns w.End() for it.
func (b Budget) Slot(w Window, k int) time.Time {
	if k > b.PerDay {
		return w.End()
	}
	r := b.reserve() * float64(b.PerDay)
	// kept(t) ≤ PerDay − k  ⇔  r × left(t) < PerDay − k + 1.
	if r <= 0 || float64(b.PerDay-k+1) > r {
		return w.Start
	}
	left := float64(b.PerDay-k+1) / r
	at := w.Start.Add(time.Duration((1 - left) * float64(day)))
	// To the whole millisecond (what the store keeps), then nudged so that
	// Allowance, which the planner reads back, agrees to the millisecond
	// despite floating-point rounding.
	at = at.Truncate(time.Millisecond)
	for at.Before(w.End()) && b.Allowance(at) < k {
		at = at.Add(time.Millisecond)
	}
	for at.After(w.Start) && b.Allowance(at.Add(-time.Millisecond)) >= k {
		at = at.Add(-time.Millisecond)
	}
	return at
}

// Project is what the window of now will have spent by its end if
// spending goes on at the window's average pace so far (measured over at
// least an hour, so that one call just after midnight does not project a
// thousand). It is a forecast for operators: pacing keeps the actual
// spending within the allowance whatever it says.
func Project(spent int, now time.Time) int {
	w := WindowAt(now)
	elapsed := max(now.Sub(w.Start), time.Hour)
	if elapsed >= day {
		return spent
	}
	return spent + int(math.Round(float64(spent)*float64(w.End().Sub(now))/float64(elapsed)))
}
