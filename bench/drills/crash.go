package main

// The crash, replica and provider-fault drills: real serve processes on
// loopback, real SIGKILLs, and the Cloudflare fake (which enforces
// Cloudflare's documented contract) behind a proxy that injects faults.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // creates the drill's database
	"github.com/riverqueue/river"

	"github.com/purgehook/purgehook/budget"
	"github.com/purgehook/purgehook/purger/cloudflare/cloudflaretest"
	"github.com/purgehook/purgehook/source/generic"
	"github.com/purgehook/purgehook/store"
)

// fakeTB lets the drills start the test fakes, which report set-up
// failures and register their shutdown through a testing.TB. Only the
// methods the fakes call are implemented.
type fakeTB struct {
	testing.TB
	mu       sync.Mutex
	cleanups []func()
}

func (t *fakeTB) Helper()           {}
func (t *fakeTB) Fatal(args ...any) { panic(fmt.Sprint(args...)) }
func (t *fakeTB) Fatalf(f string, args ...any) {
	panic(fmt.Sprintf(f, args...))
}
func (t *fakeTB) Cleanup(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, f)
}

func (t *fakeTB) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, f := range slices.Backward(t.cleanups) {
		f()
	}
	t.cleanups = nil
}

const siteBase = "https://www.site.example"

// budgetPerDay is the Cloudflare budget every drill configures.
const budgetPerDay = 5000

// cluster is one configuration run by one or more serve processes.
type cluster struct {
	bin, dir string
	driver   string // store.SQLite or store.Postgres
	dsn      string
	apiURL   string
	cf       *cloudflaretest.Server
	extra    string // more YAML
	logs     lockedBuffer

	mu    sync.Mutex
	procs []*replica
}

type replica struct {
	cfgPath, base string
	cmd           *exec.Cmd
	dead          atomic.Bool
}

// config is a replica's configuration. The cost model's covers are off
// (covers: []): the drills judge a URL purged by a call that names it,
// while a host purge, which the cost model chooses once the graph knows
// no page on the host but the batch's, would cover pages acknowledged
// before or after it alike.
func (c *cluster) config(addr string) string {
	return fmt.Sprintf(`
listen: %s
store: {driver: %s, dsn: "%s"}
admin: {tokens: [{name: reader, secret: %s, scopes: [read]}]}
sites: [{name: site, base_url: %s}]
sources: [{name: cms, kind: generic, secret: %s, site: site}]
providers:
  - {name: cf, kind: cloudflare, zone: %s, token: %s, api_url: %s, timeout: 1s,
     limits: {files_per_call: 5}, budget: {calls_per_day: %d}, covers: []}
coalesce: 100ms
warm: {disabled: true}
%s`, addr, c.driver, c.dsn, admin, siteBase, secret, c.cf.Zone(), c.cf.Token(), c.apiURL, budgetPerDay, c.extra)
}

// add writes a replica's configuration and starts it.
func (c *cluster) add(ctx context.Context) (*replica, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	c.mu.Lock()
	r := &replica{cfgPath: filepath.Join(c.dir, fmt.Sprintf("replica-%d.yaml", len(c.procs))), base: "http://" + addr}
	c.procs = append(c.procs, r)
	c.mu.Unlock()
	if err := os.WriteFile(r.cfgPath, []byte(c.config(addr)), 0o600); err != nil {
		return nil, err
	}
	return r, c.start(ctx, r)
}

func (c *cluster) start(ctx context.Context, r *replica) error {
	r.cmd = exec.Command(c.bin, "serve", "--config", r.cfgPath)
	r.cmd.Stdout, r.cmd.Stderr = &c.logs, &c.logs
	if err := r.cmd.Start(); err != nil {
		return err
	}
	r.dead.Store(false)
	return (&service{base: r.base}).waitReady(ctx)
}

// kill SIGKILLs a replica and reaps it.
func (r *replica) kill() error {
	r.dead.Store(true)
	if err := r.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	var exit *exec.ExitError
	if err := r.cmd.Wait(); !errors.As(err, &exit) {
		return fmt.Errorf("wait after SIGKILL: %w", err)
	}
	return nil
}

// stop ends every replica still running: SIGTERM, then a kill after 20s.
func (c *cluster) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.procs {
		if r.cmd == nil || r.cmd.ProcessState != nil || r.dead.Load() {
			continue
		}
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = r.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = r.cmd.Process.Kill()
			<-done
		}
	}
}

// flow is the deliveries a drill sends, as a CMS does: each is resent
// (after 100ms) until purgehook acknowledges it, 202 or, when an earlier
// attempt was journaled though its answer was lost, 200.
type flow struct {
	mu       sync.Mutex
	want     map[string]bool // every URL of an acknowledged delivery
	accepted int             // deliveries acknowledged
	dupes    int             // of which answered 200: journaled by an attempt whose answer was lost
	failed   int             // attempts that got no answer or a 5xx (a replica was down)
}

func newFlow() *flow { return &flow{want: map[string]bool{}} }

func deliveryBody(id string, urls ...string) []byte {
	b, _ := json.Marshal(map[string]any{"event": "ContentPublished", "content": map[string]any{"id": id, "urls": urls}})
	return b
}

// send delivers one until acknowledged; pick chooses the replica of each
// attempt.
func (f *flow) send(ctx context.Context, pick func(attempt int) string, i int) error {
	u1, u2 := fmt.Sprintf("/news/%d", i), fmt.Sprintf("/en/news/%d", i)
	body := deliveryBody(fmt.Sprintf("item-%d", i), u1, u2)
	client := &http.Client{Timeout: 10 * time.Second}
	for attempt := 0; ; attempt++ {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, pick(attempt)+"/hooks/cms", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(generic.SignatureHeader, generic.Sign(secret, body))
		resp, err := client.Do(req)
		status := 0
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			status = resp.StatusCode
		}
		switch status {
		case http.StatusAccepted, http.StatusOK:
			f.mu.Lock()
			f.accepted++
			if status == http.StatusOK {
				f.dupes++
			}
			f.want[siteBase+u1], f.want[siteBase+u2] = true, true
			f.mu.Unlock()
			return nil
		case 0, http.StatusServiceUnavailable, http.StatusBadGateway:
			f.mu.Lock()
			f.failed++
			f.mu.Unlock()
			time.Sleep(100 * time.Millisecond)
		default:
			return fmt.Errorf("delivery %d answered %d", i, status)
		}
	}
}

// run sends n deliveries, conc at a time, each sender pausing pace
// after each delivery (so that a flow spans the moments a drill kills).
func (f *flow) run(ctx context.Context, n, conc int, pace time.Duration, pick func(i, attempt int) string) error {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, conc)
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs <- f.send(ctx, func(a int) string { return pick(i, a) }, i)
			time.Sleep(pace)
		}()
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

// missing is how many acknowledged URLs the provider has not purged.
func (f *flow) missing(cf *cloudflaretest.Server) int {
	got := map[string]bool{}
	for _, c := range cf.Accepted() {
		for _, it := range c.Items {
			got[it] = true
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for u := range f.want {
		if !got[u] {
			n++
		}
	}
	return n
}

// waitPurged polls until every acknowledged URL is purged or limit passes;
// it returns how many never were (lost).
func (f *flow) waitPurged(ctx context.Context, cf *cloudflaretest.Server, limit time.Duration) int {
	deadline := time.Now().Add(limit)
	for {
		n := f.missing(cf)
		if n == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			return n
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ledger is what the store says was planned and charged, against what
// the provider received.
type ledger struct {
	planned   int // Cloudflare calls the planner made (each charged once)
	spent     int // the day's budget spent
	made      int // calls the provider accepted
	distinct  int // of which distinct (by their items)
	duplicate int // made again: a call whose answer was lost, retried
	overspend int // spent beyond the budget, or calls made beyond the plan
	rescued   int // jobs River's rescuer gave back after their process died
	batches   map[string]int
}

// settle waits for every URL f had acknowledged to reach the fake (at
// most limit), then stops the cluster and reads its ledger: how many were
// lost, when the wait ended, and the ledger.
func (c *cluster) settle(ctx context.Context, f *flow, started time.Time, limit time.Duration) (int, time.Time, ledger, error) {
	lost := f.waitPurged(ctx, c.cf, limit)
	purged := time.Now()
	c.stop()
	l, err := readLedger(ctx, c.driver, c.dsn, c.cf, started)
	return lost, purged, l, err
}

func readLedger(ctx context.Context, driver, dsn string, cf *cloudflaretest.Server, started time.Time) (ledger, error) {
	var l ledger
	st, err := store.Open(ctx, driver, dsn)
	if err != nil {
		return l, err
	}
	defer st.Close()
	days, err := st.BudgetSpent(ctx, "cf", budget.WindowAt(started).Day)
	if err != nil {
		return l, err
	}
	for _, n := range days {
		l.spent += n
	}
	calls, err := st.CallList(ctx, 0, 1_000_000)
	if err != nil {
		return l, err
	}
	for _, c := range calls {
		if c.Provider == "cf" {
			l.planned++
		}
	}
	seen := map[string]bool{}
	for _, c := range cf.Accepted() {
		l.made++
		items := slices.Clone(c.Items)
		sort.Strings(items)
		k := strings.Join(items, " ")
		if seen[k] {
			l.duplicate++
		}
		seen[k] = true
	}
	l.distinct = len(seen)
	l.overspend = max(0, l.spent-budgetPerDay) + max(0, l.distinct-l.planned)
	bs, err := st.BatchList(ctx, 100_000)
	if err != nil {
		return l, err
	}
	l.batches = map[string]int{}
	for _, b := range bs {
		l.batches[string(b.State)]++
	}
	q, err := st.NewQueue(&river.Config{})
	if err != nil {
		return l, err
	}
	res, err := q.JobList(ctx, river.NewJobListParams().First(10_000))
	if err != nil {
		return l, err
	}
	for _, j := range res.Jobs {
		for _, e := range j.Errors {
			if strings.Contains(e.Error, "rescued") {
				l.rescued++
				break
			}
		}
	}
	return l, nil
}

func (l ledger) write(w io.Writer) {
	fmt.Fprintf(w, "- Cloudflare calls planned and charged to the budget: %d (budget spent %d of %d a day)\n", l.planned, l.spent, budgetPerDay)
	fmt.Fprintf(w, "- calls the provider accepted: %d, distinct %d; duplicate calls: **%d**\n", l.made, l.distinct, l.duplicate)
	fmt.Fprintf(w, "- budget overspend (spent beyond the budget, or calls made beyond the plan): **%d**\n", l.overspend)
	var states []string
	for s, n := range l.batches {
		states = append(states, fmt.Sprintf("%s %d", s, n))
	}
	sort.Strings(states)
	fmt.Fprintf(w, "- batches: %s\n", strings.Join(states, ", "))
}

// crashSQLite kills the one serve process of a SQLite store at random
// moments while deliveries flow, restarting it each time.
func crashSQLite(ctx context.Context, bin string, rng *rand.Rand, kills, n int, w io.Writer) error {
	tb := &fakeTB{}
	defer tb.close()
	dir, err := os.MkdirTemp("", "purgehook-crash-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	cf := cloudflaretest.NewServer(tb, cloudflaretest.Options{})
	c := &cluster{bin: bin, dir: dir, driver: store.SQLite, dsn: filepath.Join(dir, "ph.db"), apiURL: cf.APIURL(), cf: cf, extra: "queue: {workers: 4}\n"}
	defer c.stop()
	started := time.Now()
	r, err := c.add(ctx)
	if err != nil {
		return err
	}
	f := newFlow()
	sent := make(chan error, 1)
	go func() { sent <- f.run(ctx, n, 4, 50*time.Millisecond, func(int, int) string { return r.base }) }()
	var downs []time.Duration
	for range kills {
		time.Sleep(time.Duration(200+rng.IntN(1300)) * time.Millisecond)
		if err := r.kill(); err != nil {
			return err
		}
		down := time.Now()
		if err := c.start(ctx, r); err != nil {
			return err
		}
		downs = append(downs, time.Since(down))
	}
	if err := <-sent; err != nil {
		return err
	}
	last := time.Now()
	lost, purged, l, err := c.settle(ctx, f, started, 90*time.Second)
	if err != nil {
		return err
	}
	took := purged.Sub(last)
	fmt.Fprintf(w, "\n## Crash: SQLite, SIGKILL at random moments\n\n"+
		"One serve process, %d deliveries (2 URLs each) sent 4 at a time and resent until acknowledged, as a CMS does; "+
		"the process SIGKILLed %d times, 0.2–1.5 s apart at random while they flow, and restarted on the same file each time. "+
		"In this and the next two drills a URL counts as purged when a call names it: the cost model's covers are off (`covers: []`), "+
		"since a host purge covers pages acknowledged before and after it alike.\n\n", n, kills)
	fmt.Fprintf(w, "- deliveries acknowledged: %d (%d of them 200: journaled by an attempt whose answer the kill cut off); attempts refused or cut off: %d\n", f.accepted, f.dupes, f.failed)
	fmt.Fprintf(w, "- restarts: ready again %s after each kill\n", roundAll(downs))
	fmt.Fprintf(w, "- URLs acknowledged: %d; lost (never purged): **%d**; all purged %s after the last delivery\n", len(f.want), lost, took.Round(100*time.Millisecond))
	l.write(w)
	return verdict("crash (SQLite)", lost, l.overspend)
}

func roundAll(ds []time.Duration) string {
	var parts []string
	for _, d := range ds {
		parts = append(parts, d.Round(10*time.Millisecond).String())
	}
	return strings.Join(parts, ", ")
}

func verdict(name string, lost, overspend int) error {
	if lost > 0 || overspend > 0 {
		return fmt.Errorf("%s: %d lost, %d overspent", name, lost, overspend)
	}
	return nil
}

// crashPostgres runs three serve processes on one PostgreSQL database,
// SIGKILLs one at a random moment while deliveries flow, and never
// restarts it: the others rescue its jobs after rescue_after.
func crashPostgres(ctx context.Context, bin, pgURL string, rng *rand.Rand, n int, w io.Writer) error {
	fmt.Fprintf(w, "\n## Crash: PostgreSQL, three processes, one SIGKILLed for good\n\n")
	if pgURL == "" {
		fmt.Fprintf(w, "Not run: no PostgreSQL given (`-postgres URL` or PURGEHOOK_TEST_POSTGRES).\n")
		fmt.Fprintln(os.Stderr, "drills: PostgreSQL drill skipped: no -postgres URL and PURGEHOOK_TEST_POSTGRES unset")
		return nil
	}
	tb := &fakeTB{}
	defer tb.close()
	dsn, drop, err := freshDatabase(ctx, pgURL)
	if err != nil {
		return err
	}
	defer drop()
	dir, err := os.MkdirTemp("", "purgehook-pg-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	cf := cloudflaretest.NewServer(tb, cloudflaretest.Options{})
	const rescueAfter = 6 * time.Second
	c := &cluster{bin: bin, dir: dir, driver: store.Postgres, dsn: dsn, apiURL: cf.APIURL(), cf: cf,
		extra: fmt.Sprintf("queue: {workers: 4, job_timeout: 5s, rescue_after: %s}\n", rescueAfter)}
	defer c.stop()
	started := time.Now()
	var rs []*replica
	for range 3 {
		r, err := c.add(ctx)
		if err != nil {
			return err
		}
		rs = append(rs, r)
	}
	victim := rs[rng.IntN(3)]
	killAt := n/5 + rng.IntN(n*3/5) // somewhere in the middle of the flow
	var sentN atomic.Int64
	var killed time.Time
	killErr := make(chan error, 1)
	f := newFlow()
	// A load balancer: round robin over the replicas; an attempt that
	// failed goes to the next one.
	pick := func(i, attempt int) string {
		if sentN.Add(1) == int64(killAt) {
			killed = time.Now()
			killErr <- victim.kill()
		}
		return rs[(i+attempt)%3].base
	}
	start := time.Now()
	if err := f.run(ctx, n, 8, 0, pick); err != nil {
		return err
	}
	rate := float64(f.accepted) / time.Since(start).Seconds()
	if err := <-killErr; err != nil {
		return err
	}
	lost, purged, l, err := c.settle(ctx, f, started, 150*time.Second)
	if err != nil {
		return err
	}
	took := purged.Sub(killed)
	fmt.Fprintf(w, "Three serve processes on one database, %d deliveries (2 URLs each) sent 8 at a time round robin, an attempt that failed "+
		"resent to the next replica; one process SIGKILLed after %d attempts and never restarted; rescue_after %s.\n\n", n, killAt, rescueAfter)
	fmt.Fprintf(w, "- deliveries acknowledged: %d (%.0f/s across the replicas while one died); attempts refused or cut off: %d\n", f.accepted, rate, f.failed)
	fmt.Fprintf(w, "- URLs acknowledged: %d; lost (never purged): **%d**; all purged %s after the kill\n", len(f.want), lost, took.Round(100*time.Millisecond))
	fmt.Fprintf(w, "- jobs of the dead process rescued by the others: %d\n", l.rescued)
	l.write(w)
	return verdict("crash (PostgreSQL)", lost, l.overspend)
}

// faultMix is the provider-fault drill's proxy: each request in front of
// the fake draws one outcome.
type faultMix struct {
	next  http.Handler
	storm time.Duration // how long after the first request faults are drawn; then every request passes
	mu    sync.Mutex
	rng   *rand.Rand
	count map[string]int
	first time.Time
}

var faultKinds = []struct {
	name   string
	weight int
}{
	{"5xx", 30}, {"429 with Retry-After: 1", 10}, {"connection reset before the provider saw it", 5},
	{"connection reset after the provider purged (answer lost)", 5}, {"hang (longer than the 1s timeout)", 5}, {"passed", 45},
}

func (m *faultMix) draw() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.first.IsZero() {
		m.first = time.Now()
	}
	if time.Since(m.first) > m.storm {
		m.count["after the storm"]++
		return "passed"
	}
	x := m.rng.IntN(100)
	for _, k := range faultKinds {
		if x < k.weight {
			m.count[k.name]++
			return k.name
		}
		x -= k.weight
	}
	m.count["passed"]++
	return "passed"
}

func reset(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // RST, not FIN
	}
	conn.Close()
}

func (m *faultMix) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch m.draw() {
	case "5xx":
		http.Error(w, "upstream failure", []int{500, 502, 503}[m.rng.IntN(3)])
	case "429 with Retry-After: 1":
		// The fake's own 429 envelope.
		w.Header().Set("Retry-After", "1")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, `{"success":false,"errors":[{"code":10000,"message":"rate limited"}],"messages":[],"result":null}`)
	case "connection reset before the provider saw it":
		reset(w)
	case "connection reset after the provider purged (answer lost)":
		m.next.ServeHTTP(httptest.NewRecorder(), r)
		reset(w)
	case "hang (longer than the 1s timeout)":
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
		reset(w)
	default:
		m.next.ServeHTTP(w, r)
	}
}

// faults runs one serve process against a provider that fails often.
func faults(ctx context.Context, bin string, rng *rand.Rand, n int, w io.Writer) error {
	tb := &fakeTB{}
	defer tb.close()
	dir, err := os.MkdirTemp("", "purgehook-faults-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	cf := cloudflaretest.NewServer(tb, cloudflaretest.Options{})
	target, _ := url.Parse(cf.APIURL())
	const storm = 30 * time.Second
	mix := &faultMix{next: httputil.NewSingleHostReverseProxy(&url.URL{Scheme: target.Scheme, Host: target.Host}), storm: storm,
		rng: rand.New(rand.NewPCG(rng.Uint64(), 0)), count: map[string]int{}}
	proxy := httptest.NewServer(mix)
	defer proxy.Close()
	c := &cluster{bin: bin, dir: dir, driver: store.SQLite, dsn: filepath.Join(dir, "ph.db"), apiURL: proxy.URL + target.Path, cf: cf, extra: "queue: {workers: 4}\n"}
	defer c.stop()
	started := time.Now()
	r, err := c.add(ctx)
	if err != nil {
		return err
	}
	f := newFlow()
	if err := f.run(ctx, n, 4, 0, func(int, int) string { return r.base }); err != nil {
		return err
	}
	last := time.Now()
	lost, purged, l, err := c.settle(ctx, f, started, 2*time.Minute)
	if err != nil {
		return err
	}
	took := purged.Sub(last)
	fmt.Fprintf(w, "\n## Provider faults\n\nOne serve process (SQLite), %d deliveries (2 URLs each); Cloudflare (the fake) behind a proxy that "+
		"answers each request with a fault drawn at random for %s after the first call, then lets every request through "+
		"(an outage, then recovery; failed calls are retried with square backoff, 1 s, 4 s, 9 s, …):\n\n| outcome | share | requests |\n| --- | --- | --- |\n", n, storm)
	total := 0
	for _, k := range faultKinds {
		total += mix.count[k.name]
	}
	for _, k := range faultKinds {
		fmt.Fprintf(w, "| %s | %d%% | %d |\n", k.name, k.weight, mix.count[k.name])
	}
	total += mix.count["after the storm"]
	fmt.Fprintf(w, "| after the storm: passed | | %d |\n", mix.count["after the storm"])
	fmt.Fprintf(w, "\n- requests to the provider: %d\n- URLs acknowledged: %d; lost (never purged): **%d**; all purged %s after the last delivery\n",
		total, len(f.want), lost, took.Round(100*time.Millisecond))
	l.write(w)
	return verdict("provider faults", lost, l.overspend)
}

// freshDatabase creates a database of its own on the server pgURL names
// and returns its DSN and what drops it.
func freshDatabase(ctx context.Context, pgURL string) (string, func(), error) {
	u, err := url.Parse(pgURL)
	if err != nil || u.Scheme == "" {
		return "", nil, errors.New("-postgres must be a URL DSN (postgres://user@host:port/db)")
	}
	db, err := sql.Open("pgx", pgURL)
	if err != nil {
		return "", nil, err
	}
	name := fmt.Sprintf("purgehook_drill_%d", time.Now().UnixNano())
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		db.Close()
		return "", nil, fmt.Errorf("create a database on %s: %w", u.Redacted(), err)
	}
	drop := func() {
		_, _ = db.ExecContext(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		db.Close()
	}
	u.Path = "/" + name
	return u.String(), drop, nil
}
