// Package purger is the seam every cache adapter sits behind: Cloudflare,
// CloudFront, Fastly, Akamai, Bunny, Varnish, nginx, app instances. An
// adapter makes one call and says what happened; it never retries itself.
// Retrying, snoozing on rate limits and giving up are the queue's job, driven
// by the classification in Error.
package purger

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/purgehook/purgehook/change"
)

// Purger makes one provider call.
type Purger interface {
	// Name is the provider's configured name.
	Name() string
	// Limits declares what the provider can do and how much per call.
	Limits() change.Limits
	// Purge makes the call. A nil error means the provider accepted it; if
	// the provider completes asynchronously, Result.Pending is true and the
	// queue polls Completer until it reports completion.
	Purge(ctx context.Context, call change.Call) (Result, error)
}

// Result is what a successful call returned.
type Result struct {
	// Ref identifies the call at the provider (a purge or invalidation id).
	Ref string
	// Pending means the provider accepted the call but has not finished it.
	Pending bool
	// CheckAfter is how long to wait before asking for completion (or, for
	// providers that only estimate, before treating the call as complete).
	CheckAfter time.Duration
}

// Completer is implemented by asynchronous providers.
type Completer interface {
	// Completed reports whether the call identified by call.Ref has taken
	// effect; when it has not, after says when to ask again.
	Completed(ctx context.Context, call change.Call) (done bool, after time.Duration, err error)
}

// Class says what the queue should do with a failed call.
type Class int

const (
	// Retry: a transient failure (5xx, network); retry with backoff.
	Retry Class = iota
	// Snooze: rate limited; try again after Error.After without using up an
	// attempt.
	Snooze
	// Permanent: the provider refused the call (4xx); retrying cannot help.
	Permanent
	// TooLarge: the call carried more than the provider takes at once
	// (CloudFront's BatchTooLarge, a 413); the queue splits it in two and
	// retries the halves.
	TooLarge
)

func (c Class) String() string {
	switch c {
	case Retry:
		return "retry"
	case Snooze:
		return "rate_limited"
	case Permanent:
		return "permanent"
	case TooLarge:
		return "too_large"
	}
	return "unknown"
}

// Error is a classified provider failure. Msg is the provider's own error
// message where it sent one; adapters must never put credentials in it.
type Error struct {
	Provider string
	Class    Class
	Status   int
	After    time.Duration
	Msg      string
	Err      error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Provider)
	b.WriteString(": ")
	if e.Status != 0 {
		fmt.Fprintf(&b, "%d", e.Status)
	} else {
		b.WriteString(e.Class.String())
	}
	if e.Msg != "" {
		b.WriteString(" ")
		b.WriteString(e.Msg)
	}
	if e.Class == Snooze && e.After > 0 {
		fmt.Fprintf(&b, ", retry after %s", e.After)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Classify returns the class of err: an *Error's own class, Permanent for
// nil-safe programming errors wrapped as such, and Retry for everything
// else (network errors, timeouts), since a purge is safe to repeat.
func Classify(err error) (Class, time.Duration) {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Class, pe.After
	}
	return Retry, 0
}

// DefaultRetryAfter is used when a provider rate-limits without saying for
// how long.
const DefaultRetryAfter = 60 * time.Second

// FromStatus classifies an HTTP response: 429 → Snooze (after the given
// wait, or DefaultRetryAfter), 408 and 5xx → Retry, other 4xx → Permanent.
// It returns nil for 2xx and 3xx.
func FromStatus(provider string, status int, after time.Duration, msg string) error {
	switch {
	case status < 400:
		return nil
	case status == http.StatusTooManyRequests:
		if after <= 0 {
			after = DefaultRetryAfter
		}
		return &Error{Provider: provider, Class: Snooze, Status: status, After: after, Msg: msg}
	case status == http.StatusRequestTimeout || status >= 500:
		return &Error{Provider: provider, Class: Retry, Status: status, Msg: msg}
	default:
		return &Error{Provider: provider, Class: Permanent, Status: status, Msg: msg}
	}
}

// RetryAfter parses a Retry-After header value: delay-seconds or an HTTP
// date. It returns 0 when the header is absent or unreadable.
func RetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// Redact replaces every non-empty secret in s with "[redacted]". Adapters
// run provider messages and transport errors through it, because some
// transports echo request URLs or headers.
func Redact(s string, secrets ...string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}

// NoRedirects returns a copy of c (http.DefaultClient when nil) that does
// not follow redirects. A followed redirect turns a POST or a PURGE into a
// GET of some other page: the call would seem to succeed and purge nothing,
// so adapters see the 3xx instead and report it.
func NoRedirects(c *http.Client) *http.Client {
	if c == nil {
		c = http.DefaultClient
	}
	cp := *c
	cp.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cp
}

// Truncate shortens a provider's message to n bytes so that an HTML error
// page does not become a log line of several kilobytes.
func Truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
