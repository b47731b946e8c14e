// Command ingest-bench measures what it costs to acknowledge a webhook
// only once it is durable, against baselines measured in the same run, and
// prints the figures docs/benchmarks.md records:
//
//   - baseline: one SQLite transaction that inserts the raw body, with the
//     same durability settings as purgehook's store (WAL, synchronous
//     FULL): the least any handler that does not lose webhooks must do;
//
//   - accept: purgehook's POST /hooks/{source} in-process: read the body,
//     verify its HMAC, parse it, journal the delivery and its changes and
//     insert the River job that will process it, in one transaction;
//
//   - redelivery: the same webhook again, recognised and answered 200;
//
//   - plan: 10,000 URLs planned into Cloudflare calls of 30 (dedupe,
//     split), against deduplicating them in a map.
//
//     go run ./bench/ingest
//     go run ./bench/ingest -test.benchtime=3s
//
// It prints ratios rather than asserting them: absolute numbers depend on
// the machine and its disk, and the tests never check speed.
package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/config"
	"github.com/purgehook/purgehook/ingest"
	"github.com/purgehook/purgehook/pipeline"
	"github.com/purgehook/purgehook/plan"
	"github.com/purgehook/purgehook/resolve"
	"github.com/purgehook/purgehook/source"
	"github.com/purgehook/purgehook/source/generic"
	"github.com/purgehook/purgehook/store"
)

const secret = "bench-secret"

func body(i int) []byte {
	return []byte(`{"event":"ContentPublished","timestamp":"2026-03-05T14:30:00Z","content":{"id":"` + strconv.Itoa(i) +
		`","contentType":"roomDetailPage","cultures":["pt","en"],"urls":["/pt/alojamento/quarto-` + strconv.Itoa(i) + `","/en/accommodation/room-` + strconv.Itoa(i) +
		`"]},"dependencies":["/pt/alojamento","/en/accommodation","/pt/","/en/"]}`)
}

func main() {
	testing.Init()
	dir, err := os.MkdirTemp("", "ingest-bench")
	if err != nil {
		fail(err)
	}
	defer func() {
		if err := os.RemoveAll(dir); err != nil {
			fmt.Fprintln(os.Stderr, "ingest-bench:", err)
		}
	}()
	fmt.Printf("ingest-bench: %s %s/%s, GOMAXPROCS=%d, store in %s\n\n", runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0), dir)

	base := testing.Benchmark(func(b *testing.B) { baseline(b, filepath.Join(dir, "baseline.db")) })
	acc := testing.Benchmark(func(b *testing.B) { accept(b, filepath.Join(dir, "accept.db"), false) })
	dup := testing.Benchmark(func(b *testing.B) { accept(b, filepath.Join(dir, "dup.db"), true) })
	row("baseline: durable insert of the body", base, base)
	row("accept: verify, parse, journal + job", acc, base)
	row("redelivery: recognised, 200", dup, base)

	fmt.Println()
	mapDedupe := testing.Benchmark(dedupe)
	planned := testing.Benchmark(planCalls)
	row("baseline: dedupe 10,000 URLs in a map", mapDedupe, mapDedupe)
	row("plan: 10,000 URLs → calls of 30", planned, mapDedupe)
}

func row(name string, r, base testing.BenchmarkResult) {
	fmt.Printf("%-42s %12s/op %10.0f ops/s  %5.2f× baseline\n", name, fmtNs(r.NsPerOp()), 1e9/float64(r.NsPerOp()), float64(r.NsPerOp())/float64(base.NsPerOp()))
}

func fmtNs(ns int64) string {
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.2fms", float64(ns)/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.1fµs", float64(ns)/1e3)
	}
	return fmt.Sprintf("%dns", ns)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "ingest-bench:", err)
	os.Exit(1)
}

// removeStale removes a previous run's database files, if there are any.
func removeStale(paths ...string) {
	for _, p := range paths {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			fail(err)
		}
	}
}

func baseline(b *testing.B, path string) {
	removeStale(path)
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate")
	if err != nil {
		fail(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS hooks (id INTEGER PRIMARY KEY, body TEXT NOT NULL)`); err != nil {
		fail(err)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		tx, err := db.Begin()
		if err != nil {
			fail(err)
		}
		if _, err := tx.Exec(`INSERT INTO hooks (body) VALUES (?)`, string(body(i))); err != nil {
			fail(err)
		}
		if err := tx.Commit(); err != nil {
			fail(err)
		}
	}
}

func accept(b *testing.B, path string, redeliver bool) {
	removeStale(path, path+"-wal", path+"-shm")
	ctx := context.Background()
	st, err := store.Open(ctx, store.SQLite, path)
	if err != nil {
		fail(err)
	}
	defer st.Close()
	r, _ := resolve.New([]config.Site{{Name: "s", BaseURL: "https://www.example.com"}}, nil)
	pl, err := pipeline.New(pipeline.Options{Store: st, Resolver: r, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fail(err)
	}
	h, err := ingest.New([]ingest.Endpoint{{Name: "cms", Source: generic.New(source.Options{Name: "cms", Secrets: []string{secret}}), MaxBody: 1 << 20}},
		pl, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		fail(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /hooks/{source}", h)
	want := http.StatusAccepted
	if redeliver {
		post(mux, body(0))
		want = http.StatusOK
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		n := i
		if redeliver {
			n = 0
		}
		if code := post(mux, body(n)); code != want {
			fail(fmt.Errorf("status %d, want %d", code, want))
		}
	}
}

func post(h http.Handler, body []byte) int {
	req := httptest.NewRequest(http.MethodPost, "/hooks/cms", bytes.NewReader(body))
	req.Header.Set(generic.SignatureHeader, generic.Sign(secret, body))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}

func urls() []change.Target {
	ts := make([]change.Target, 0, 10_000)
	for i := range 10_000 {
		// Every URL twice: a bulk publish names shared pages many times.
		ts = append(ts, change.Target{Kind: change.URL, Value: "https://www.example.com/p/" + strconv.Itoa(i%5_000)})
	}
	return ts
}

func dedupe(b *testing.B) {
	ts := urls()
	b.ResetTimer()
	for b.Loop() {
		seen := make(map[string]bool, len(ts))
		var out []string
		for _, t := range ts {
			if !seen[t.Value] {
				seen[t.Value] = true
				out = append(out, t.Value)
			}
		}
		_ = out
	}
}

func planCalls(b *testing.B) {
	ts := urls()
	p := plan.Provider{Name: "cf", Layer: change.LayerEdge, Limits: change.Limits{
		Kinds: change.AllKinds, PerCall: map[change.TargetKind]int{change.URL: 30},
	}}
	b.ResetTimer()
	for b.Loop() {
		calls, _ := plan.Calls(p, ts)
		if len(calls) != 167 {
			fail(fmt.Errorf("%d calls, want 167", len(calls)))
		}
	}
}
