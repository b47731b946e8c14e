package purger_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/purgehook/purgehook/purger"
)

func TestFromResponse(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	const secret = "s3cr3t-token"
	tests := []struct {
		name      string
		status    int
		header    http.Header
		msg       string
		ok        bool
		wantClass purger.Class
		wantAfter time.Duration
		wantMsg   []string // each must be in Msg
	}{
		{name: "200", status: 200, ok: true},
		{name: "204", status: 204, ok: true},
		{name: "301 is not followed", status: 301, header: http.Header{"Location": {"https://u:p@elsewhere.example/login?key=" + secret + "#x"}}, msg: "POST /purge",
			wantClass: purger.Permanent, wantMsg: []string{"POST /purge: redirected to https://elsewhere.example/login (redirects are not followed)"}},
		{name: "302 without Location", status: 302, wantClass: purger.Permanent, wantMsg: []string{"(redirects are not followed)"}},
		{name: "400 with the provider's message", status: 400, msg: "item 3 is not a URL", wantClass: purger.Permanent, wantMsg: []string{"item 3 is not a URL"}},
		{name: "401", status: 401, msg: "bad token " + secret, wantClass: purger.Permanent, wantMsg: []string{"bad token [redacted]"}},
		{name: "403", status: 403, msg: "forbidden", wantClass: purger.Permanent, wantMsg: []string{"forbidden"}},
		{name: "404", status: 404, msg: "no such zone", wantClass: purger.Permanent, wantMsg: []string{"no such zone"}},
		{name: "408", status: 408, msg: "request timeout", wantClass: purger.Retry, wantMsg: []string{"request timeout"}},
		{name: "413", status: 413, msg: "too many paths", wantClass: purger.TooLarge, wantMsg: []string{"too many paths"}},
		{name: "429 with seconds", status: 429, header: http.Header{"Retry-After": {"12"}}, msg: "slow down", wantClass: purger.Snooze, wantAfter: 12 * time.Second, wantMsg: []string{"slow down"}},
		{name: "429 with an HTTP date", status: 429, header: http.Header{"Retry-After": {now.Add(90 * time.Second).Format(http.TimeFormat)}}, wantClass: purger.Snooze, wantAfter: 90 * time.Second},
		{name: "429 with a past date", status: 429, header: http.Header{"Retry-After": {now.Add(-time.Minute).Format(http.TimeFormat)}}, wantClass: purger.Snooze, wantAfter: purger.DefaultRetryAfter},
		{name: "429 without Retry-After", status: 429, wantClass: purger.Snooze, wantAfter: purger.DefaultRetryAfter},
		{name: "429 with garbage", status: 429, header: http.Header{"Retry-After": {"soon"}}, wantClass: purger.Snooze, wantAfter: purger.DefaultRetryAfter},
		{name: "500", status: 500, msg: "oops", wantClass: purger.Retry, wantMsg: []string{"oops"}},
		{name: "502", status: 502, wantClass: purger.Retry},
		{name: "503 ignores Retry-After", status: 503, header: http.Header{"Retry-After": {"5"}}, wantClass: purger.Retry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp := &http.Response{StatusCode: tt.status, Header: tt.header}
			err := purger.FromResponse("p[x]", resp, tt.msg, now, secret)
			if tt.ok {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			var pe *purger.Error
			if !errors.As(err, &pe) {
				t.Fatalf("got %v (%T), want a *purger.Error", err, err)
			}
			if pe.Provider != "p[x]" || pe.Class != tt.wantClass || pe.Status != tt.status || pe.After != tt.wantAfter {
				t.Errorf("got provider %q class %s status %d after %s; want p[x] %s %d %s: %v",
					pe.Provider, pe.Class, pe.Status, pe.After, tt.wantClass, tt.status, tt.wantAfter, err)
			}
			for _, m := range tt.wantMsg {
				if !strings.Contains(pe.Msg, m) {
					t.Errorf("Msg %q does not contain %q", pe.Msg, m)
				}
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "u:p@") {
				t.Errorf("a secret in %q", err)
			}
			if c, after := purger.Classify(err); c != tt.wantClass || after != tt.wantAfter {
				t.Errorf("Classify = %s %s, want %s %s", c, after, tt.wantClass, tt.wantAfter)
			}
		})
	}
}

// TestFromStatus covers what FromResponse does not pass on: the wait an
// adapter read from its provider's own headers.
func TestFromStatus(t *testing.T) {
	t.Parallel()
	if err := purger.FromStatus("p", 200, time.Minute, ""); err != nil {
		t.Errorf("200: %v", err)
	}
	if c, after := purger.Classify(purger.FromStatus("p", 429, 7*time.Second, "")); c != purger.Snooze || after != 7*time.Second {
		t.Errorf("429 after 7s: %s %s", c, after)
	}
	if c, after := purger.Classify(purger.FromStatus("p", 503, 7*time.Second, "")); c != purger.Retry || after != 0 {
		t.Errorf("503 with a wait: %s %s, want retry without one", c, after)
	}
	if got := purger.FromStatus("p[x]", 429, 12*time.Second, "busy").Error(); got != "p[x]: 429 busy, retry after 12s" {
		t.Errorf("Error() = %q", got)
	}
}
