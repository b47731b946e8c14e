// Command load-bench measures purgehook's acknowledgement under load, over
// real HTTP on loopback, and how long the pipeline then takes to purge
// what it acknowledged:
//
//   - purgehook: the whole service in-process (app.New, its HTTP handler on
//     a loopback listener, the job workers running), configured with a
//     generic source and a cloudflare provider pointed at the loopback
//     Cloudflare fake (purger/cloudflare/cloudflaretest);
//
//   - baseline: in the same run, a handler that does what the seed's
//     handler does inside the request (verify the HMAC, parse, call the
//     provider, warm the purged pages 5 at a time with 200ms between
//     rounds, then answer), against the same fake and a loopback origin.
//
// For each target rate it sends signed deliveries open-loop (on a clock,
// not waiting for answers; at most -inflight at once, the rest counted as
// not sent) for -step, and prints the achieved rate of acknowledgements,
// p50, p99 and max ack latency, the 503s, the process's RSS, and how long
// after the step ended every acknowledged delivery's URLs had reached the
// fake (bounded by -drain).
//
//	go run ./bench/load
//	go run ./bench/load -rates 50,1000,5000,10000 -step 30s -urls 71 -cpuprofile load.pprof
//
// The generator, the fake and purgehook share the machine's cores, as
// they would not in production; absolute figures depend on the machine,
// and no test asserts them.
package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/purgehook/purgehook/app"
	"github.com/purgehook/purgehook/purger/cloudflare/cloudflaretest"
	"github.com/purgehook/purgehook/source/generic"
)

const (
	secret = "load-bench-secret"
	site   = "https://www.site.example"
)

type options struct {
	rates, baseRates []int
	step, drain      time.Duration
	urls, inflight   int
	driver, dsn      string
	cpuprofile       string
	ingestOnly       bool
	replicas         int
}

func main() {
	var o options
	rates := flag.String("rates", "50,500,2000,5000,10000", "target deliveries per second, one step each")
	baseRates := flag.String("baseline-rates", "50,500", "the baseline's steps (it holds each request for the provider call and the warm-up)")
	flag.DurationVar(&o.step, "step", 10*time.Second, "how long each step sends")
	flag.DurationVar(&o.drain, "drain", 2*time.Minute, "how long to wait, after a step, for every acknowledged delivery to be purged")
	flag.IntVar(&o.urls, "urls", 6, "URLs per delivery (4 shared list pages, the rest the delivery's own)")
	flag.IntVar(&o.inflight, "inflight", 4096, "most requests in flight; a send beyond it counts as not sent")
	flag.StringVar(&o.driver, "driver", "sqlite", "purgehook's store: sqlite or postgres")
	flag.StringVar(&o.dsn, "dsn", "", "the store's DSN (default: a SQLite file in a temporary directory)")
	flag.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the purgehook steps to this file")
	flag.BoolVar(&o.ingestOnly, "ingest-only", false, "do not start the job workers: measure the acknowledgement alone")
	flag.IntVar(&o.replicas, "replicas", 1, "purgehook instances on the one store (postgres only), each with its own listener; deliveries go round-robin")
	flag.Parse()
	o.rates, o.baseRates = ints(*rates), ints(*baseRates)
	if o.urls < 5 {
		fail(fmt.Errorf("-urls %d: want at least 5 (4 shared, 1 own)", o.urls))
	}
	if o.replicas < 1 || (o.replicas > 1 && o.driver != "postgres") {
		fail(fmt.Errorf("-replicas %d: want 1, or more with -driver postgres (SQLite is one process's)", o.replicas))
	}
	if err := run(o); err != nil {
		fail(err)
	}
}

func run(o options) error {
	tb := &benchTB{}
	defer tb.cleanup()
	cf := cloudflaretest.NewServer(tb, cloudflaretest.Options{})
	var warmed atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		warmed.Add(1)
		_, _ = io.WriteString(w, "<html>page</html>")
	}))
	defer origin.Close()

	dir, err := os.MkdirTemp("", "load-bench")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	if o.dsn == "" {
		o.dsn = filepath.Join(dir, "ph.db")
	}
	fmt.Printf("load-bench: %s %s/%s, GOMAXPROCS=%d, NumCPU=%d, store %s, %d replica(s), %d URLs per delivery, %s per step\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0), runtime.NumCPU(), o.driver, o.replicas, o.urls, o.step)
	fmt.Println("generator, Cloudflare fake and the server under test share this process; RSS is the whole process's")
	// The acknowledgement waits for one fsync: how long the disk takes
	// for one, on this run's folder, says how far a p99 can go.
	if d, err := probeFsync(dir, 250, 10*time.Millisecond); err != nil {
		fmt.Fprintln(os.Stderr, "load-bench: fsync probe:", err)
	} else {
		fmt.Printf("disk: a 4 KiB write and fsync every 10ms, 250 times: p50 %s, p99 %s, max %s\n", ms(d[len(d)/2]), ms(d[len(d)*99/100]), ms(d[len(d)-1]))
	}
	fmt.Println()

	cfg, err := app.ParseConfig(fmt.Appendf(nil, `
store: {driver: %s, dsn: %q}
listen: 127.0.0.1:0
sites:
  - {name: site, base_url: %s}
sources:
  - {name: cms, kind: generic, secret: %s, site: site}
providers:
  - {name: cf, kind: cloudflare, zone: %s, token: %s, api_url: %s}
coalesce: 1s
warm: {disabled: true}
log: {level: error}
`, o.driver, o.dsn, site, secret, cf.Zone(), cf.Token(), cf.APIURL()))
	if err != nil {
		return err
	}
	ctx := context.Background()
	// Replicas share the process (and its two cores) but nothing else:
	// each has its own service, pools and listener, as separate processes
	// on one PostgreSQL database would.
	var svcs []*app.Service
	var urls []string
	var srvs []*httptest.Server
	for range o.replicas {
		svc, err := app.New(ctx, cfg, app.Options{Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
		if err != nil {
			return err
		}
		if !o.ingestOnly {
			if err := svc.Start(ctx); err != nil {
				return err
			}
		}
		srv := quietServer(svc.Handler())
		svcs, srvs, urls = append(svcs, svc), append(srvs, srv), append(urls, srv.URL+"/hooks/cms")
	}

	header()
	if o.cpuprofile != "" {
		f, err := os.Create(o.cpuprofile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer f.Close()
	}
	purged := newPurgeWatch(cf)
	for i, r := range o.rates {
		res := send(urls, r, i, o)
		if !o.ingestOnly {
			res.purgedAfter = purged.wait(res.own, o.drain)
		}
		res.print("purgehook", r)
	}
	if o.cpuprofile != "" {
		pprof.StopCPUProfile()
	}
	for i, srv := range srvs {
		srv.Close()
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := svcs[i].Close(sctx)
		cancel()
		if err != nil {
			return err
		}
	}

	base := quietServer(&seedHandler{cf: cf, origin: origin.URL, client: &http.Client{Timeout: 30 * time.Second}})
	defer base.Close()
	for i, r := range o.baseRates {
		res := send([]string{base.URL + "/api/webhooks/umbraco"}, r, 1000+i, o)
		res.purgedAfter = 0 // purged before the answer
		res.print("baseline", r)
	}
	fmt.Printf("\nwarm-up fetches made by the baseline: %d\n", warmed.Load())
	return nil
}

// result is one step's figures.
type result struct {
	sent, notSent, acked, busy, failed int
	lat                                []time.Duration
	elapsed                            time.Duration
	rss, hwm                           int64
	own                                []ownURL // the acknowledged deliveries' own URLs
	purgedAfter                        time.Duration
}

func header() {
	fmt.Printf("%-9s %7s %9s %8s %8s %8s %8s %7s %7s %9s %9s %10s\n",
		"server", "target", "acked/s", "p50", "p99", "max", "503", "other", "unsent", "RSS MiB", "peak MiB", "purged")
}

func (r *result) print(name string, target int) {
	slices.Sort(r.lat)
	q := func(p float64) time.Duration {
		if len(r.lat) == 0 {
			return 0
		}
		return r.lat[min(len(r.lat)-1, int(p*float64(len(r.lat))))]
	}
	purged := "-"
	switch {
	case r.purgedAfter > 0:
		purged = "+" + r.purgedAfter.Round(10*time.Millisecond).String()
	case r.purgedAfter < 0:
		purged = "not all"
	}
	fmt.Printf("%-9s %7d %9.0f %8s %8s %8s %8d %7d %7d %9.0f %9.0f %10s\n", name, target,
		float64(r.acked)/r.elapsed.Seconds(), ms(q(0.5)), ms(q(0.99)), ms(q(1)), r.busy, r.failed, r.notSent,
		float64(r.rss)/(1<<20), float64(r.hwm)/(1<<20), purged)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d)/1e6) }

// send posts deliveries at rate per second for o.step, open-loop, to the
// urls in turn.
func send(urls []string, rate, step int, o options) *result {
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: o.inflight, MaxIdleConnsPerHost: o.inflight}, Timeout: time.Minute}
	defer client.CloseIdleConnections()
	n := int(float64(rate) * o.step.Seconds())
	res := &result{lat: make([]time.Duration, 0, n)}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, o.inflight)
	start := time.Now()
	for i := 0; i < n; {
		due := min(n, int(time.Since(start).Seconds()*float64(rate))+1)
		for ; i < due; i++ {
			select {
			case sem <- struct{}{}:
			default:
				res.notSent++
				continue
			}
			res.sent++
			body, own := payload(step, i, o.urls)
			url := urls[i%len(urls)]
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				t0 := time.Now()
				status, err := post(client, url, body)
				d := time.Since(t0)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil:
					res.failed++
				case status == http.StatusAccepted || status == http.StatusOK:
					res.acked++
					res.lat = append(res.lat, d)
					for _, u := range own {
						res.own = append(res.own, ownURL{u, t0.Add(d)})
					}
				case status == http.StatusServiceUnavailable:
					res.busy++
				default:
					res.failed++
				}
			}()
		}
		time.Sleep(500 * time.Microsecond)
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.rss, res.hwm = rss()
	return res
}

func post(client *http.Client, url string, body []byte) (int, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(generic.SignatureHeader, generic.Sign(secret, body))
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// payload is a delivery in the seed's shape: its own pages, and four list
// pages every delivery shares (which coalescing purges once per batch).
func payload(step, i, urls int) ([]byte, []string) {
	id := fmt.Sprintf("s%d-%d", step, i)
	own := make([]string, urls-4)
	for j := range own {
		own[j] = fmt.Sprintf("/p/%s/%d", id, j)
	}
	var p struct {
		Event     string `json:"event"`
		Timestamp string `json:"timestamp"`
		Content   struct {
			ID          string   `json:"id"`
			ContentType string   `json:"contentType"`
			Cultures    []string `json:"cultures"`
			URLs        []string `json:"urls"`
		} `json:"content"`
		Dependencies []string `json:"dependencies"`
	}
	// The signed timestamp must be within the source's replay window.
	p.Event, p.Timestamp = "ContentPublished", time.Now().UTC().Format(time.RFC3339)
	p.Content.ID, p.Content.ContentType, p.Content.Cultures, p.Content.URLs = id, "roomDetailPage", []string{"pt", "en"}, own
	p.Dependencies = []string{"/pt/alojamento", "/en/accommodation", "/pt/", "/en/"}
	body, _ := json.Marshal(p)
	abs := make([]string, len(own))
	for j, u := range own {
		abs[j] = site + u
	}
	return body, abs
}

// purgeWatch follows what the fake accepted: files, and the prefixes,
// hosts or purge-everything the planner's cost model chooses when the
// graph says they cover only the targets (a delivery's own pages share
// a prefix no other page has). A prefix, host or purge-everything covers
// a page only if the fake received it after the page's delivery was
// acknowledged: one received before purged an older copy.
type purgeWatch struct {
	cf         *cloudflaretest.Server
	files      map[string]bool
	hosts      map[string]time.Time // the latest call for each
	prefixes   map[string]time.Time // the latest call for each
	everything time.Time
	offset     int
}

func newPurgeWatch(cf *cloudflaretest.Server) *purgeWatch {
	return &purgeWatch{cf: cf, files: map[string]bool{}, hosts: map[string]time.Time{}, prefixes: map[string]time.Time{}}
}

func (p *purgeWatch) covered(u ownURL) bool {
	if p.files[u.url] || p.everything.After(u.acked) {
		return true
	}
	bare := strings.TrimPrefix(strings.TrimPrefix(u.url, "https://"), "http://")
	host, _, _ := strings.Cut(bare, "/")
	if p.hosts[host].After(u.acked) {
		return true
	}
	// Every prefix of the page that ends in "/".
	for i := len(host); i < len(bare); i++ {
		if bare[i] == '/' && p.prefixes[bare[:i+1]].After(u.acked) {
			return true
		}
	}
	return false
}

// wait returns how long until every URL in want was purged, or -1 if
// that took longer than limit. It reuses want's array.
func (p *purgeWatch) wait(want []ownURL, limit time.Duration) time.Duration {
	start := time.Now()
	for {
		calls := p.cf.Calls()
		for _, c := range calls[p.offset:] {
			if c.Status != http.StatusOK {
				continue
			}
			switch c.Key {
			case "files":
				for _, it := range c.Items {
					p.files[it] = true
				}
			case "hosts":
				for _, it := range c.Items {
					p.hosts[it] = c.At
				}
			case "prefixes":
				for _, it := range c.Items {
					p.prefixes[it] = c.At
				}
			case "purge_everything":
				p.everything = c.At
			}
		}
		p.offset = len(calls)
		// Keep only the URLs still missing: a URL once covered stays
		// covered, and rescanning a step's hundreds of thousands every
		// 50 ms took CPU from the server under test (13% of a profile).
		missing := want[:0]
		for _, u := range want {
			if !p.covered(u) {
				missing = append(missing, u)
			}
		}
		want = missing
		if len(want) == 0 {
			return max(time.Since(start), time.Nanosecond)
		}
		if time.Since(start) > limit {
			return -1
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ownURL is an acknowledged delivery's own page and when it was
// acknowledged.
type ownURL struct {
	url   string
	acked time.Time
}

// seedHandler is what the seed's handler does inside the request: verify,
// parse, purge (30 files a call), warm up 5 at a time with 200ms between
// rounds, answer.
type seedHandler struct {
	cf     *cloudflaretest.Server
	origin string
	client *http.Client
}

func (h *seedHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	if !hmac.Equal([]byte(hex.EncodeToString(mac.Sum(nil))), []byte(r.Header.Get(generic.SignatureHeader))) {
		http.Error(w, `{"error":"Invalid signature"}`, http.StatusUnauthorized)
		return
	}
	var p struct {
		Content struct {
			URLs []string `json:"urls"`
		} `json:"content"`
		Dependencies []string `json:"dependencies"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		http.Error(w, "parse", http.StatusBadRequest)
		return
	}
	var urls []string
	for _, u := range append(p.Content.URLs, p.Dependencies...) {
		urls = append(urls, site+u)
	}
	for chunk := range slices.Chunk(urls, cloudflaretest.DefaultLimit) {
		if err := h.purge(r.Context(), chunk); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
	}
	for round := range slices.Chunk(urls, 5) {
		var wg sync.WaitGroup
		for _, u := range round {
			wg.Go(func() {
				req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, h.origin+strings.TrimPrefix(u, site), nil)
				req.Header.Set("X-Warmup", "true")
				if resp, err := h.client.Do(req); err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		}
		wg.Wait()
		time.Sleep(200 * time.Millisecond)
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = fmt.Fprintf(w, `{"success":true,"purged":%d}`, len(urls))
}

func (h *seedHandler) purge(ctx context.Context, files []string) error {
	body, _ := json.Marshal(map[string][]string{"files": files})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, h.cf.APIURL()+"/zones/"+h.cf.Zone()+"/purge_cache", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+h.cf.Token())
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("cloudflare: %d", resp.StatusCode)
	}
	return nil
}

// quietServer is a loopback server that does not log accept errors (at
// the top rates the baseline runs out of file descriptors; its failures
// are counted as "other").
func quietServer(h http.Handler) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Start()
	return srv
}

// rss reads the process's resident set and its peak, in bytes.
func rss() (cur, peak int64) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			cur = kb << 10
		case "VmHWM:":
			peak = kb << 10
		}
	}
	return cur, peak
}

// benchTB is the testing.TB the Cloudflare fake needs outside a test: it
// runs the fake's cleanups at the end and turns a Fatal into an exit. The
// fake calls no other method.
type benchTB struct {
	testing.TB
	cleanups []func()
}

func (b *benchTB) Helper()           {}
func (b *benchTB) Fatal(args ...any) { fail(fmt.Errorf("%s", fmt.Sprint(args...))) }
func (b *benchTB) Cleanup(f func())  { b.cleanups = append(b.cleanups, f) }
func (b *benchTB) cleanup() {
	for _, f := range slices.Backward(b.cleanups) {
		f()
	}
}

func ints(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			fail(fmt.Errorf("rate %q: want a positive integer", f))
		}
		out = append(out, n)
	}
	return out
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "load-bench:", err)
	os.Exit(1)
}

// probeFsync appends 4 KiB to a file in dir and syncs it, n times, every
// gap, and returns the durations, sorted.
func probeFsync(dir string, n int, gap time.Duration) ([]time.Duration, error) {
	f, err := os.CreateTemp(dir, "fsync-probe")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.Remove(f.Name()) }()
	defer func() { _ = f.Close() }()
	buf := make([]byte, 4096)
	d := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		if _, err := f.Write(buf); err != nil {
			return nil, err
		}
		if err := f.Sync(); err != nil {
			return nil, err
		}
		d = append(d, time.Since(start))
		time.Sleep(gap)
	}
	slices.Sort(d)
	return d, nil
}
