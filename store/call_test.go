package store

import (
	"testing"
	"time"

	"github.com/purgehook/purgehook/change"
)

func TestCall(t *testing.T) {
	drivers(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		ctx := t.Context()
		now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
		s.SetClock(func() time.Time { return now })
		b, err := s.BatchInsert(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		call := change.Call{Batch: b, Provider: "cf", Layer: change.Layer(2), Kind: change.URL, Items: []string{"https://a.example/1", "https://a.example/2"}}
		c1, err := s.CallInsert(ctx, call, "", time.Time{})
		if err != nil || c1.ID == 0 || c1.Key == "" {
			t.Fatalf("insert: %+v %v", c1, err)
		}
		// Planned for the next budget window: deferred until then.
		c2, err := s.CallInsert(ctx, change.Call{Batch: b, Provider: "cf", Layer: change.Layer(2), Kind: change.Tag, Items: []string{"t"}, Key: "mine"}, "over budget", now.Add(time.Hour))
		if err != nil || c2.Key != "mine" {
			t.Fatalf("insert with key: %+v %v", c2, err)
		}
		c3, _ := s.CallInsert(ctx, change.Call{Batch: b, Provider: "edge", Layer: change.Layer(3), Kind: change.Everything}, "", time.Time{})
		if c1.Key == c3.Key {
			t.Errorf("two calls share key %s", c1.Key)
		}

		r, err := s.CallGet(ctx, c1.ID)
		if err != nil || r.State != CallPending || r.Provider != "cf" || r.Layer != 2 || r.Kind != change.URL || len(r.Items) != 2 ||
			r.Key != c1.Key || !r.CreatedAt.Equal(now) || !r.NotBefore.IsZero() || !r.DoneAt.IsZero() {
			t.Errorf("get %+v %v", r, err)
		}
		r2, _ := s.CallGet(ctx, c2.ID)
		if r2.State != CallDeferred || r2.Reason != "over budget" || !r2.NotBefore.Equal(now.Add(time.Hour)) {
			t.Errorf("deferred call %+v", r2)
		}
		if n, err := s.CallsOpen(ctx, b, change.Layer(2)); err != nil || n != 2 {
			t.Errorf("open in layer 2: %d %v", n, err)
		}

		// Every state round-trips; only settled ones have a done time.
		for _, st := range []CallState{CallWaiting, CallPending, CallDeferred, CallSkipped, CallSplit, CallFailed, CallDone} {
			now = now.Add(time.Second)
			if err := s.CallUpdate(ctx, CallUpdateParams{ID: c1.ID, State: st, Error: string(st) + " err"}); err != nil {
				t.Fatal(err)
			}
			r, _ := s.CallGet(ctx, c1.ID)
			if r.State != st || r.Error != string(st)+" err" || r.DoneAt.IsZero() != !st.Settled() {
				t.Errorf("state %s: got %+v", st, r)
			}
		}
		// An attempt counts; a ref is kept unless replaced.
		must(t, s.CallUpdate(ctx, CallUpdateParams{ID: c2.ID, State: CallWaiting, Ref: "ref-1", Attempted: true}))
		must(t, s.CallUpdate(ctx, CallUpdateParams{ID: c2.ID, State: CallWaiting, Attempted: true}))
		r2, _ = s.CallGet(ctx, c2.ID)
		if r2.Attempts != 2 || r2.Ref != "ref-1" {
			t.Errorf("attempts %d ref %q", r2.Attempts, r2.Ref)
		}
		if n, _ := s.CallsOpen(ctx, b, change.Layer(2)); n != 1 {
			t.Errorf("open in layer 2 after c1 done: %d", n)
		}

		cs, err := s.CallList(ctx, b, 10)
		if err != nil || len(cs) != 3 || cs[0].ID != c1.ID || cs[2].ID != c3.ID {
			t.Errorf("list of batch (oldest first) %+v %v", cs, err)
		}
		if cs, _ := s.CallList(ctx, 0, 2); len(cs) != 2 || cs[0].ID != c3.ID {
			t.Errorf("newest of all %+v", cs)
		}
	})
}

func TestCallNotFound(t *testing.T) {
	drivers(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		_, err := s.CallGet(t.Context(), 42)
		isNotFound(t, "get", err)
	})
}

func TestCallStateSettled(t *testing.T) {
	for st, want := range map[CallState]bool{CallPending: false, CallWaiting: false, CallDeferred: false, CallDone: true, CallFailed: true, CallSplit: true, CallSkipped: true} {
		if st.Settled() != want {
			t.Errorf("%s settled = %v", st, !want)
		}
	}
}
