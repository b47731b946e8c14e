// Package warm fetches purged pages again so that the first visitor after
// a publish gets a cached page: a bounded number of requests at a time, a
// pause between rounds so that an origin that was just purged everywhere is
// not stampeded, and a header (X-Warmup: true by default) so that analytics
// can leave these requests out.
package warm

import (
	"context"
	"io"
	"net/http"
	"sync"
	"time"
)

// Options configure a Warmer.
type Options struct {
	Concurrency int
	Delay       time.Duration
	Header      map[string]string
	Client      *http.Client
	// Sleep waits between rounds; tests replace it. nil: a timer that
	// honours ctx.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Outcome is one fetch.
type Outcome struct {
	URL      string
	Status   int
	Err      error
	Duration time.Duration
	// Cache is what the cache in front said of the answer: CacheHit,
	// CacheMiss, or "" when no header said (see CacheStatus).
	Cache string
}

// OK reports a 2xx or 3xx answer.
func (o Outcome) OK() bool { return o.Err == nil && o.Status >= 200 && o.Status < 400 }

// Warmer fetches URLs.
type Warmer struct{ o Options }

// New returns a Warmer with defaults for unset options.
func New(o Options) *Warmer {
	if o.Concurrency <= 0 {
		o.Concurrency = 5
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	return &Warmer{o: o}
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// PerRound is how many URLs are fetched at once.
func (w *Warmer) PerRound() int { return w.o.Concurrency }

// RoundTime bounds one round: the pause before it and the slowest
// request (the client's timeout; 30s when it has none).
func (w *Warmer) RoundTime() time.Duration {
	t := w.o.Client.Timeout
	if t <= 0 {
		t = 30 * time.Second
	}
	return w.o.Delay + t
}

// Fetch GETs every URL, Concurrency at a time with Delay between rounds,
// and calls record with each outcome as it arrives (from one goroutine at a
// time). It stops early, returning ctx's error, when ctx ends.
func (w *Warmer) Fetch(ctx context.Context, urls []string, record func(Outcome)) error {
	var mu sync.Mutex
	for start := 0; start < len(urls); start += w.o.Concurrency {
		if start > 0 {
			if err := w.o.Sleep(ctx, w.o.Delay); err != nil {
				return err
			}
		}
		end := min(start+w.o.Concurrency, len(urls))
		var wg sync.WaitGroup
		for _, u := range urls[start:end] {
			wg.Go(func() {
				o := w.one(ctx, u)
				mu.Lock()
				defer mu.Unlock()
				record(o)
			})
		}
		wg.Wait()
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

func (w *Warmer) one(ctx context.Context, u string) Outcome {
	start := time.Now()
	o := Outcome{URL: u}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		o.Err = err
		return o
	}
	for k, v := range w.o.Header {
		req.Header.Set(k, v)
	}
	resp, err := w.o.Client.Do(req)
	if err != nil {
		o.Err = err
		o.Duration = time.Since(start)
		return o
	}
	// Read the body: a cache stores an object only once it has it whole.
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	o.Status = resp.StatusCode
	o.Duration = time.Since(start)
	o.Cache = CacheStatus(resp.Header)
	return o
}
