package warm

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestFetchBoundsConcurrencyAndPaces(t *testing.T) {
	var inFlight, most, warmups atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		if r.Header.Get("X-Warmup") == "true" {
			warmups.Add(1)
		}
		time.Sleep(5 * time.Millisecond) // let a round's requests overlap
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, "ok")
	}))
	defer srv.Close()

	var sleeps []time.Duration
	var mu sync.Mutex
	w := New(Options{Concurrency: 3, Delay: 200 * time.Millisecond, Header: map[string]string{"X-Warmup": "true"}, Client: srv.Client(),
		Sleep: func(ctx context.Context, d time.Duration) error {
			mu.Lock()
			defer mu.Unlock()
			sleeps = append(sleeps, d)
			return nil
		}})
	var urls []string
	for i := range 10 {
		urls = append(urls, fmt.Sprintf("%s/p/%d", srv.URL, i))
	}
	urls = append(urls, srv.URL+"/missing")
	got := map[string]Outcome{}
	if err := w.Fetch(context.Background(), urls, func(o Outcome) { got[o.URL] = o }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 11 || warmups.Load() != 11 {
		t.Fatalf("%d outcomes, %d with the header", len(got), warmups.Load())
	}
	if most.Load() > 3 {
		t.Errorf("%d requests at once, limit 3", most.Load())
	}
	// A pause after each request before its slot is used again.
	if len(sleeps) != 11 || sleeps[0] != 200*time.Millisecond {
		t.Errorf("pauses %v", sleeps)
	}
	if o := got[srv.URL+"/missing"]; o.OK() || o.Status != 404 {
		t.Errorf("missing page: %+v", o)
	}
	if o := got[srv.URL+"/p/0"]; !o.OK() {
		t.Errorf("page: %+v", o)
	}
}

func TestFetchStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	w := New(Options{Concurrency: 1, Sleep: func(ctx context.Context, d time.Duration) error {
		cancel()
		return ctx.Err()
	}, Client: &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		calls++
		return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
	})}})
	err := w.Fetch(ctx, []string{"http://a.example/1", "http://a.example/2", "http://a.example/3"}, func(Outcome) {})
	if err == nil || calls != 1 {
		t.Errorf("err %v after %d calls; want cancellation after the first round", err, calls)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
