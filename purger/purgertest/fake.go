package purgertest

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Serve starts h on a loopback port until t ends and returns its base URL:
// the NewServer of a fake that is its own http.Handler.
func Serve(t testing.TB, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// Tally is the bookkeeping half of the Fake interface, which every fake
// would otherwise write again: it counts requests, remembers the most items
// one request carried, and holds the failure to inject into the next
// request. Embed it in a fake to get Requests, MaxItems and FailNext; the
// fake's handler calls Begin first thing for every request (refused ones
// too) and Saw once it knows how many items the request carried. The zero
// value is ready to use; it is safe for concurrent use and takes no lock of
// the fake's, so a handler may call it with its own lock held.
type Tally struct {
	// Queue makes FailNext queue failures, so that several calls fail the
	// next several requests in order. Without it, the last FailNext before
	// a request is the one that request gets. Set it before the fake
	// serves.
	Queue bool

	mu       sync.Mutex
	requests int
	maxItems int
	fail     []Failure
}

// Requests is how many requests Begin counted.
func (t *Tally) Requests() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.requests
}

// MaxItems is the most items Saw was told one request carried.
func (t *Tally) MaxItems() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.maxItems
}

// FailNext makes the next request fail with f: Begin returns it once.
func (t *Tally) FailNext(f Failure) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.Queue {
		t.fail = append(t.fail, f)
		return
	}
	t.fail = append(t.fail[:0], f)
}

// Begin counts one request and returns the failure the fake must produce
// for it, 0 for none; a returned failure is used up.
func (t *Tally) Begin() Failure {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.requests++
	var f Failure
	if len(t.fail) > 0 {
		f, t.fail = t.fail[0], t.fail[1:]
	}
	return f
}

// Saw records that one request carried n items.
func (t *Tally) Saw(n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.maxItems = max(t.maxItems, n)
}

// Bucket is a token bucket for fakes of rate-limited APIs: it holds up to
// Capacity tokens, gains Rate tokens a second, and is full the first time
// it is used. It reads no clock of its own: every method takes the time, so
// that the fake passes a reading of its injectable clock (see Clock) and
// tests never wait for real time. It is not safe for concurrent use; the
// fake's lock guards it.
type Bucket struct {
	// Capacity is the most tokens the bucket holds (the burst).
	Capacity float64
	// Rate is how many tokens it gains a second.
	Rate float64

	tokens  float64
	last    time.Time
	started bool
}

// Refill adds the tokens gained since the last call (filling the bucket on
// the first) and returns how many it holds at now.
func (b *Bucket) Refill(now time.Time) float64 {
	if !b.started {
		b.tokens, b.last, b.started = b.Capacity, now, true
	}
	if now.After(b.last) {
		b.tokens = min(b.Capacity, b.tokens+now.Sub(b.last).Seconds()*b.Rate)
		b.last = now
	}
	return b.tokens
}

// Spend takes n tokens. The caller has checked with Refill that there are
// enough; Spend does not.
func (b *Bucket) Spend(n float64) {
	b.tokens -= n
}

// Take spends one token at now, or reports how long until there is one.
func (b *Bucket) Take(now time.Time) (time.Duration, bool) {
	if b.Refill(now) >= 1 {
		b.Spend(1)
		return 0, true
	}
	return time.Duration((1 - b.tokens) / b.Rate * float64(time.Second)), false
}

// Clock is a manual clock for the injectable Now of fakes and purgers: time
// moves only when the test moves it. It is safe for concurrent use.
type Clock struct {
	// Tick, when set, advances the clock by that much after every reading,
	// so that a poll loop without timers sees time pass. Set it before the
	// clock is shared.
	Tick time.Duration

	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock that reads start.
func NewClock(start time.Time) *Clock {
	return &Clock{now: start}
}

// Now is the clock's time; with Tick set, the next reading is Tick later.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.now
	c.now = c.now.Add(c.Tick)
	return t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
