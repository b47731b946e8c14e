// Command graph-bench measures the content graph at scale, against
// baselines measured in the same run, and prints the figures
// docs/benchmarks.md records:
//
//   - build: -urls pages (default 1M) and -edges edges (default 10M): each
//     page has its own id, the shared footer's tag and tags drawn from a
//     pool of 100,000 (modules, lists), applied to the in-memory index;
//     RSS after a GC;
//
//   - shared: the pages that show the footer (every page), against copying
//     a prebuilt []string of them (the least any index must hand back);
//
//   - page: the pages that show one item (one page), against a lookup in
//     a map[string][]string;
//
//   - load: -load-edges edges (default 1M) written to a SQLite store and
//     read back into a new index the way a replica loads it at start,
//     against scanning the same rows with a bare SELECT.
//
//     go run ./bench/graph
//     go run ./bench/graph -urls 100000 -edges 1000000
//
// It prints figures and ratios rather than asserting them: the tests never
// check speed.
package main

import (
	"bufio"
	"context"
	"database/sql"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/purgehook/purgehook/graph"
	"github.com/purgehook/purgehook/store"
)

func main() {
	urls := flag.Int("urls", 1_000_000, "pages")
	edges := flag.Int("edges", 10_000_000, "edges (at least 2 per page: its id and the footer)")
	loadEdges := flag.Int("load-edges", 1_000_000, "edges written to a store and loaded back")
	flag.Parse()
	if err := run(*urls, *edges, *loadEdges); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

const site = "s"

func page(i int) string {
	return "https://www.example.com/en/section-" + strconv.Itoa(i%500) + "/page-" + strconv.Itoa(i)
}

// workload calls add for every edge of the synthetic site.
func workload(urls, edges int, add func(graph.Edge)) {
	perPage := max(edges/urls-2, 0)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range urls {
		u := page(i)
		add(graph.Edge{Key: graph.Key{Site: site, Kind: graph.ID, Value: strconv.Itoa(i)}, URL: u, Origin: graph.Payload})
		add(graph.Edge{Key: graph.Key{Site: site, Kind: graph.Tag, Value: "footer"}, URL: u, Origin: graph.Learned})
		for range perPage {
			add(graph.Edge{Key: graph.Key{Site: site, Kind: graph.Tag, Value: "module-" + strconv.Itoa(rng.IntN(100_000))}, URL: u, Origin: graph.Learned})
		}
	}
}

func rss() string {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return "?"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

// best runs fn n times and returns the fastest.
func best(n int, fn func()) time.Duration {
	var b time.Duration
	for i := range n {
		start := time.Now()
		fn()
		if d := time.Since(start); i == 0 || d < b {
			b = d
		}
	}
	return b
}

func run(urls, edges, loadEdges int) error {
	fmt.Printf("graph bench: %d pages, %d edges (Go %s, %d CPUs)\n", urls, edges, runtime.Version(), runtime.NumCPU())

	g := graph.New()
	start := time.Now()
	batch := make([]graph.Edge, 0, 10_000)
	workload(urls, edges, func(e graph.Edge) {
		batch = append(batch, e)
		if len(batch) == cap(batch) {
			g.Apply(batch...)
			batch = batch[:0]
		}
	})
	g.Apply(batch...)
	build := time.Since(start)
	runtime.GC()
	fmt.Printf("build   %d edges in %s; RSS %s\n", g.Len(), build.Round(time.Millisecond), rss())

	// Baselines: the pages as a plain slice and a map of one-page slices.
	all := make([]string, urls)
	byID := make(map[string][]string, urls)
	for i := range urls {
		all[i] = page(i)
		byID[strconv.Itoa(i)] = []string{all[i]}
	}
	var sink int
	shared := best(5, func() { sink += len(g.URLs(site, graph.Tag, "footer")) })
	sharedBase := best(5, func() { sink += len(append([]string(nil), all...)) })
	fmt.Printf("shared  %s for %d pages; baseline (copy a []string) %s; ratio %.1f\n",
		shared.Round(time.Microsecond), len(g.URLs(site, graph.Tag, "footer")), sharedBase.Round(time.Microsecond), float64(shared)/float64(sharedBase))
	const lookups = 10_000
	one := best(3, func() {
		for i := range lookups {
			sink += len(g.URLs(site, graph.ID, strconv.Itoa(i*97%urls)))
		}
	}) / lookups
	oneBase := best(3, func() {
		for i := range lookups {
			sink += len(byID[strconv.Itoa(i*97%urls)])
		}
	}) / lookups
	fmt.Printf("page    %s per one-page look-up; baseline (map[string][]string) %s; ratio %.1f\n", one, oneBase, float64(one)/float64(oneBase))
	_ = sink
	g, all, byID = nil, nil, nil
	runtime.GC()

	return load(urls, loadEdges)
}

// load writes loadEdges edges to a SQLite store and reads them back into
// a new index, the way a replica loads at start.
func load(urls, loadEdges int) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "graph-bench")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	path := filepath.Join(dir, "g.db")
	st, err := store.Open(ctx, store.SQLite, path)
	if err != nil {
		return err
	}
	loadURLs := max(loadEdges*urls/max(loadEdges, 1)/10, 1)
	if loadURLs*2 > loadEdges {
		loadURLs = max(loadEdges/10, 1)
	}
	var rows []store.GraphEdge
	written := 0
	flush := func() error {
		if _, err := st.GraphEdgePut(ctx, rows); err != nil {
			return err
		}
		written += len(rows)
		rows = rows[:0]
		return nil
	}
	start := time.Now()
	var werr error
	workload(loadURLs, loadEdges, func(e graph.Edge) {
		if werr != nil {
			return
		}
		rows = append(rows, store.GraphEdge{Site: e.Site, Kind: string(e.Kind), Value: e.Value, URL: e.URL, Origin: string(e.Origin)})
		if len(rows) == 20_000 {
			werr = flush()
		}
	})
	if werr == nil {
		werr = flush()
	}
	if werr != nil {
		return werr
	}
	fmt.Printf("write   %d edges to SQLite in %s\n", written, time.Since(start).Round(time.Millisecond))

	g := graph.New()
	start = time.Now()
	cur := store.GraphCursor{}
	for {
		page, err := st.GraphEdgeSince(ctx, cur, 10_000)
		if err != nil {
			return err
		}
		es := make([]graph.Edge, len(page))
		for i, r := range page {
			k, _ := graph.ParseKind(r.Kind)
			o, _ := graph.ParseOrigin(r.Origin)
			es[i] = graph.Edge{Key: graph.Key{Site: r.Site, Kind: k, Value: r.Value}, URL: r.URL, Origin: o}
		}
		g.Apply(es...)
		if len(page) < 10_000 {
			break
		}
		cur = store.GraphCursor{Seq: page[len(page)-1].Seq, ID: page[len(page)-1].ID}
	}
	loaded := time.Since(start)
	st.Close()

	db, err := sql.Open("sqlite", path)
	if err != nil {
		return err
	}
	defer db.Close()
	start = time.Now()
	r, err := db.QueryContext(ctx, `SELECT site, kind, value, url, origin FROM ph_graph_edge`)
	if err != nil {
		return err
	}
	n := 0
	for r.Next() {
		var a, b, c, d, e string
		if err := r.Scan(&a, &b, &c, &d, &e); err != nil {
			return err
		}
		n++
	}
	r.Close()
	scan := time.Since(start)
	rate := float64(g.Len()) / loaded.Seconds()
	fmt.Printf("load    %d edges in %s (%.0f edges/s; 10M edges at this rate: %s); baseline (bare SELECT of %d rows) %s; ratio %.1f\n",
		g.Len(), loaded.Round(time.Millisecond), rate, (time.Duration(10_000_000/rate) * time.Second).Round(time.Second), n, scan.Round(time.Millisecond), float64(loaded)/float64(scan))
	return nil
}
