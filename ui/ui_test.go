package ui

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/purgehook/purgehook/admin"
	"github.com/purgehook/purgehook/budget"
	"github.com/purgehook/purgehook/config"
)

var (
	ops    = config.Token{Name: "ops", Secret: "ops-secret", Scopes: []string{"admin"}}
	reader = config.Token{Name: "viewer", Secret: "viewer-secret", Scopes: []string{"read"}}
)

func withCookie(v string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/ui/", nil)
	r.AddCookie(&http.Cookie{Name: cookieName, Value: v})
	return r
}

func TestSession(t *testing.T) {
	now := time.Date(2026, 12, 1, 20, 0, 0, 0, time.UTC)
	tokens := admin.Tokens{reader, ops}
	s := newSession(ops, now, time.Hour)
	v := s.value()
	if strings.Contains(v, ops.Secret) {
		t.Fatalf("the cookie carries the secret: %s", v)
	}
	got, ok := readSession(withCookie(v), tokens, now.Add(59*time.Minute))
	if !ok || got.Token != "ops" || got.CSRF() != s.CSRF() {
		t.Fatalf("read back: %+v %v", got, ok)
	}
	if !got.checkCSRF(s.CSRF()) || got.checkCSRF("") || got.checkCSRF(newSession(ops, now, time.Hour).CSRF()) {
		t.Error("CSRF: want the session's own token only")
	}

	refused := map[string]struct {
		value  string
		now    time.Time
		tokens admin.Tokens
	}{
		"expired":           {v, now.Add(time.Hour), tokens},
		"tampered name":     {strings.Replace(v, v[:strings.IndexByte(v, '.')], "dmlld2Vy", 1), now, tokens},
		"tampered expiry":   {strings.Replace(v, ".", ".9", 1), now, tokens},
		"tampered mac":      {v[:len(v)-2] + "00", now, tokens},
		"token removed":     {v, now, admin.Tokens{reader}},
		"secret rotated":    {v, now, admin.Tokens{{Name: "ops", Secret: "new-secret", Scopes: []string{"admin"}}}},
		"scope withdrawn":   {v, now, admin.Tokens{{Name: "ops", Secret: "ops-secret", Scopes: []string{"read"}}}},
		"garbage":           {"a.b.c", now, tokens},
		"signed by another": {newSession(reader, now, time.Hour).value(), now, tokens},
	}
	for name, c := range refused {
		if _, ok := readSession(withCookie(c.value), c.tokens, c.now); ok {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, ok := readSession(httptest.NewRequest(http.MethodGet, "/ui/", nil), tokens, now); ok {
		t.Error("no cookie: accepted")
	}
}

func TestSameOrigin(t *testing.T) {
	for origin, want := range map[string]bool{"": true, "http://example.com": true, "https://evil.example": false, "null": false} {
		r := httptest.NewRequest(http.MethodPost, "http://example.com/ui/purge", nil)
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		if got := sameOrigin(r); got != want {
			t.Errorf("Origin %q: %v, want %v", origin, got, want)
		}
	}
}

func TestDrawChart(t *testing.T) {
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	now := start.Add(6 * time.Hour)
	hours := map[time.Time]int{start.Add(time.Hour): 4, start.Add(5 * time.Hour): 6}
	c := drawChart(budget.Budget{PerDay: 30}.Status("cf", now, 10), hours, start, now)
	if len(c.Bars) != 2 || c.Projected != 40 || !c.Over || c.Unlimited {
		t.Fatalf("chart %+v", c)
	}
	// 10 spent by 06:00 is 40 by midnight: past the 30 budget line.
	if !(c.PY2 < c.BudgetY && c.BudgetY < c.PY1) {
		t.Errorf("projection from y=%.1f to y=%.1f should cross the budget at y=%.1f", c.PY1, c.PY2, c.BudgetY)
	}
	if c.Bars[1].H <= c.Bars[0].H {
		t.Errorf("6 calls drawn no taller than 4: %+v", c.Bars)
	}
	if len(strings.Fields(c.Spend)) != 7 {
		t.Errorf("spend line %q: want the origin and one point per hour up to now", c.Spend)
	}

	u := drawChart(budget.Budget{}.Status("app", now, 0), nil, start, now)
	if !u.Unlimited || u.BudgetY != 0 || u.Over || len(u.Bars) != 0 {
		t.Errorf("unlimited chart %+v", u)
	}
}

func TestNiceCeil(t *testing.T) {
	for in, want := range map[int]int{1: 1, 3: 5, 6: 10, 11: 20, 44: 50, 51: 100, 1001: 2000} {
		if got := niceCeil(in); got != want {
			t.Errorf("niceCeil(%d) = %d, want %d", in, got, want)
		}
	}
}
