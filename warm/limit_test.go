package warm

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// gate is an origin that holds each request until limit are in flight (or
// every expected request has arrived), so that a Limiter letting more
// through would show more at once, and records the most seen.
type gate struct {
	mu                      sync.Mutex
	cond                    *sync.Cond
	limit, expect           int
	inFlight, most, arrived int
}

func newGate(limit, expect int) *gate {
	g := &gate{limit: limit, expect: expect}
	g.cond = sync.NewCond(&g.mu)
	return g
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	g.inFlight++
	g.arrived++
	g.most = max(g.most, g.inFlight)
	g.cond.Broadcast()
	for g.inFlight < g.limit && g.arrived < g.expect {
		g.cond.Wait()
	}
	g.inFlight--
	g.mu.Unlock()
	fmt.Fprint(w, "ok")
}

func TestLimiterBoundsEveryBatchTogether(t *testing.T) {
	const bound, batches, pages = 3, 4, 5
	g := newGate(bound, batches*pages)
	srv := httptest.NewServer(g)
	defer srv.Close()
	lim := NewLimiter(LimitOptions{Total: bound})
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := 0
	for b := range batches {
		// One Warmer per batch, as warm jobs run: they share the Limiter.
		w := New(Options{Limiter: lim, Client: srv.Client()})
		var urls []string
		for i := range pages {
			urls = append(urls, fmt.Sprintf("%s/b%d/p%d", srv.URL, b, i))
		}
		wg.Go(func() {
			if err := w.Fetch(context.Background(), urls, func(o Outcome) {
				mu.Lock()
				defer mu.Unlock()
				if o.OK() {
					got++
				}
			}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got != batches*pages {
		t.Errorf("%d pages fetched, want %d", got, batches*pages)
	}
	if g.most != bound {
		t.Errorf("the origin saw %d requests at once; the bound is %d", g.most, bound)
	}
}

func TestLimiterBoundsEachOrigin(t *testing.T) {
	lim := NewLimiter(LimitOptions{Total: 3, PerOrigin: 1})
	ctx := context.Background()
	if _, err := lim.Acquire(ctx, "a:80", TierRest); err != nil {
		t.Fatal(err)
	}
	granted := make(chan string, 2)
	for _, h := range []string{"a:80", "b:80"} {
		go func() {
			if _, err := lim.Acquire(ctx, h, TierRest); err == nil {
				granted <- h
			}
		}()
	}
	// b is free although a, asked for first, is at its bound.
	if h := <-granted; h != "b:80" {
		t.Fatalf("granted %s first", h)
	}
	lim.Release("a:80")
	if h := <-granted; h != "a:80" {
		t.Fatalf("granted %s", h)
	}
}

func TestLimiterGrantsTheMostImportantFirst(t *testing.T) {
	lim := NewLimiter(LimitOptions{Total: 1})
	ctx := context.Background()
	if _, err := lim.Acquire(ctx, "a:80", TierTop); err != nil {
		t.Fatal(err)
	}
	order := make(chan int, 3)
	for i, tier := range []int{TierRest, TierList, TierTop} {
		go func() {
			if _, err := lim.Acquire(ctx, "a:80", tier); err == nil {
				order <- tier
				lim.Release("a:80")
			}
		}()
		for lim.waiting() != i+1 {
			time.Sleep(time.Millisecond) // until this one waits
		}
	}
	lim.Release("a:80")
	var got []int
	for range 3 {
		got = append(got, <-order)
	}
	if !slices.Equal(got, []int{TierTop, TierList, TierRest}) {
		t.Errorf("granted tiers %v, want top, list, rest", got)
	}
}

func TestLimiterAcquireEndsWithContext(t *testing.T) {
	lim := NewLimiter(LimitOptions{Total: 1})
	if _, err := lim.Acquire(context.Background(), "a:80", TierTop); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := lim.Acquire(ctx, "a:80", TierTop); err == nil {
		t.Fatal("acquired past the bound")
	}
	lim.Release("a:80")
	// The abandoned wait holds no slot.
	if _, err := lim.Acquire(context.Background(), "a:80", TierTop); err != nil {
		t.Fatal(err)
	}
}

func TestFetchOrdersPagesAndFetchesVariants(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, r.URL.Path+" "+r.Header.Get("Accept-Language")+" "+r.Header.Get("User-Agent")+" "+r.Header.Get("X-Warmup"))
	}))
	defer srv.Close()
	w := New(Options{Concurrency: 1, Client: srv.Client(), Header: map[string]string{"X-Warmup": "true", "User-Agent": "purgehook"},
		Variants: []Variant{{Name: "de", Header: map[string]string{"Accept-Language": "de"}}, {Name: "mobile", Header: map[string]string{"User-Agent": "Mobile"}}}})
	var variants []string
	err := w.FetchPages(context.Background(), nil, []Page{{URL: srv.URL + "/", Tier: TierTop}, {URL: srv.URL + "/news", Tier: TierList}}, func(o Outcome) {
		variants = append(variants, o.Variant)
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"/  purgehook true", "/ de purgehook true", "/  Mobile true",
		"/news  purgehook true", "/news de purgehook true", "/news  Mobile true",
	}
	if !slices.Equal(seen, want) {
		t.Errorf("requests\n%q\nwant\n%q", seen, want)
	}
	if !slices.Equal(variants, []string{"", "de", "mobile", "", "de", "mobile"}) {
		t.Errorf("outcomes' variants %q", variants)
	}
}

func TestFetchPagesStopsStartingPages(t *testing.T) {
	stop := make(chan struct{})
	calls := 0
	w := New(Options{Concurrency: 1, Client: &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		calls++
		if calls == 2 {
			close(stop)
		}
		return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
	})}})
	var got []string
	err := w.FetchPages(context.Background(), stop, []Page{{URL: "http://a.example/1"}, {URL: "http://a.example/2"}, {URL: "http://a.example/3"}}, func(o Outcome) { got = append(got, o.URL) })
	if err != nil || len(got) != 2 || calls != 2 {
		t.Errorf("err %v, outcomes %v after %d calls; want the two started", err, got, calls)
	}
}

// fakeOrigin is an origin whose answers turn slow or failing and back.
type fakeOrigin struct {
	mu     sync.Mutex
	delay  time.Duration
	status int
	most   int
	now    int
}

func (o *fakeOrigin) set(delay time.Duration, status int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.delay, o.status, o.most = delay, status, 0
}

func (o *fakeOrigin) RoundTrip(r *http.Request) (*http.Response, error) {
	o.mu.Lock()
	o.now++
	o.most = max(o.most, o.now)
	d, s := o.delay, o.status
	o.mu.Unlock()
	time.Sleep(d) // the bubble's clock: no real wait
	o.mu.Lock()
	o.now--
	o.mu.Unlock()
	return &http.Response{StatusCode: s, Body: http.NoBody}, nil
}

func TestBackoffWhenTheOriginStrugglesAndResume(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := &fakeOrigin{delay: 50 * time.Millisecond, status: 200}
		lim := NewLimiter(LimitOptions{Total: 8, Delay: 10 * time.Millisecond})
		w := New(Options{Limiter: lim, Client: &http.Client{Transport: o}})
		host := "www.example:80"
		fetch := func(n int) {
			t.Helper()
			var urls []string
			for i := range n {
				urls = append(urls, fmt.Sprintf("http://www.example/%d", i))
			}
			if err := w.Fetch(t.Context(), urls, func(Outcome) {}); err != nil {
				t.Fatal(err)
			}
		}
		fetch(40)
		if s := lim.State(host); s.Limit != 8 || s.Delay != 10*time.Millisecond || s.Struggling {
			t.Fatalf("healthy origin: %+v", s)
		}

		o.set(5*time.Second, 200) // slow
		fetch(40)
		s := lim.State(host)
		if !s.Struggling || s.Limit != 1 || s.Delay <= 10*time.Millisecond {
			t.Fatalf("slow origin: %+v; want the bound down to 1 and a longer delay", s)
		}

		o.set(50*time.Millisecond, 200) // recovered
		fetch(200)
		if s := lim.State(host); s.Struggling || s.Limit != 8 || s.Delay != 10*time.Millisecond {
			t.Fatalf("recovered origin: %+v; want the bound and delay restored", s)
		}
		if o.most != 8 {
			t.Errorf("recovered origin saw at most %d at once, want 8", o.most)
		}

		o.set(50*time.Millisecond, 503) // failing fast
		fetch(40)
		if s := lim.State(host); !s.Struggling || s.Limit != 1 || s.ErrorRate < 0.9 {
			t.Fatalf("failing origin: %+v", s)
		}
		o.set(50*time.Millisecond, 404) // a missing page is no trouble
		fetch(200)
		if s := lim.State(host); s.Struggling || s.Limit != 8 {
			t.Fatalf("origin answering 404: %+v", s)
		}
	})
}

// slots is a Shared of n slots per origin, as the store's leases are.
type slots struct {
	mu   sync.Mutex
	n    int
	held map[string]int
}

func (s *slots) Take(_ context.Context, origin string) (func(), bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held[origin] >= s.n {
		return nil, false, nil
	}
	s.held[origin]++
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.held[origin]--
	}, true, nil
}

func TestSharedSlotsBoundReplicasTogether(t *testing.T) {
	const shared, replicas, pages = 2, 3, 4
	g := newGate(shared, replicas*pages)
	srv := httptest.NewServer(g)
	defer srv.Close()
	sl := &slots{n: shared, held: map[string]int{}}
	var wg sync.WaitGroup
	for r := range replicas {
		// Each replica has its own Limiter, which alone would allow 3.
		lim := NewLimiter(LimitOptions{Total: 3, Shared: sl, SharedRetry: time.Millisecond})
		w := New(Options{Limiter: lim, Client: srv.Client()})
		var urls []string
		for i := range pages {
			urls = append(urls, fmt.Sprintf("%s/r%d/p%d", srv.URL, r, i))
		}
		wg.Go(func() {
			if err := w.Fetch(context.Background(), urls, func(o Outcome) {
				if !o.OK() {
					t.Errorf("%s: %v %d", o.URL, o.Err, o.Status)
				}
			}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if g.arrived != replicas*pages || g.most != shared {
		t.Errorf("%d requests, at most %d at once; want %d, at most %d", g.arrived, g.most, replicas*pages, shared)
	}
}
