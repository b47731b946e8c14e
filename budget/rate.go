package budget

import "time"

// Rate is a provider's call rate: PerSecond calls a second on average,
// Burst of them at once. Replicas share it through one value the store
// keeps per provider, the rate's next theoretical arrival time (the
// generic cell rate algorithm): Take reads it and returns the next one,
// under the store's lock.
type Rate struct {
	PerSecond float64
	Burst     int
}

// Limited reports whether the rate bounds anything.
func (r Rate) Limited() bool { return r.PerSecond > 0 }

// interval is the time one call takes of the rate.
func (r Rate) interval() time.Duration {
	return time.Duration(float64(time.Second) / r.PerSecond)
}

// tolerance is how far ahead of its schedule a call may go: the burst.
func (r Rate) tolerance() time.Duration {
	return time.Duration(max(r.Burst, 1)-1) * r.interval()
}

// Free is the earliest time a call may go, given the rate's state tat
// (zero: no call yet) and the time it is wanted from.
func (r Rate) Free(tat, from time.Time) time.Time {
	if !r.Limited() {
		return from
	}
	if at := tat.Add(-r.tolerance()); at.After(from) {
		return at
	}
	return from
}

// Take reserves the first slot from the time `from` on: it returns the
// slot and the rate's new state. Slots taken one after another are at
// most Burst at once and PerSecond a second on average.
func (r Rate) Take(tat, from time.Time) (slot, next time.Time) {
	if !r.Limited() {
		return from, tat
	}
	slot = r.Free(tat, from)
	next = tat
	if slot.After(next) {
		next = slot
	}
	return slot, next.Add(r.interval())
}
