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
//   - load: -load-edges edges (default 1M; as many per page as the index
//     has) written to a SQLite store, and to PostgreSQL when -postgres (or
//     $PURGEHOOK_TEST_POSTGRES) names a server, and read back into a new
//     index the way a replica loads it at start, against scanning the same
//     rows with a bare SELECT.
//
//     go run ./bench/graph
//     go run ./bench/graph -urls 100000 -edges 1000000
//     go run ./bench/graph -edges 0 -load-edges 10000000   # the load alone
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
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/purgehook/purgehook/graph"
	"github.com/purgehook/purgehook/store"
)

func main() {
	urls := flag.Int("urls", 1_000_000, "pages")
	edges := flag.Int("edges", 10_000_000, "edges (at least 2 per page: its id and the footer)")
	loadEdges := flag.Int("load-edges", 1_000_000, "edges written to a store and loaded back (0: none)")
	sqlite := flag.Bool("sqlite", true, "measure the load on SQLite")
	postgres := flag.String("postgres", os.Getenv("PURGEHOOK_TEST_POSTGRES"), "a PostgreSQL DSN whose user may create databases: the load is measured there too (default $PURGEHOOK_TEST_POSTGRES)")
	fill := flag.String("fill", "put", "how the load's edges are written: put (GraphEdgePut, as purgehook writes them) or sql (one INSERT … SELECT in the database, for sizes put would take too long to write)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(*urls, *edges, *loadEdges, *sqlite, *postgres, *fill); err != nil {
		fmt.Fprintln(os.Stderr, err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

// cpu returns the CPU time the process has used: beside the wall time, it
// shows how much of a shared machine the bench got.
func cpu() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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

// best runs fn n times and returns the fastest, and the least CPU time
// one run took (on a shared machine the wall time includes waiting for a
// core; the CPU time does not, though it counts the collector's work).
func best(n int, fn func()) (wall, onCPU time.Duration) {
	for i := range n {
		start, c := time.Now(), cpu()
		fn()
		d, dc := time.Since(start), cpu()-c
		if i == 0 || d < wall {
			wall = d
		}
		if i == 0 || dc < onCPU {
			onCPU = dc
		}
	}
	return wall, onCPU
}

func run(urls, edges, loadEdges int, sqlite bool, postgres, fill string) error {
	fmt.Printf("graph bench: %d pages, %d edges (Go %s, %d CPUs)\n", urls, edges, runtime.Version(), runtime.NumCPU())
	if edges > 0 {
		if err := index(urls, edges); err != nil {
			return err
		}
	}
	if loadEdges == 0 {
		return nil
	}
	var stores []func() (string, string, func(), error)
	if sqlite {
		stores = append(stores, func() (string, string, func(), error) {
			dsn, done, err := sqliteDSN()
			return store.SQLite, dsn, done, err
		})
	}
	if postgres != "" {
		stores = append(stores, func() (string, string, func(), error) {
			dsn, done, err := postgresDSN(postgres)
			return store.Postgres, dsn, done, err
		})
	}
	for _, open := range stores {
		driver, dsn, done, err := open()
		if err != nil {
			return err
		}
		err = load(driver, dsn, fill, urls, edges, loadEdges)
		done()
		if err != nil {
			return fmt.Errorf("%s: %w", driver, err)
		}
		runtime.GC()
	}
	return nil
}

// index builds the in-memory index and measures the look-ups.
func index(urls, edges int) error {

	g := graph.New()
	start, cpuStart := time.Now(), cpu()
	batch := make([]graph.Edge, 0, 10_000)
	workload(urls, edges, func(e graph.Edge) {
		batch = append(batch, e)
		if len(batch) == cap(batch) {
			g.Apply(batch...)
			batch = batch[:0]
		}
	})
	g.Apply(batch...)
	build, buildCPU := time.Since(start), cpu()-cpuStart
	runtime.GC()
	fmt.Printf("build   %d edges in %s (CPU %s, generating the edges included); RSS %s\n", g.Len(), build.Round(time.Millisecond), buildCPU.Round(time.Millisecond), rss())

	// Baselines: the pages as a plain slice and a map of one-page slices.
	all := make([]string, urls)
	byID := make(map[string][]string, urls)
	for i := range urls {
		all[i] = page(i)
		byID[strconv.Itoa(i)] = []string{all[i]}
	}
	var sink int
	shared, sharedCPU := best(5, func() { sink += len(g.URLs(site, graph.Tag, "footer")) })
	sharedBase, sharedBaseCPU := best(5, func() { sink += len(append([]string(nil), all...)) })
	fmt.Printf("shared  %s (CPU %s) for %d pages; baseline (copy a []string) %s (CPU %s); ratio %.1f\n",
		shared.Round(time.Microsecond), sharedCPU.Round(time.Microsecond), len(g.URLs(site, graph.Tag, "footer")),
		sharedBase.Round(time.Microsecond), sharedBaseCPU.Round(time.Microsecond), float64(shared)/float64(sharedBase))
	const lookups = 10_000
	one, _ := best(3, func() {
		for i := range lookups {
			sink += len(g.URLs(site, graph.ID, strconv.Itoa(i*97%urls)))
		}
	})
	oneBase, _ := best(3, func() {
		for i := range lookups {
			sink += len(byID[strconv.Itoa(i*97%urls)])
		}
	})
	one, oneBase = one/lookups, oneBase/lookups
	fmt.Printf("page    %s per one-page look-up; baseline (map[string][]string) %s; ratio %.1f\n", one, oneBase, float64(one)/float64(oneBase))
	_ = sink
	return nil
}

// load writes loadEdges edges (the index's edges per page) to a store and
// reads them back into a new index the way a replica loads at start
// (pipeline's loadGraph: GraphEdgeLoad into a graph.Loader),
// against a bare SELECT of the same rows and columns.
func load(driver, dsn, fill string, urls, edges, loadEdges int) error {
	ctx := context.Background()
	st, err := store.Open(ctx, driver, dsn)
	if err != nil {
		return err
	}
	perPage := 10
	if urls > 0 && edges >= 2*urls {
		perPage = edges / urls
	}
	loadURLs := max(loadEdges/perPage, 1)
	if fill == "sql" {
		st.Close()
		return loadFilled(driver, dsn, loadURLs, perPage)
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
	start, cpuStart := time.Now(), cpu()
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
	fmt.Printf("write   %d edges over %d pages to %s in %s (CPU %s)\n", written, loadURLs, driver, time.Since(start).Round(time.Millisecond), (cpu() - cpuStart).Round(time.Millisecond))
	st.Close()
	return read(driver, dsn)
}

// loadFilled writes the edges with one INSERT … SELECT in the database
// (a store of 10M edges written through GraphEdgePut takes far longer
// than reading it: the bench is about the reading), then reads them.
// Each page has its id, the footer and perPage-2 modules spread over
// 100,000, as in workload but from a hash rather than a generator.
func loadFilled(driver, dsn string, pages, perPage int) error {
	ctx := context.Background()
	db, err := sql.Open(map[string]string{store.SQLite: "sqlite", store.Postgres: "pgx"}[driver], dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	const columns = `INSERT INTO ph_graph_edge (site, kind, value, url, origin, first_seen, last_seen, seq, removed) `
	const url = `'https://www.example.com/en/section-' || (i % 500) || '/page-' || i`
	const module = `'module-' || ((i * 7919 + n * 104729) % 100000)` // i and n are bigint on PostgreSQL
	q := columns + `SELECT 's', 'id', i::text, ` + url + `, 'payload', 0, 0, 1, 0 FROM generate_series(0, $1 - 1) AS i
		UNION ALL SELECT 's', 'tag', 'footer', ` + url + `, 'learned', 0, 0, 1, 0 FROM generate_series(0, $1 - 1) AS i
		UNION ALL SELECT 's', 'tag', ` + module + `, ` + url + `, 'learned', 0, 0, 1, 0 FROM generate_series(0, $1::bigint - 1) AS i, generate_series(1, $2::bigint) AS n
		ON CONFLICT DO NOTHING`
	if driver == store.SQLite {
		q = `WITH RECURSIVE p(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM p WHERE i + 1 < ?1),
			m(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM m WHERE n + 1 <= ?2) ` +
			strings.Replace(columns, "INSERT", "INSERT OR IGNORE", 1) + `SELECT 's', 'id', CAST(i AS TEXT), ` + url + `, 'payload', 0, 0, 1, 0 FROM p
			UNION ALL SELECT 's', 'tag', 'footer', ` + url + `, 'learned', 0, 0, 1, 0 FROM p
			UNION ALL SELECT 's', 'tag', ` + module + `, ` + url + `, 'learned', 0, 0, 1, 0 FROM p, m`
	}
	start, cpuStart := time.Now(), cpu()
	res, err := db.ExecContext(ctx, q, pages, perPage-2)
	if err != nil {
		return fmt.Errorf("fill: %w", err)
	}
	if _, err := db.ExecContext(ctx, `UPDATE ph_graph_seq SET seq = 1`); err != nil {
		return err
	}
	n, _ := res.RowsAffected()
	fmt.Printf("write   %d edges over %d pages to %s with one INSERT … SELECT in %s (CPU here %s)\n", n, pages, driver, time.Since(start).Round(time.Millisecond), (cpu() - cpuStart).Round(time.Millisecond))
	db.Close()
	return read(driver, dsn)
}

// read loads the store's edges into a new index the way a replica does at
// start, and scans the same rows with a bare SELECT.
func read(driver, dsn string) error {
	ctx := context.Background()
	runtime.GC()
	st, err := store.Open(ctx, driver, dsn)
	if err != nil {
		return err
	}
	g := graph.New()
	start, cpuStart := time.Now(), cpu()
	l := g.Load()
	_, err = st.GraphEdgeLoad(ctx, func(r store.GraphEdge) error {
		k, _ := graph.ParseKind(r.Kind)
		o, _ := graph.ParseOrigin(r.Origin)
		l.Add(graph.Edge{Key: graph.Key{Site: r.Site, Kind: k, Value: r.Value}, URL: r.URL, Origin: o})
		return nil
	})
	l.Close()
	if err != nil {
		return err
	}
	loaded, loadedCPU := time.Since(start), cpu()-cpuStart
	runtime.GC()
	memory := rss()
	st.Close()

	db, err := sql.Open(map[string]string{store.SQLite: "sqlite", store.Postgres: "pgx"}[driver], dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	start, cpuStart = time.Now(), cpu()
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
	scan, scanCPU := time.Since(start), cpu()-cpuStart
	rate := float64(g.Len()) / loaded.Seconds()
	projected := ""
	if g.Len() < 10_000_000 {
		projected = fmt.Sprintf("; 10M edges at this rate (a projection): %s", (time.Duration(10_000_000/rate) * time.Second).Round(time.Second))
	}
	fmt.Printf("load    %s: %d edges in %s, CPU %s (%.0f edges/s%s); RSS %s; baseline (bare SELECT of %d rows) %s, CPU %s; ratio %.1f\n",
		driver, g.Len(), loaded.Round(time.Millisecond), loadedCPU.Round(time.Millisecond), rate, projected, memory,
		n, scan.Round(time.Millisecond), scanCPU.Round(time.Millisecond), float64(loaded)/float64(scan))
	return nil
}

// sqliteDSN is a fresh SQLite file; done removes it.
func sqliteDSN() (dsn string, done func(), err error) {
	dir, err := os.MkdirTemp("", "graph-bench")
	if err != nil {
		return "", nil, err
	}
	return filepath.Join(dir, "g.db"), func() { _ = os.RemoveAll(dir) }, nil
}

// postgresDSN creates a fresh database on the server base names (its user
// may create databases); done drops it.
func postgresDSN(base string) (dsn string, done func(), err error) {
	ctx := context.Background()
	admin, err := sql.Open("pgx", base)
	if err != nil {
		return "", nil, err
	}
	name := fmt.Sprintf("purgehook_graph_bench_%d", os.Getpid())
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("create database: %w", err)
	}
	u, err := url.Parse(base)
	if err != nil {
		admin.Close()
		return "", nil, err
	}
	u.Path = "/" + name
	return u.String(), func() {
		_, _ = admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		admin.Close()
	}, nil
}
