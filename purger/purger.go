// Package purger is the seam every cache adapter sits behind: Cloudflare,
// CloudFront, Fastly, Akamai, Bunny, Varnish, nginx, app instances. An
// adapter makes one call and says what happened; it never retries itself.
// Retrying, snoozing on rate limits and giving up are the queue's job, driven
// by the classification in Error.
//
// # One classifier
//
// What an HTTP answer means is decided here, once, so that a 413 or a 429
// means the same thing whichever provider sent it. An adapter that has an
// *http.Response calls FromResponse; one whose SDK only hands it a status
// (or that reads its own rate-limit headers for the wait) calls FromStatus.
// Both apply the same rule:
//
//	2xx                 → nil
//	3xx                 → Permanent (redirects are never followed, see NoRedirects)
//	429                 → Snooze for Retry-After (DefaultRetryAfter if absent)
//	408, 5xx            → Retry
//	413                 → TooLarge (the queue splits the call)
//	other 4xx           → Permanent, with the provider's own message
//
// An adapter keeps only what is truly its provider's: finding the message in
// the provider's error envelope, an answer that means something else there
// (nginx's 404 for "not cached" is a success), SDK error codes without a
// status (CloudFront's BatchTooLarge, TooManyInvalidationsInProgress), and
// refusals it makes before any request (an unsupported kind, a call over its
// limit). For those it builds an *Error with the class the table above
// would give the same situation; failures with no answer at all (network,
// timeouts) are Retry.
//
// # One fan-out rule
//
// Varnish, nginx and app send every call to several servers. Each server's
// outcome is classified as above, and Combine folds them into the call's
// outcome by one rule; see Combine.
package purger

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
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
	// Permanent: the provider refused the call (4xx, or a redirect);
	// retrying cannot help.
	Permanent
	// TooLarge: the call carried more than the provider takes at once
	// (a 413, CloudFront's BatchTooLarge); the queue splits it in two and
	// retries the halves, and gives up on a call of one item.
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

	// servers are the failures Combine folded into this one, for Unwrap.
	servers []error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Provider)
	b.WriteString(": ")
	if e.Status != 0 && e.servers == nil {
		fmt.Fprintf(&b, "%d", e.Status)
	} else {
		// A combined failure's servers each say their own status.
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

// Unwrap returns Err and, for an error made by Combine, every server's
// failure, so that errors.Is finds a context error behind any of them.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return e.servers
	}
	return append([]error{e.Err}, e.servers...)
}

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

// FromStatus classifies an HTTP status by the table in the package doc.
// after is the wait of a 429 (DefaultRetryAfter when ≤ 0) and is ignored
// for any other status; msg is the provider's own message, already
// truncated and redacted. It returns nil for 2xx (and the 1xx a client
// never returns).
func FromStatus(provider string, status int, after time.Duration, msg string) error {
	e := &Error{Provider: provider, Status: status, Msg: msg}
	switch {
	case status < 300:
		return nil
	case status < 400:
		// The client did not follow it, so nothing was purged; a retry
		// would be redirected again.
		e.Class = Permanent
		e.Msg = strings.TrimSpace(msg + " (redirects are not followed)")
	case status == http.StatusTooManyRequests:
		if after <= 0 {
			after = DefaultRetryAfter
		}
		e.Class, e.After = Snooze, after
	case status == http.StatusRequestTimeout || status >= 500:
		e.Class = Retry
	case status == http.StatusRequestEntityTooLarge:
		e.Class = TooLarge
	default:
		e.Class = Permanent
	}
	return e
}

// FromResponse classifies resp with FromStatus, reading a 429's wait from
// Retry-After (against now) and adding a 3xx's Location, without its query
// string or user info, to the message. msg is the provider's own message
// for the answer (its error envelope's text, an error page's title), which
// the caller has redacted and then truncated (in that order: a cut could
// leave half a secret); secrets are redacted from the Location too. It
// does not read resp.Body.
func FromResponse(provider string, resp *http.Response, msg string, now time.Time, secrets ...string) error {
	var after time.Duration
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		after = RetryAfter(resp.Header.Get("Retry-After"), now)
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		if loc := location(resp.Header.Get("Location")); loc != "" {
			msg = strings.TrimLeft(msg+": redirected to "+loc, ": ")
		}
	}
	return FromStatus(provider, resp.StatusCode, after, Redact(msg, secrets...))
}

// location is a Location header without what may carry a credential: the
// query, the fragment and user info.
func location(v string) string {
	u, err := url.Parse(strings.TrimSpace(v))
	if err != nil {
		v, _, _ = strings.Cut(v, "?")
		return v
	}
	u.RawQuery, u.Fragment, u.RawFragment, u.User = "", "", "", nil
	return u.String()
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

// IsHTTPURL reports whether raw is an absolute http or https URL with a
// host: what every adapter's API URL, endpoint, server and instance must
// be.
func IsHTTPURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
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
