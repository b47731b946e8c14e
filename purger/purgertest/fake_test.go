package purgertest_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/purgehook/purgehook/purger/purgertest"
)

func TestTally(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		queue bool
		fail  []purgertest.Failure // FailNext calls before the first request
		want  []purgertest.Failure // what Begin returns for four requests
	}{
		{"none", false, nil, []purgertest.Failure{0, 0, 0, 0}},
		{"one", false, []purgertest.Failure{purgertest.ServerError}, []purgertest.Failure{purgertest.ServerError, 0, 0, 0}},
		{"last wins", false, []purgertest.Failure{purgertest.RateLimited, purgertest.ClientError}, []purgertest.Failure{purgertest.ClientError, 0, 0, 0}},
		{"cleared by zero", false, []purgertest.Failure{purgertest.RateLimited, 0}, []purgertest.Failure{0, 0, 0, 0}},
		{"queue one", true, []purgertest.Failure{purgertest.Stall}, []purgertest.Failure{purgertest.Stall, 0, 0, 0}},
		{"queue in order", true, []purgertest.Failure{purgertest.RateLimited, purgertest.ServerError, purgertest.ClientError}, []purgertest.Failure{purgertest.RateLimited, purgertest.ServerError, purgertest.ClientError, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tl := &purgertest.Tally{Queue: tt.queue}
			for _, f := range tt.fail {
				tl.FailNext(f)
			}
			for i, want := range tt.want {
				if got := tl.Begin(); got != want {
					t.Errorf("request %d: Begin() = %v, want %v", i+1, got, want)
				}
				if got := tl.Requests(); got != i+1 {
					t.Errorf("after %d requests Requests() = %d", i+1, got)
				}
			}
		})
	}
}

func TestTallyMaxItems(t *testing.T) {
	t.Parallel()
	var tl purgertest.Tally
	if got := tl.MaxItems(); got != 0 {
		t.Fatalf("a fresh Tally's MaxItems() = %d, want 0", got)
	}
	for _, n := range []int{3, 0, 7, 5} {
		tl.Saw(n)
	}
	if got := tl.MaxItems(); got != 7 {
		t.Errorf("MaxItems() = %d, want 7", got)
	}
	if got := tl.Requests(); got != 0 {
		t.Errorf("Saw counted requests: Requests() = %d, want 0", got)
	}
}

// TestTallyConcurrent is for the race detector: fakes call a Tally from
// server goroutines while the suite reads it.
func TestTallyConcurrent(t *testing.T) {
	t.Parallel()
	var tl purgertest.Tally
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			tl.FailNext(purgertest.ServerError)
			tl.Begin()
			tl.Saw(i)
			_, _ = tl.Requests(), tl.MaxItems()
		})
	}
	wg.Wait()
	if got := tl.Requests(); got != 8 {
		t.Errorf("Requests() = %d, want 8", got)
	}
	if got := tl.MaxItems(); got != 7 {
		t.Errorf("MaxItems() = %d, want 7", got)
	}
}

func TestBucket(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := &purgertest.Bucket{Capacity: 3, Rate: 2}
	// Full at first use: three takes at once, then the fourth waits for
	// half a second (one token at two a second).
	for i := range 3 {
		if wait, ok := b.Take(t0); !ok || wait != 0 {
			t.Fatalf("take %d of a full bucket: (%s, %v), want (0, true)", i+1, wait, ok)
		}
	}
	if wait, ok := b.Take(t0); ok || wait != 500*time.Millisecond {
		t.Fatalf("take from an empty bucket: (%s, %v), want (500ms, false)", wait, ok)
	}
	// A quarter second gives half a token: still not enough, a quarter
	// second to go.
	if wait, ok := b.Take(t0.Add(250 * time.Millisecond)); ok || wait != 250*time.Millisecond {
		t.Fatalf("take after 250ms: (%s, %v), want (250ms, false)", wait, ok)
	}
	if wait, ok := b.Take(t0.Add(500 * time.Millisecond)); !ok || wait != 0 {
		t.Fatalf("take after 500ms: (%s, %v), want (0, true)", wait, ok)
	}
	// A long pause refills only up to Capacity.
	if got := b.Refill(t0.Add(time.Hour)); got != 3 {
		t.Errorf("Refill after an hour = %v, want the capacity 3", got)
	}
	// Time running backwards adds nothing.
	b.Spend(2)
	if got := b.Refill(t0); got != 1 {
		t.Errorf("Refill at an earlier time = %v, want 1", got)
	}
	// Spend may take several at once, as an object bucket does.
	b.Spend(1)
	if got := b.Refill(t0.Add(time.Hour)); got != 0 {
		t.Errorf("Refill at the same time after spending all = %v, want 0", got)
	}
}

func TestClock(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	c := purgertest.NewClock(t0)
	if got := c.Now(); !got.Equal(t0) {
		t.Errorf("Now() = %s, want %s", got, t0)
	}
	if got := c.Now(); !got.Equal(t0) {
		t.Errorf("Now() moved without Tick: %s", got)
	}
	c.Advance(90 * time.Second)
	if got := c.Now(); !got.Equal(t0.Add(90 * time.Second)) {
		t.Errorf("after Advance(90s) Now() = %s", got)
	}

	tc := purgertest.NewClock(t0)
	tc.Tick = time.Second
	for i := range 3 {
		if got, want := tc.Now(), t0.Add(time.Duration(i)*time.Second); !got.Equal(want) {
			t.Errorf("reading %d with Tick 1s = %s, want %s", i+1, got, want)
		}
	}
}

func TestServe(t *testing.T) {
	t.Parallel()
	var got string
	url := purgertest.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.URL.Path }))
	resp, err := http.Get(url + "/ping")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got != "/ping" {
		t.Errorf("the handler saw %q, want /ping", got)
	}
}
