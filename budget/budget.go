// Package budget is what a provider's calls may spend: its daily call
// budget (the one place that knows what a window is, how much of it is
// spent, what remains, how spending is paced through the day and what to
// do when a plan needs more calls than remain) and its rate (rate.go). It
// is pure: the store
// persists what was spent (a count per provider and window), and the
// planner, the admin API, `purgehook status` and the metrics all read a
// budget through Read, so "remaining" is computed once.
package budget

import (
	"context"
	"fmt"
	"time"
)

// Policy is what to do when the remaining budget cannot cover a plan.
type Policy string

// The policies.
const (
	// PurgeEverything replaces a plan the remaining budget cannot cover
	// with one purge-everything call (when the provider supports it).
	PurgeEverything Policy = "purge_everything"
	// Wait schedules the calls beyond the budget into the next windows.
	Wait Policy = "wait"
)

// DefaultPolicy is the policy when none is configured.
const DefaultPolicy = PurgeEverything

// ParsePolicy reads a policy name from config.
func ParsePolicy(s string) (Policy, error) {
	switch p := Policy(s); p {
	case PurgeEverything, Wait:
		return p, nil
	case "":
		return DefaultPolicy, nil
	}
	return "", fmt.Errorf("want %s or %s, got %q", PurgeEverything, Wait, s)
}

// Budget is one provider's daily budget.
type Budget struct {
	// PerDay is how many calls a window allows; 0 means unlimited.
	PerDay int
	Policy Policy
	// Reserve is the share of PerDay kept back at the start of the
	// window for later changes, let go linearly as the window passes
	// (pace.go); 0 paces nothing.
	Reserve float64
}

// Limited reports whether the budget bounds anything.
func (b Budget) Limited() bool { return b.PerDay > 0 }

// Window is one budget window: the UTC calendar day.
type Window struct {
	// Day names the window (2006-01-02); the store keys spending by it.
	Day   string
	Start time.Time
}

// WindowAt is the window t falls in.
func WindowAt(t time.Time) Window {
	y, m, d := t.UTC().Date()
	start := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	return Window{Day: start.Format(time.DateOnly), Start: start}
}

// Next is the window after w.
func (w Window) Next() Window { return WindowAt(w.Start.AddDate(0, 0, 1)) }

// End is when the window ends (and the next one starts).
func (w Window) End() time.Time { return w.Start.AddDate(0, 0, 1) }

// Spent is what a provider has spent (made or planned) per window, by day.
// A window that is absent has spent nothing.
type Spent map[string]int

// Status is a provider's budget as an operator sees it.
type Status struct {
	Provider string `json:"provider"`
	Day      string `json:"day"`
	// PerDay is 0 for an unlimited budget.
	PerDay int `json:"per_day"`
	Spent  int `json:"spent"`
	// Remaining is -1 for an unlimited budget.
	Remaining int       `json:"remaining"`
	Resets    time.Time `json:"resets"`
	// Reserve is how many of the remaining calls pacing holds back now
	// for changes later in the window; AllowanceNow is how many may be
	// spent now. Projected is what the window will have spent by Resets
	// at its average pace so far. All three are 0 for an unlimited
	// budget.
	Reserve      int `json:"reserve"`
	AllowanceNow int `json:"allowance_now"`
	Projected    int `json:"projected"`
}

// Unlimited reports whether the budget bounds nothing.
func (s Status) Unlimited() bool { return s.PerDay <= 0 }

// Status is the budget's state in the window of now, given what that
// window has spent.
func (b Budget) Status(provider string, now time.Time, spent int) Status {
	w := WindowAt(now)
	s := Status{Provider: provider, Day: w.Day, PerDay: b.PerDay, Spent: spent, Remaining: -1, Resets: w.End()}
	if b.Limited() {
		s.Remaining = max(b.PerDay-spent, 0)
		s.AllowanceNow = max(b.Allowance(now)-spent, 0)
		s.Reserve = s.Remaining - s.AllowanceNow
		s.Projected = Project(spent, now)
	}
	return s
}

// Ledger is where spending is persisted (the store).
type Ledger interface {
	// BudgetSpent returns what provider spent in each window from the
	// given day on (days absent spent nothing).
	BudgetSpent(ctx context.Context, provider, fromDay string) (Spent, error)
}

// Read returns a provider's budget status now, as the ledger has it. A
// read error is returned, never taken for an empty or a full budget.
func Read(ctx context.Context, l Ledger, provider string, b Budget, now time.Time) (Status, error) {
	if !b.Limited() {
		return b.Status(provider, now, 0), nil
	}
	w := WindowAt(now)
	spent, err := l.BudgetSpent(ctx, provider, w.Day)
	if err != nil {
		return Status{}, fmt.Errorf("budget %s: %w", provider, err)
	}
	return b.Status(provider, now, spent[w.Day]), nil
}
