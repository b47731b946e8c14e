package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/config"
	"github.com/purgehook/purgehook/internal/pgtest"
	"github.com/purgehook/purgehook/resolve"
	"github.com/purgehook/purgehook/store"
)

// groupPipeline is a pipeline that is not started: these tests are about
// the journal's writer, not the jobs.
func groupPipeline(t *testing.T, driver string, o Options) (*Pipeline, *store.Store) {
	t.Helper()
	dsn := filepath.Join(t.TempDir(), "g.db")
	if driver == store.Postgres {
		dsn = pgtest.DSN(t)
	}
	st, err := store.Open(context.Background(), driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r, _ := resolve.New([]config.Site{{Name: "a", BaseURL: "https://a.example"}}, nil)
	o.Store, o.Resolver, o.Logger = st, r, slog.New(slog.DiscardHandler)
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return p, st
}

type acceptResult struct {
	id       int64
	name     string
	inserted bool
	err      error
}

func acceptAsync(p *Pipeline, d change.Delivery) chan acceptResult {
	ch := make(chan acceptResult, 1)
	go func() {
		id, name, ins, err := p.Accept(context.Background(), d)
		ch <- acceptResult{id, name, ins, err}
	}()
	return ch
}

// waitQueued waits until n deliveries wait for the writer. It polls a
// condition, not a clock: how long it takes does not matter.
func waitQueued(w *writer, n int) {
	for {
		w.mu.Lock()
		got := len(w.queue)
		w.mu.Unlock()
		if got == n {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// gate blocks the writer inside the transaction of the groups it names,
// until released; it fails the groups listed in fail.
type gate struct {
	entered chan int
	release chan struct{}
	block   map[int]bool
	fail    map[int]error
}

func (g *gate) beforeCommit(group int) error {
	if g.block[group] {
		g.entered <- group
		<-g.release
	}
	return g.fail[group]
}

func delivery(id string) change.Delivery {
	return change.Delivery{Source: "cms", ID: id, Changes: []change.Change{{Event: "publish", Kind: change.Publish, URLs: []string{"/" + id}}}}
}

func groupDrivers(t *testing.T, test func(t *testing.T, driver string)) {
	t.Parallel()
	for _, d := range []string{store.SQLite, store.Postgres} {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			test(t, d)
		})
	}
}

// A failed group commit answers its error to every member and journals
// none of them; the same deliveries retried in one group are journaled
// once each, a repeated id inside the group being a redelivery.
func TestGroupCommitFailureAnswersEveryMember(t *testing.T) {
	groupDrivers(t, func(t *testing.T, driver string) {
		ctx := context.Background()
		p, st := groupPipeline(t, driver, Options{GroupWindow: -1})
		diskFull := errors.New("disk full")
		g := &gate{entered: make(chan int, 1), release: make(chan struct{}),
			block: map[int]bool{1: true, 3: true}, fail: map[int]error{2: diskFull}}
		p.w.beforeCommit = g.beforeCommit

		// Group 1 (a) holds the writer while b, c and c again queue up
		// behind it: they are group 2, which fails.
		a := acceptAsync(p, delivery("a"))
		<-g.entered
		var members []chan acceptResult
		for _, id := range []string{"b", "c", "c"} {
			members = append(members, acceptAsync(p, delivery(id)))
		}
		waitQueued(p.w, 3)
		g.release <- struct{}{}
		if r := <-a; r.err != nil || !r.inserted {
			t.Fatalf("a: %+v", r)
		}
		for i, m := range members {
			if r := <-m; !errors.Is(r.err, diskFull) || r.inserted {
				t.Errorf("member %d of the failed group: %+v, want its error", i, r)
			}
		}
		for _, id := range []string{"b", "c"} {
			if _, _, err := st.DeliveryFind(ctx, "cms", id); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s journaled by a failed commit: %v", id, err)
			}
		}
		if n := jobCount(t, st); n != 1 {
			t.Errorf("%d jobs after the failed group, want the drain a's queued", n)
		}

		// The CMS retries: d holds the writer while b, c, c queue again,
		// and this time their group commits.
		d := acceptAsync(p, delivery("d"))
		<-g.entered
		members = members[:0]
		for _, id := range []string{"b", "c", "c"} {
			members = append(members, acceptAsync(p, delivery(id)))
		}
		waitQueued(p.w, 3)
		g.release <- struct{}{}
		if r := <-d; r.err != nil || !r.inserted {
			t.Fatalf("d: %+v", r)
		}
		rs := map[string][]acceptResult{}
		for _, m := range members {
			r := <-m
			if r.err != nil {
				t.Fatalf("retry: %v", r.err)
			}
			rs[r.name] = append(rs[r.name], r)
		}
		if len(rs["b"]) != 1 || !rs["b"][0].inserted {
			t.Errorf("b: %+v", rs["b"])
		}
		if cs := rs["c"]; len(cs) != 2 || cs[0].inserted == cs[1].inserted || cs[0].id != cs[1].id {
			t.Errorf("c twice in one group: %+v, want one new and one redelivery of the same row", cs)
		}
		if n, _ := st.DeliveryCount(ctx); n != 4 {
			t.Errorf("%d deliveries, want a, d, b, c", n)
		}
		// The drain a's group queued resolves them all: the groups after
		// it find it queued.
		if n := jobCount(t, st); n != 1 {
			t.Errorf("%d jobs, want the one drain", n)
		}
		if n, _ := st.DeliveryWaitingCount(ctx, nil); n != 4 {
			t.Errorf("%d deliveries waiting to be resolved, want 4", n)
		}
	})
}

// When the writer falls behind, Accept pushes back at once instead of
// queueing without bound, and what it pushed back is not journaled.
func TestAcceptIsBusyWhenTheWriterFallsBehind(t *testing.T) {
	groupDrivers(t, func(t *testing.T, driver string) {
		ctx := context.Background()
		p, st := groupPipeline(t, driver, Options{GroupWindow: -1, GroupMax: 1, AcceptQueue: 2})
		g := &gate{entered: make(chan int, 1), release: make(chan struct{}), block: map[int]bool{1: true}}
		p.w.beforeCommit = g.beforeCommit

		a := acceptAsync(p, delivery("a"))
		<-g.entered
		b, c := acceptAsync(p, delivery("b")), acceptAsync(p, delivery("c"))
		waitQueued(p.w, 2)
		_, _, _, err := p.Accept(ctx, delivery("d"))
		var busy *BusyError
		if !errors.As(err, &busy) || busy.RetryAfter() <= 0 {
			t.Fatalf("accept with a full queue: %v, want a BusyError with a Retry-After", err)
		}
		close(g.release)
		for _, ch := range []chan acceptResult{a, b, c} {
			if r := <-ch; r.err != nil || !r.inserted {
				t.Errorf("queued delivery: %+v", r)
			}
		}
		if _, _, err := st.DeliveryFind(ctx, "cms", "d"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the pushed-back delivery was journaled: %v", err)
		}
		// With room again, it is accepted.
		if _, _, ins, err := p.Accept(ctx, delivery("d")); err != nil || !ins {
			t.Errorf("d after the writer caught up: %v %v", ins, err)
		}
	})
}

func jobCount(t *testing.T, st *store.Store) int {
	t.Helper()
	counts, err := st.JobCounts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range counts {
		n += c
	}
	return n
}
