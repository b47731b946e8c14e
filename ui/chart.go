package ui

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/purgehook/purgehook/budget"
)

// The chart's size in SVG units.
const (
	chartW, chartH = 480.0, 160.0
	padL, padR     = 36.0, 8.0
	padT, padB     = 10.0, 22.0
)

// chart is one provider's day drawn as SVG: calls per hour as bars, what
// the ledger says was spent so far as a line, the per-day budget as a
// dashed line, and where the day ends at the pace so far as a dotted one.
type chart struct {
	Provider, Layer string
	Spent, PerDay   int
	Projected       int
	Unlimited       bool
	Resets          time.Time
	Bars            []bar
	// Spend is the cumulative calls as a polyline's points.
	Spend string
	// BudgetY is the budget line's height (0: unlimited, no line).
	BudgetY float64
	// Projection runs from now and what is spent to the day's end.
	PX1, PY1, PX2, PY2 float64
	Ticks              []tick
	Over               bool
}

type bar struct {
	X, Y, W, H float64
	Title      string
}

type tick struct {
	X, Y  float64
	Label string
}

func (u *UI) charts(ctx context.Context) ([]chart, error) {
	bs, err := u.o.API.Budgets(ctx)
	if err != nil {
		return nil, err
	}
	now := u.now()
	window := budget.WindowAt(now)
	out := make([]chart, 0, len(bs))
	for _, b := range bs {
		hours, err := u.o.Store.CallHours(ctx, b.Provider, window.Start)
		if err != nil {
			return nil, err
		}
		c := drawChart(b.Status, hours, window.Start, now)
		c.Layer = b.Layer
		out = append(out, c)
	}
	return out, nil
}

// drawChart lays out one provider's chart; pure, so that it is tested
// without a store.
func drawChart(s budget.Status, hours map[time.Time]int, start, now time.Time) chart {
	c := chart{Provider: s.Provider, Spent: s.Spent, PerDay: s.PerDay, Unlimited: s.Unlimited(), Resets: s.Resets}
	per := make([]int, 24)
	total := 0
	for h, n := range hours {
		i := int(h.Sub(start) / time.Hour)
		if i >= 0 && i < 24 {
			per[i] += n
			total += n
		}
	}
	// The ledger counts what was charged (an escalation may charge more
	// than one row); the spend line ends at whichever is larger.
	spent := max(s.Spent, total)
	elapsed := now.Sub(start)
	// The same forecast as /v1/budgets and status, from the spend drawn.
	c.Projected = budget.Project(spent, now)
	top := max(spent, c.Projected, s.PerDay, 1)
	top = niceCeil(top + top/10)
	x := func(hour float64) float64 { return padL + hour/24*(chartW-padL-padR) }
	y := func(v float64) float64 { return chartH - padB - v/float64(top)*(chartH-padT-padB) }
	slot := (chartW - padL - padR) / 24
	var pts []string
	cum := 0
	pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(0), y(0)))
	nowH := elapsed.Hours()
	for i, n := range per {
		if n > 0 {
			c.Bars = append(c.Bars, bar{X: x(float64(i)) + 1, Y: y(float64(n)), W: slot - 2, H: y(0) - y(float64(n)), Title: fmt.Sprintf("%02d:00–%02d:00 UTC: %d call(s)", i, i+1, n)})
		}
		if float64(i) >= nowH {
			break
		}
		cum += n
		end := min(float64(i+1), nowH)
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(end), y(float64(cum))))
	}
	c.Spend = strings.Join(pts, " ")
	if !c.Unlimited {
		c.BudgetY = y(float64(s.PerDay))
		c.Over = c.Projected > s.PerDay
	}
	c.PX1, c.PY1 = x(min(nowH, 24)), y(float64(spent))
	c.PX2, c.PY2 = x(24), y(float64(c.Projected))
	for _, h := range []int{0, 6, 12, 18, 24} {
		c.Ticks = append(c.Ticks, tick{X: x(float64(h)), Y: chartH - 6, Label: fmt.Sprintf("%02d:00", h)})
	}
	for _, v := range []int{0, top / 2, top} {
		c.Ticks = append(c.Ticks, tick{X: padL - 4, Y: y(float64(v)) + 4, Label: fmt.Sprint(v)})
	}
	return c
}

// niceCeil rounds n up to 1, 2 or 5 times a power of ten.
func niceCeil(n int) int {
	p := 1
	for {
		for _, m := range []int{1, 2, 5} {
			if m*p >= n {
				return m * p
			}
		}
		p *= 10
	}
}
