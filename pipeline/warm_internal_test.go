package pipeline

import (
	"net/http"
	"testing"
	"time"

	"github.com/purgehook/purgehook/warm"
)

func TestWarmJobsFitInsideRescue(t *testing.T) {
	for _, tt := range []struct {
		timeout, delay, rescue time.Duration
		want                   int
	}{
		{10 * time.Second, 200 * time.Millisecond, 2 * time.Minute, 10},
		{30 * time.Second, 200 * time.Millisecond, 2 * time.Minute, 3},
		{time.Second, 0, 2 * time.Minute, 20},
		{5 * time.Minute, 0, 2 * time.Minute, 1},
	} {
		w := warm.New(warm.Options{Concurrency: 5, Delay: tt.delay, Client: &http.Client{Timeout: tt.timeout}})
		n := warmRounds(w, tt.rescue)
		if n != tt.want {
			t.Errorf("timeout %s delay %s rescue %s: %d rounds, want %d", tt.timeout, tt.delay, tt.rescue, n, tt.want)
		}
		ww := &warmWorker{p: &Pipeline{o: Options{Warmer: w, RescueAfter: tt.rescue}}}
		if n > 1 && ww.Timeout(nil) >= tt.rescue {
			t.Errorf("a warm job's timeout %s reaches rescue_after %s", ww.Timeout(nil), tt.rescue)
		}
		if ww.chunk() != n*5 {
			t.Errorf("chunk %d", ww.chunk())
		}
	}
}
