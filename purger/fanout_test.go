package purger_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/purgehook/purgehook/purger"
)

func TestCombine(t *testing.T) {
	t.Parallel()
	const label = "varnish[edge]"
	answer := func(status int, after time.Duration, msg string) error {
		return purger.FromStatus(label, status, after, msg)
	}
	ok := func(server string) purger.ServerResult { return purger.ServerResult{Server: server} }
	fail := func(server string, err error) purger.ServerResult {
		return purger.ServerResult{Server: server, Err: err}
	}
	down := &purger.Error{Provider: label, Class: purger.Retry, Msg: "PURGE /a", Err: errors.New("connection refused")}

	tests := []struct {
		name       string
		results    []purger.ServerResult
		ok         bool
		wantClass  purger.Class
		wantStatus int
		wantAfter  time.Duration
		wantMsg    string   // the whole Msg, when set
		named      []string // failed servers the message must name
		unnamed    []string // servers it must not name
	}{
		{name: "no servers", ok: true},
		{name: "every server acknowledged", results: []purger.ServerResult{ok("a"), ok("b")}, ok: true},
		{
			name:      "one of two 5xx retries",
			results:   []purger.ServerResult{ok("a"), fail("b", answer(503, 0, "Backend fetch failed"))},
			wantClass: purger.Retry, wantStatus: 503,
			wantMsg: "1 of 2 servers failed: b: 503 Backend fetch failed",
		},
		{
			name:      "one of two refuses",
			results:   []purger.ServerResult{fail("a", answer(405, 0, "Purging not allowed")), ok("b")},
			wantClass: purger.Permanent, wantStatus: 405,
			wantMsg: "1 of 2 servers failed: a: 405 Purging not allowed",
		},
		{
			name:      "a refusal outranks a rate limit and a 5xx",
			results:   []purger.ServerResult{fail("http://a", answer(429, 20*time.Second, "")), fail("http://b", answer(503, 0, "")), fail("http://c", answer(403, 0, "denied")), ok("http://d")},
			wantClass: purger.Permanent, wantStatus: 403,
			named: []string{"http://a: 429", "http://b: 503", "http://c: 403 denied", "3 of 4 servers failed"}, unnamed: []string{"http://d"},
		},
		{
			name:      "a rate limit outranks a 413 and a 5xx, longest wait",
			results:   []purger.ServerResult{fail("a", answer(429, 5*time.Second, "")), fail("b", answer(413, 0, "")), fail("c", answer(429, 20*time.Second, "")), fail("d", down)},
			wantClass: purger.Snooze, wantStatus: 429, wantAfter: 20 * time.Second,
			named: []string{"a: 429", "b: 413", "c: 429", "d: PURGE /a: connection refused"},
		},
		{
			name:      "a 413 outranks a 5xx",
			results:   []purger.ServerResult{fail("a", answer(413, 0, "too many keys")), fail("b", answer(502, 0, ""))},
			wantClass: purger.TooLarge, wantStatus: 413,
		},
		{
			name:      "refusals with different statuses have none",
			results:   []purger.ServerResult{fail("a", answer(400, 0, "")), fail("b", answer(401, 0, "")), fail("c", answer(500, 0, ""))},
			wantClass: purger.Permanent, wantStatus: 0,
		},
		{
			name:      "an error Classify does not know retries",
			results:   []purger.ServerResult{ok("a"), fail("b", errors.New("eof"))},
			wantClass: purger.Retry,
			wantMsg:   "1 of 2 servers failed: b: eof",
		},
		{
			name:      "one server: no count",
			results:   []purger.ServerResult{fail("a", answer(503, 0, "down"))},
			wantClass: purger.Retry, wantStatus: 503,
			wantMsg: "a: 503 down",
		},
		{
			name: "several requests per server: the gravest failure speaks for it",
			results: []purger.ServerResult{
				fail("a", answer(502, 0, "https://x/1")), fail("a", answer(403, 0, "https://x/2")), fail("a", answer(403, 0, "https://x/3")), ok("a"),
				ok("b"), ok("b"), ok("b"), ok("b"),
			},
			wantClass: purger.Permanent, wantStatus: 403,
			wantMsg: "1 of 2 servers failed: a: 403 https://x/2 (and 2 more failed requests)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := purger.Combine(label, tt.results)
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
			if pe.Provider != label || pe.Class != tt.wantClass || pe.Status != tt.wantStatus || pe.After != tt.wantAfter {
				t.Errorf("got %s status %d after %s, want %s %d %s: %v", pe.Class, pe.Status, pe.After, tt.wantClass, tt.wantStatus, tt.wantAfter, err)
			}
			if tt.wantMsg != "" && pe.Msg != tt.wantMsg {
				t.Errorf("Msg = %q, want %q", pe.Msg, tt.wantMsg)
			}
			for _, s := range tt.named {
				if !strings.Contains(pe.Msg, s) {
					t.Errorf("Msg %q does not contain %q", pe.Msg, s)
				}
			}
			for _, s := range tt.unnamed {
				if strings.Contains(pe.Msg, s) {
					t.Errorf("Msg %q names %q", pe.Msg, s)
				}
			}
			if !strings.HasPrefix(err.Error(), label+": "+tt.wantClass.String()+" ") {
				t.Errorf("Error() = %q, want it to start with the provider and class", err)
			}
		})
	}
}

// TestCombineUnwraps: the call's error still says it was cancelled, and
// still finds each server's own error.
func TestCombineUnwraps(t *testing.T) {
	t.Parallel()
	cancelled := &purger.Error{Provider: "app[x]", Class: purger.Retry, Err: context.Canceled}
	refused := purger.FromStatus("app[x]", 401, 0, "authentication failed")
	err := purger.Combine("app[x]", []purger.ServerResult{
		{Server: "http://a", Err: fmt.Errorf("wrapped: %w", cancelled)},
		{Server: "http://b", Err: refused},
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("errors.Is(%v, context.Canceled) is false", err)
	}
	if !errors.Is(err, refused) {
		t.Errorf("errors.Is(%v, the refusal) is false", err)
	}
	if c, _ := purger.Classify(err); c != purger.Permanent {
		t.Errorf("class %s, want permanent", c)
	}
}
