// Package purgertest is the conformance suite every purgehook provider runs
// against its own fake, in the manner of libdnstest: one Run call checks that
// a purger keeps the promises the queue and the planner rely on.
//
// # Using it
//
// In your provider's tests, build a Harness and call Run:
//
//	func TestConformance(t *testing.T) {
//		purgertest.Run(t, purgertest.Harness{
//			New: func(t *testing.T, logger *slog.Logger) (purger.Purger, purgertest.Fake) {
//				fake := mytest.NewServer(t, mytest.Options{Token: "s3cret"}) // your fake
//				p := myprovider.New(myprovider.Options{Name: "conf", Logger: logger,
//					Config: myprovider.Config{APIURL: fake.URL, Token: "s3cret"}})
//				return p, fake
//			},
//			Secrets: []string{"s3cret"},
//		})
//	}
//
// New is called once per subtest, so every check starts from a fresh fake.
// The purger must log through the logger it is given: the suite reads it.
//
// A provider that sends every call to several servers (Varnish, nginx, app
// instances) also sets NewPair, which builds the purger over two servers,
// each behind its own fake:
//
//	NewPair: func(t *testing.T, logger *slog.Logger) purgertest.Pair {
//		a, b := newFake(t), newFake(t)
//		p := myprovider.New(myprovider.Options{Name: "conf", Servers: []string{a.URL, b.URL}, Logger: logger})
//		return purgertest.Pair{Purger: p, Fakes: [2]purgertest.Fake{a, b}, Servers: [2]string{a.URL, b.URL}}
//	},
//
// # What the fake must do (the Fake interface)
//
//   - Requests: count every request it received, accepted or refused.
//   - MaxItems: the largest number of items it saw in one request (URLs in a
//     body, tags in a header, …), refused requests included.
//   - Enforce the purger's declared per-call limits exactly: a request with
//     more items than Limits().PerCall[kind] is refused with the provider's
//     own "too many items" response. So configure the fake with the same
//     numbers the purger declares.
//   - FailNext(f): make only the next request fail with f; later requests
//     succeed again:
//   - RateLimited: the provider's own over-limit response (429 with
//     Retry-After, or whatever the provider sends); RetryAfter returns the
//     wait the purger must report in Error.After.
//   - ServerError: a 5xx.
//   - ClientError: the provider's own 4xx with an error message in its usual
//     envelope; ClientErrorMessage returns that message.
//   - Stall: hold the response until the client goes away (return when
//     r.Context() is done), so cancellation can be checked.
//   - Asynchronous providers (Limits().Async): the fake must report a call
//     complete after a few polls (at most MaxPolls), without timers.
//
// Embed a Tally in the fake for Requests, MaxItems and FailNext: its handler
// then calls Begin for every request and Saw with each request's item
// count. A fake of a rate-limited API keeps its buckets in Bucket values fed
// from an injectable clock; Clock is a manual one for tests.
//
// # What Run checks
//
//   - Name and Limits are sane: at least one kind; Async providers implement
//     purger.Completer.
//   - limits: for every supported kind but everything, a call with exactly
//     Limits().Max(kind) items (50 where the limit is 0, unlimited) succeeds
//     and the fake saw no request with more than that; a call with one item
//     more either fails as Permanent or TooLarge (refused by the purger or by
//     the fake, which is how the suite knows the fake enforces the limit), or
//     succeeds split into requests within the limit.
//   - an everything call (when supported) with no items succeeds.
//   - a call with zero items of a narrow kind makes no request.
//   - a kind the purger does not support fails as Permanent with no request.
//   - RateLimited → *purger.Error of Class Snooze, After = fake.RetryAfter();
//     ServerError → Class Retry; ClientError → Class Permanent whose Msg
//     (and Error()) contain the fake's message. Each failure reached the fake
//     exactly once: adapters never retry themselves (an SDK's own retries
//     must be switched off). The next call succeeds.
//   - a cancelled context: before the call, no request is made and the error
//     wraps context.Canceled; during a stalled request, Purge returns within
//     StallBound with an error wrapping context.Canceled or
//     context.DeadlineExceeded.
//   - asynchronous providers return Result{Pending: true, Ref: non-empty}
//     and Completer.Completed reports done within MaxPolls polls.
//   - one of two servers fails (with NewPair only): for each of the two
//     servers, and for ServerError, ClientError and RateLimited, the call
//     fails as purger.Combine's rule says one failed server makes it (Retry;
//     Permanent carrying the fake's message; Snooze for the fake's wait),
//     its message names the failed server and not the healthy one, the
//     failed server got exactly one request and the healthy one got the
//     purge all the same. The next call succeeds on both.
//   - no secret from Harness.Secrets appears in any error or log line.
package purgertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/purger"
)

// Failure is what a fake does instead of succeeding, once.
type Failure int

// The failures every fake must be able to produce on demand.
const (
	// RateLimited is the provider's own over-limit response.
	RateLimited Failure = iota + 1
	// ServerError is a 5xx.
	ServerError
	// ClientError is the provider's own 4xx with a message.
	ClientError
	// Stall holds the response until the client gives up.
	Stall
)

func (f Failure) String() string {
	switch f {
	case RateLimited:
		return "rate_limited"
	case ServerError:
		return "server_error"
	case ClientError:
		return "client_error"
	case Stall:
		return "stall"
	}
	return "unknown"
}

// Fake is the suite's control handle on a provider's fake. It must be safe
// for concurrent use: the fake's handlers run on server goroutines.
type Fake interface {
	// Requests is how many requests the fake received, refused ones too.
	Requests() int
	// MaxItems is the most items the fake saw in one request.
	MaxItems() int
	// FailNext makes the next request fail with f.
	FailNext(f Failure)
	// RetryAfter is the wait the fake announces with RateLimited, which the
	// purger must report as Error.After.
	RetryAfter() time.Duration
	// ClientErrorMessage is the message the fake puts in its ClientError
	// response.
	ClientErrorMessage() string
}

// Harness is what a provider gives the suite.
type Harness struct {
	// New builds the purger under test against a fresh fake. The purger must
	// log through logger.
	New func(t *testing.T, logger *slog.Logger) (purger.Purger, Fake)
	// Secrets are the credentials New configured (tokens, keys, the zone
	// id if it should stay private); none may appear in errors or logs.
	Secrets []string
	// Items returns n distinct valid items of kind k. Nil means the
	// defaults: URLs and prefixes under https://www.example.com/purgertest/,
	// tags purgertest-N, hosts hN.example.com.
	Items func(k change.TargetKind, n int) []string
	// NewPair, for a provider that sends every call to several servers,
	// builds the purger under test over two servers, each behind a fresh
	// fake, logging through logger. Nil skips the fan-out check.
	NewPair func(t *testing.T, logger *slog.Logger) Pair
}

// Pair is a purger that sends every call to two servers.
type Pair struct {
	Purger purger.Purger
	// Fakes are the two servers' fakes, in the purger's server order.
	Fakes [2]Fake
	// Servers are how the purger names the two servers in its errors
	// (usually their configured URLs).
	Servers [2]string
}

// MaxPolls bounds how often the suite asks an asynchronous provider whether
// a call completed.
const MaxPolls = 20

// StallBound is how long a purger may take to give up on a stalled request
// after its context ends. It is generous on purpose: it catches purgers that
// ignore the context, not slow machines.
const StallBound = 10 * time.Second

// unlimitedItems is the call size used for kinds declared without a limit.
const unlimitedItems = 50

// DefaultItems is the item generator used when Harness.Items is nil.
func DefaultItems(k change.TargetKind, n int) []string {
	items := make([]string, n)
	for i := range items {
		switch k {
		case change.URL:
			items[i] = fmt.Sprintf("https://www.example.com/purgertest/page-%d?v=%d", i, i)
		case change.Prefix:
			items[i] = fmt.Sprintf("https://www.example.com/purgertest/section-%d", i)
		case change.Tag:
			items[i] = fmt.Sprintf("purgertest-%d", i)
		case change.Host:
			items[i] = fmt.Sprintf("h%d.example.com", i)
		default:
			return nil
		}
	}
	return items
}

// env is one subtest's purger, fake and log.
type env struct {
	h    Harness
	p    purger.Purger
	fake Fake
	log  *syncBuffer
	errs []error
	seq  int
}

func newEnv(t *testing.T, h Harness) *env {
	t.Helper()
	buf := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p, fake := h.New(t, logger)
	if p == nil || fake == nil {
		t.Fatal("purgertest: Harness.New returned a nil purger or fake")
	}
	e := &env{h: h, p: p, fake: fake, log: buf}
	t.Cleanup(func() { e.checkSecrets(t) })
	return e
}

// newPairEnv is newEnv over Harness.NewPair; env.fake is the first
// server's.
func newPairEnv(t *testing.T, h Harness) (*env, Pair) {
	t.Helper()
	buf := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	pair := h.NewPair(t, logger)
	if pair.Purger == nil || pair.Fakes[0] == nil || pair.Fakes[1] == nil {
		t.Fatal("purgertest: Harness.NewPair returned a nil purger or fake")
	}
	if pair.Servers[0] == "" || pair.Servers[1] == "" || pair.Servers[0] == pair.Servers[1] {
		t.Fatalf("purgertest: Harness.NewPair returned servers %q, want two distinct names", pair.Servers)
	}
	e := &env{h: h, p: pair.Purger, fake: pair.Fakes[0], log: buf}
	t.Cleanup(func() { e.checkSecrets(t) })
	return e, pair
}

func (e *env) items(k change.TargetKind, n int) []string {
	if k == change.Everything {
		return nil
	}
	if e.h.Items != nil {
		return e.h.Items(k, n)
	}
	return DefaultItems(k, n)
}

// purge makes one call and remembers its error for the secrets check.
func (e *env) purge(ctx context.Context, k change.TargetKind, items []string) error {
	e.seq++
	call := change.Call{
		ID:       int64(e.seq),
		Batch:    1,
		Provider: e.p.Name(),
		Kind:     k,
		Items:    items,
		Key:      fmt.Sprintf("purgertest-%d-%d", time.Now().UnixNano(), e.seq),
	}
	res, err := e.p.Purge(ctx, call)
	if err == nil && res.Pending {
		err = e.complete(ctx, call, res)
	}
	if err != nil {
		e.errs = append(e.errs, err)
	}
	return err
}

// complete polls an asynchronous call until the fake reports it done.
func (e *env) complete(ctx context.Context, call change.Call, res purger.Result) error {
	c, ok := e.p.(purger.Completer)
	if !ok {
		return fmt.Errorf("purgertest: Purge returned Pending but %T does not implement purger.Completer", e.p)
	}
	if res.Ref == "" {
		return errors.New("purgertest: Purge returned Pending with an empty Ref")
	}
	call.Ref = res.Ref
	for range MaxPolls {
		done, after, err := c.Completed(ctx, call)
		if err != nil {
			return fmt.Errorf("purgertest: Completed: %w", err)
		}
		if done {
			return nil
		}
		if after <= 0 {
			return fmt.Errorf("purgertest: Completed reported not done without saying when to ask again")
		}
	}
	return fmt.Errorf("purgertest: call %s did not complete within %d polls", call.Ref, MaxPolls)
}

func (e *env) checkSecrets(t *testing.T) {
	t.Helper()
	logs := e.log.String()
	for _, s := range e.h.Secrets {
		if s == "" {
			continue
		}
		if strings.Contains(logs, s) {
			t.Errorf("a secret appears in the purger's log output:\n%s", purger.Redact(logs, s))
		}
		for _, err := range e.errs {
			if strings.Contains(err.Error(), s) {
				t.Errorf("a secret appears in an error: %s", purger.Redact(err.Error(), s))
			}
			var pe *purger.Error
			if errors.As(err, &pe) && strings.Contains(pe.Msg, s) {
				t.Errorf("a secret appears in Error.Msg: %s", purger.Redact(pe.Msg, s))
			}
		}
	}
}

// narrowKinds are the kinds whose calls carry items.
var narrowKinds = []change.TargetKind{change.URL, change.Tag, change.Prefix, change.Host}

// Run runs the conformance suite.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil {
		t.Fatal("purgertest: Harness.New is required")
	}

	t.Run("declaration", func(t *testing.T) {
		e := newEnv(t, h)
		if e.p.Name() == "" {
			t.Error("Name() is empty")
		}
		l := e.p.Limits()
		if len(l.Kinds) == 0 {
			t.Error("Limits().Kinds is empty")
		}
		for k, n := range l.PerCall {
			if n < 0 {
				t.Errorf("Limits().PerCall[%s] = %d, want ≥ 0", k, n)
			}
		}
		if _, ok := e.p.(purger.Completer); l.Async && !ok {
			t.Errorf("Limits().Async is true but %T does not implement purger.Completer", e.p)
		}
	})

	t.Run("limits", func(t *testing.T) {
		kinds := newEnv(t, h).p.Limits()
		for _, k := range narrowKinds {
			if !kinds.Supports(k) {
				continue
			}
			t.Run(string(k), func(t *testing.T) {
				e := newEnv(t, h)
				limit := e.p.Limits().Max(k)
				n := limit
				if n == 0 {
					n = unlimitedItems
				}
				items := e.items(k, n+1)
				if len(items) != n+1 {
					t.Fatalf("Harness.Items(%s, %d) returned %d items", k, n+1, len(items))
				}
				if err := e.purge(t.Context(), k, items[:n]); err != nil {
					t.Fatalf("a call of %d %s items (the declared limit is %d) failed: %v", n, k, limit, err)
				}
				if e.fake.Requests() == 0 {
					t.Fatalf("a call of %d %s items made no request", n, k)
				}
				if got := e.fake.MaxItems(); got > n {
					t.Errorf("the fake saw %d items in one request, more than the %d the call carried", got, n)
				}
				if limit == 0 {
					return
				}
				// One item more: the purger refuses it, the fake refuses it
				// (which shows the fake enforces the declared limit), or the
				// purger splits it into requests within the limit.
				err := e.purge(t.Context(), k, items)
				if err == nil {
					if got := e.fake.MaxItems(); got > limit {
						t.Errorf("a call of %d %s items succeeded as a request of %d: the fake does not enforce the declared limit %d", limit+1, k, got, limit)
					}
					return
				}
				if c, _ := purger.Classify(err); c != purger.Permanent && c != purger.TooLarge {
					t.Errorf("a call over the limit failed as %s, want permanent or too_large: %v", c, err)
				}
			})
		}
	})

	t.Run("everything", func(t *testing.T) {
		e := newEnv(t, h)
		if !e.p.Limits().Supports(change.Everything) {
			t.Skip("the provider does not support purge everything")
		}
		if err := e.purge(t.Context(), change.Everything, nil); err != nil {
			t.Fatalf("purge everything failed: %v", err)
		}
		if e.fake.Requests() == 0 {
			t.Error("purge everything made no request")
		}
	})

	t.Run("zero_items", func(t *testing.T) {
		e := newEnv(t, h)
		for _, k := range narrowKinds {
			if !e.p.Limits().Supports(k) {
				continue
			}
			if err := e.purge(t.Context(), k, nil); err != nil {
				t.Errorf("a call of zero %s items failed: %v", k, err)
			}
		}
		if n := e.fake.Requests(); n != 0 {
			t.Errorf("calls with zero items made %d requests, want 0", n)
		}
	})

	t.Run("unsupported_kind", func(t *testing.T) {
		e := newEnv(t, h)
		for _, k := range change.AllKinds {
			if e.p.Limits().Supports(k) {
				continue
			}
			items := DefaultItems(k, 1)
			err := e.purge(t.Context(), k, items)
			if err == nil {
				t.Errorf("a call of unsupported kind %s succeeded", k)
				continue
			}
			if c, _ := purger.Classify(err); c != purger.Permanent {
				t.Errorf("a call of unsupported kind %s failed as %s, want permanent: %v", k, c, err)
			}
		}
		if n := e.fake.Requests(); n != 0 {
			t.Errorf("calls of unsupported kinds made %d requests, want 0", n)
		}
	})

	t.Run("failures", func(t *testing.T) {
		for _, f := range []Failure{RateLimited, ServerError, ClientError} {
			t.Run(f.String(), func(t *testing.T) {
				e := newEnv(t, h)
				k := e.p.Limits().Kinds[0]
				items := e.items(k, 1)
				e.fake.FailNext(f)
				before := e.fake.Requests()
				err := e.purge(t.Context(), k, items)
				if got := e.fake.Requests() - before; got != 1 {
					t.Errorf("the failing call made %d requests, want exactly 1 (adapters never retry themselves)", got)
				}
				var pe *purger.Error
				if !errors.As(err, &pe) {
					t.Fatalf("got error %v (%T), want a *purger.Error", err, err)
				}
				if pe.Provider == "" {
					t.Errorf("Error.Provider is empty: %v", err)
				}
				switch f {
				case RateLimited:
					if pe.Class != purger.Snooze {
						t.Errorf("rate limited: class %s, want %s: %v", pe.Class, purger.Snooze, err)
					}
					if want := e.fake.RetryAfter(); pe.After != want {
						t.Errorf("rate limited: After = %s, want the provider's %s", pe.After, want)
					}
				case ServerError:
					if pe.Class != purger.Retry {
						t.Errorf("server error: class %s, want %s: %v", pe.Class, purger.Retry, err)
					}
				case ClientError:
					if pe.Class != purger.Permanent {
						t.Errorf("client error: class %s, want %s: %v", pe.Class, purger.Permanent, err)
					}
					msg := e.fake.ClientErrorMessage()
					if msg == "" {
						t.Fatal("Fake.ClientErrorMessage() is empty")
					}
					if !strings.Contains(pe.Msg, msg) {
						t.Errorf("client error: Msg %q does not carry the provider's message %q", pe.Msg, msg)
					}
					if !strings.Contains(err.Error(), msg) {
						t.Errorf("client error: %q does not carry the provider's message %q", err.Error(), msg)
					}
				}
				if err := e.purge(t.Context(), k, items); err != nil {
					t.Errorf("the call after the failure failed: %v", err)
				}
			})
		}
	})

	t.Run("one_of_two_fails", func(t *testing.T) {
		if h.NewPair == nil {
			t.Skip("the provider sends each call to one endpoint (Harness.NewPair is nil)")
		}
		for _, f := range []Failure{ServerError, ClientError, RateLimited} {
			for bad := range 2 {
				t.Run(fmt.Sprintf("%s/server_%d", f, bad), func(t *testing.T) {
					oneOfTwoFails(t, h, f, bad)
				})
			}
		}
	})

	t.Run("cancelled_before", func(t *testing.T) {
		e := newEnv(t, h)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		k := e.p.Limits().Kinds[0]
		err := e.purge(ctx, k, e.items(k, 1))
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Purge with a cancelled context: got %v, want an error wrapping context.Canceled", err)
		}
		if n := e.fake.Requests(); n != 0 {
			t.Errorf("Purge with a cancelled context made %d requests, want 0", n)
		}
	})

	t.Run("cancelled_during", func(t *testing.T) {
		e := newEnv(t, h)
		k := e.p.Limits().Kinds[0]
		items := e.items(k, 1)
		e.fake.FailNext(Stall)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		var done atomic.Bool
		errc := make(chan error, 1)
		go func() {
			_, err := e.p.Purge(ctx, change.Call{ID: 1, Batch: 1, Provider: e.p.Name(), Kind: k, Items: items, Key: "purgertest-stall"})
			done.Store(true)
			errc <- err
		}()
		// Cancel once the fake holds the request, so that cancellation
		// happens in flight rather than before the call.
		waitFor(t, func() bool { return e.fake.Requests() > 0 || done.Load() })
		cancel()
		select {
		case err := <-errc:
			e.errs = append(e.errs, err)
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Purge cancelled in flight: got %v, want an error wrapping context.Canceled", err)
			}
		case <-time.After(StallBound):
			t.Fatalf("Purge did not return within %s of its context being cancelled", StallBound)
		}
	})

	t.Run("async", func(t *testing.T) {
		e := newEnv(t, h)
		l := e.p.Limits()
		if !l.Async {
			t.Skip("the provider completes synchronously")
		}
		k := l.Kinds[0]
		e.seq++
		call := change.Call{ID: 1, Batch: 1, Provider: e.p.Name(), Kind: k, Items: e.items(k, 1), Key: fmt.Sprintf("purgertest-async-%d", time.Now().UnixNano())}
		res, err := e.p.Purge(t.Context(), call)
		if err != nil {
			e.errs = append(e.errs, err)
			t.Fatalf("Purge: %v", err)
		}
		if !res.Pending {
			t.Fatal("an asynchronous provider returned Pending = false")
		}
		if err := e.complete(t.Context(), call, res); err != nil {
			e.errs = append(e.errs, err)
			t.Fatal(err)
		}
	})
}

// oneOfTwoFails makes server bad of a pair fail with f and checks the
// call's outcome against purger.Combine's rule.
func oneOfTwoFails(t *testing.T, h Harness, f Failure, bad int) {
	e, pair := newPairEnv(t, h)
	good := 1 - bad
	k := e.p.Limits().Kinds[0]
	items := e.items(k, 1)
	pair.Fakes[bad].FailNext(f)
	err := e.purge(t.Context(), k, items)
	if got := pair.Fakes[bad].Requests(); got != 1 {
		t.Errorf("the failed server got %d requests, want exactly 1 (adapters never retry themselves)", got)
	}
	if pair.Fakes[good].Requests() == 0 {
		t.Error("the healthy server did not get the purge")
	}
	var pe *purger.Error
	if !errors.As(err, &pe) {
		t.Fatalf("got error %v (%T), want a *purger.Error", err, err)
	}
	// With the other server healthy, the failure alone decides the class.
	switch f {
	case ServerError:
		if pe.Class != purger.Retry {
			t.Errorf("class %s, want %s: %v", pe.Class, purger.Retry, err)
		}
	case ClientError:
		if pe.Class != purger.Permanent {
			t.Errorf("class %s, want %s: %v", pe.Class, purger.Permanent, err)
		}
		if msg := pair.Fakes[bad].ClientErrorMessage(); !strings.Contains(pe.Msg, msg) {
			t.Errorf("Msg %q does not carry the provider's message %q", pe.Msg, msg)
		}
	case RateLimited:
		if pe.Class != purger.Snooze {
			t.Errorf("class %s, want %s: %v", pe.Class, purger.Snooze, err)
		}
		if want := pair.Fakes[bad].RetryAfter(); pe.After != want {
			t.Errorf("After = %s, want the provider's %s", pe.After, want)
		}
	}
	if !strings.Contains(pe.Msg, pair.Servers[bad]) {
		t.Errorf("Msg %q does not name the failed server %s", pe.Msg, pair.Servers[bad])
	}
	if strings.Contains(pe.Msg, pair.Servers[good]+":") {
		t.Errorf("Msg %q names the healthy server %s as failed", pe.Msg, pair.Servers[good])
	}

	before := [2]int{pair.Fakes[0].Requests(), pair.Fakes[1].Requests()}
	if err := e.purge(t.Context(), k, items); err != nil {
		t.Fatalf("the call after the failure failed: %v", err)
	}
	for i, fake := range pair.Fakes {
		if fake.Requests() == before[i] {
			t.Errorf("the call after the failure made no request to server %d", i)
		}
	}
}

// waitFor polls cond until it holds; it gives up after StallBound. It is
// used only to learn that a fake received a request, which happens on
// another goroutine.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(StallBound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("the fake never received the request")
		}
		time.Sleep(time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
