// Command drills runs purgehook's hostile-input drills against the real
// binary on loopback and writes what it measured to docs/reliability.md:
//
//   - bad input: N requests (default 10,000) spread over every class of
//     bad webhook (unsigned, wrong signature, wrong token, stale signed
//     timestamp, malformed JSON, missing field, too large, wrong
//     Content-Type, unknown source with a long name, invalid UTF-8 in a
//     URL, an over-long delivery id): the status each class got, how many
//     were journaled (must be 0), and the process's RSS and goroutines
//     before and after;
//
//   - SSRF: a purged page that answers 302 to a host no site is configured
//     on: how many requests reached that host (must be 0) and what the
//     batch's warm-ups recorded;
//
//   - scopes: every admin route with no token, a wrong one, and a token of
//     each scope: refused without the scope, answered with it;
//
//   - secrets: every configured secret and token searched for in all the
//     process logged (at debug level) and every answer read (must be 0);
//
//   - crash, SQLite: one serve process SIGKILLed at random moments while
//     deliveries flow, restarted each time: every acknowledged delivery
//     purged (lost must be 0), duplicate calls counted, the budget charged
//     once per planned call;
//
//   - crash, PostgreSQL: three serve processes on one database, one
//     SIGKILLed at a random moment and never restarted: the others rescue
//     its jobs after rescue_after (needs -postgres or
//     PURGEHOOK_TEST_POSTGRES; skipped with a line in the report without);
//
//   - provider faults: Cloudflare (the fake) behind a proxy answering 30%
//     5xx, 429 with Retry-After, resets before and after the purge, and
//     hangs: every acknowledged delivery purged, duplicates counted, the
//     budget never exceeded.
//
//     go run ./bench/drills                 # writes docs/reliability.md
//     go run ./bench/drills -n 2000 -out -  # prints instead
//     go run ./bench/drills -postgres 'postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable'
//
// Everything runs on 127.0.0.1 and ends within a bounded time (5 minutes at
// most; about two on a quiet machine). -seed replays the same random kill
// moments and faults.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/purgehook/purgehook/source/generic"
	"github.com/purgehook/purgehook/source/standard"
)

const (
	secret   = "drill-secret-7c1e"
	token    = "drill-token-3b9a"
	admin    = "drill-admin-5d2f" // the read token the drills use
	purgeTok = "drill-purge-8e4a"
	replayTk = "drill-replay-2c7b"
	adminTok = "drill-root-6f1d"
	stdKey   = "whsec_ZHJpbGwtc3RhbmRhcmQta2V5LTlhMmI="
	maxBody  = 64 << 10
	deadline = 5 * time.Minute
)

func main() {
	var o opts
	flag.IntVar(&o.n, "n", 10000, "bad requests to send")
	flag.StringVar(&o.out, "out", "docs/reliability.md", "where to write the report (- for stdout)")
	flag.StringVar(&o.postgres, "postgres", os.Getenv("PURGEHOOK_TEST_POSTGRES"), "PostgreSQL server URL for the three-process drill (a database is created and dropped on it)")
	flag.Uint64Var(&o.seed, "seed", uint64(time.Now().UnixNano()), "seed of the kill moments and provider faults")
	flag.IntVar(&o.deliveries, "deliveries", 300, "deliveries sent by each crash and fault drill")
	flag.IntVar(&o.kills, "kills", 3, "SIGKILLs in the SQLite crash drill")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "drills:", err)
		os.Exit(1)
	}
}

type opts struct {
	n, deliveries, kills int
	out, postgres        string
	seed                 uint64
}

type service struct {
	cmd  *exec.Cmd
	base string
}

func run(ctx context.Context, o opts) error {
	n, out := o.n, o.out
	dir, err := os.MkdirTemp("", "purgehook-drills-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	bin := filepath.Join(dir, "purgehook")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/purgehook")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build: %w", err)
	}

	// The SSRF drill's hosts: the site, and a host no site is configured on.
	var offSite atomic.Int64
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		offSite.Add(1)
		fmt.Fprint(w, "internal")
	}))
	defer elsewhere.Close()
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/off" {
			http.Redirect(w, r, elsewhere.URL+"/latest/meta-data/", http.StatusFound)
			return
		}
		fmt.Fprint(w, "page")
	}))
	defer site.Close()

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := l.Addr().String()
	l.Close()
	cfg := fmt.Sprintf(`
listen: %s
store: {driver: sqlite, dsn: %s}
admin:
  tokens:
    - {name: reader, secret: %s, scopes: [read]}
    - {name: purger, secret: %s, scopes: [purge]}
    - {name: replayer, secret: %s, scopes: [replay]}
    - {name: root, secret: %s, scopes: [admin]}
sites: [{name: site, base_url: %s}]
sources:
  - {name: cms, kind: generic, secret: %s, site: site, max_body: %d}
  - {name: strapi, kind: strapi, token: %s, site: site}
  - {name: std, kind: standard, secret: %s, site: site}
providers: [{name: dry, kind: log}]
coalesce: 50ms
warm: {concurrency: 2, delay: 1ms, timeout: 2s}
log: {level: debug}
`, addr, filepath.Join(dir, "ph.db"), admin, purgeTok, replayTk, adminTok, site.URL, secret, maxBody, token, stdKey)
	cfgPath := filepath.Join(dir, "purgehook.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return err
	}
	svc := &service{cmd: exec.CommandContext(ctx, bin, "serve", "--config", cfgPath), base: "http://" + addr}
	// Everything the process writes is kept for the secrets scan.
	var logs lockedBuffer
	svc.cmd.Stdout, svc.cmd.Stderr = &logs, &logs
	if err := svc.cmd.Start(); err != nil {
		return err
	}
	defer func() { _ = svc.cmd.Process.Kill(); _ = svc.cmd.Wait() }()
	if err := svc.waitReady(ctx); err != nil {
		return err
	}

	var report bytes.Buffer
	pg := ""
	if o.postgres != "" {
		pg = " -postgres $PURGEHOOK_TEST_POSTGRES"
	}
	fmt.Fprintf(&report, "# Reliability drills\n\nMeasured by `go run ./bench/drills -n %d -deliveries %d -kills %d -seed %d%s` on %s (%s, %d CPUs); every figure below is from that run.\n"+
		"The drills run the real binary on 127.0.0.1: the hostile-input drills against one process with a SQLite store, "+
		"the crash and fault drills each against processes of their own.\n\n",
		n, o.deliveries, o.kills, o.seed, pg, time.Now().UTC().Format("2006-01-02"), strings.TrimSpace(goVersion(ctx)), runtime.NumCPU())
	rng := rand.New(rand.NewPCG(o.seed, 0))
	// Every drill runs and is reported; a drill whose figures are wrong
	// fails the command after the report is written.
	var failed []error
	for _, drill := range []func() error{
		func() error { return badInput(ctx, svc, n, &report) },
		func() error { return ssrf(ctx, svc, site.URL, &offSite, &report) },
		func() error { return scopes(svc, &report) },
		func() error { return secretsScan(&logs, &report) },
		func() error { return crashSQLite(ctx, bin, rng, o.kills, o.deliveries, &report) },
		func() error { return crashPostgres(ctx, bin, o.postgres, rng, o.deliveries, &report) },
		func() error { return faults(ctx, bin, rng, o.deliveries/2, &report) },
	} {
		if err := drill(); err != nil {
			fmt.Fprintln(os.Stderr, "drills:", err)
			failed = append(failed, err)
		}
	}
	if out == "-" {
		_, err = os.Stdout.Write(report.Bytes())
	} else {
		err = os.WriteFile(out, report.Bytes(), 0o644)
	}
	return errors.Join(append(failed, err)...)
}

func goVersion(ctx context.Context) string {
	b, _ := exec.CommandContext(ctx, "go", "env", "GOVERSION").Output()
	return string(b)
}

func (s *service) waitReady(ctx context.Context) error {
	for {
		resp, err := http.Get(s.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return errors.New("purgehook never became ready")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// sample is the process's resident memory and goroutines.
type sample struct {
	rssKB      int
	goroutines int
}

func (s *service) sample() (sample, error) {
	var out sample
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return out, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			out.rssKB, _ = strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		}
	}
	resp, err := http.Get(s.base + "/metrics")
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	sc = bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			out.goroutines, _ = strconv.Atoi(v)
		}
	}
	return out, nil
}

// badClass is one kind of bad webhook and the status it must get.
type badClass struct {
	name string
	want int
	req  func(base string, i int) *http.Request
}

func post(url string, body []byte, hdr map[string]string) *http.Request {
	r, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	return r
}

func signed(body []byte) map[string]string {
	return map[string]string{generic.SignatureHeader: generic.Sign(secret, body)}
}

func payload(i int, extra string) []byte {
	return []byte(fmt.Sprintf(`{"event":"ContentPublished"%s,"content":{"id":"bad-%d","urls":["/p/%d"]}}`, extra, i, i))
}

func classes() []badClass {
	return []badClass{
		{"unsigned", 401, func(b string, i int) *http.Request { return post(b+"/hooks/cms", payload(i, ""), nil) }},
		{"wrong signature", 401, func(b string, i int) *http.Request {
			return post(b+"/hooks/cms", payload(i, ""), map[string]string{generic.SignatureHeader: generic.Sign("guess", payload(i, ""))})
		}},
		{"wrong token", 401, func(b string, i int) *http.Request {
			return post(b+"/hooks/strapi", []byte(`{"event":"entry.publish","model":"a","entry":{"id":1}}`), map[string]string{"Authorization": "Bearer guess"})
		}},
		{"stale signed timestamp", 401, func(b string, i int) *http.Request {
			body := payload(i, `,"timestamp":"2020-01-01T00:00:00Z"`)
			return post(b+"/hooks/cms", body, signed(body))
		}},
		{"malformed JSON", 400, func(b string, i int) *http.Request {
			body := []byte(`{"event":"ContentPublished","content":`)
			return post(b+"/hooks/cms", body, signed(body))
		}},
		{"missing content.id", 400, func(b string, i int) *http.Request {
			body := []byte(`{"event":"ContentPublished","content":{}}`)
			return post(b+"/hooks/cms", body, signed(body))
		}},
		{"invalid UTF-8 in a URL", 400, func(b string, i int) *http.Request {
			body := []byte(fmt.Sprintf(`{"event":"ContentPublished","content":{"id":"u%d","urls":["/p/\xff%d"]}}`, i, i))
			return post(b+"/hooks/cms", body, signed(body))
		}},
		{"over-long delivery id", 400, func(b string, i int) *http.Request {
			id := strings.Repeat("x", 1000)
			body := []byte(`{"type":"page.published","data":{"id":"1","url":"/x"}}`)
			sig, _ := standard.Sign(stdKey, id, time.Now(), body)
			return post(b+"/hooks/std", body, map[string]string{standard.IDHeader: id, standard.TimestampHeader: strconv.FormatInt(time.Now().Unix(), 10), standard.SignatureHeader: sig})
		}},
		{"too large", 413, func(b string, i int) *http.Request {
			body := append([]byte(`{"event":"x","content":{"id":"1","urls":["/`), bytes.Repeat([]byte("a"), maxBody)...)
			return post(b+"/hooks/cms", body, signed(body))
		}},
		{"wrong Content-Type", 415, func(b string, i int) *http.Request {
			body := payload(i, "")
			r := post(b+"/hooks/cms", body, signed(body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}},
		{"unknown source, 4 KB name", 404, func(b string, i int) *http.Request {
			return post(b+"/hooks/"+strings.Repeat("n", 4096), payload(i, ""), nil)
		}},
	}
}

func badInput(ctx context.Context, s *service, n int, w io.Writer) error {
	client := &http.Client{Timeout: 10 * time.Second}
	// River starts its maintenance goroutines a few seconds after the
	// process does: the baseline is taken once the count has held still
	// for three seconds (at most 20s).
	var before sample
	still := 0
	for i := 0; i < 20 && still < 3; i++ {
		time.Sleep(time.Second)
		next, err := s.sample()
		if err != nil {
			return err
		}
		if next.goroutines == before.goroutines {
			still++
		} else {
			still = 0
		}
		before = next
	}
	cs := classes()
	got := make([]map[int]int, len(cs))
	for i := range got {
		got[i] = map[int]int{}
	}
	echo := 0
	start := time.Now()
	for i := range n {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c := i % len(cs)
		resp, err := client.Do(cs[c].req(s.base, i))
		if err != nil {
			got[c][0]++
			continue
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		_, _ = answers.Write(b)
		echo = max(echo, len(b))
		got[c][resp.StatusCode]++
	}
	took := time.Since(start)
	// Close the drill's idle keep-alive connections, whose server-side
	// goroutines are not a leak, and let the server see them go.
	client.CloseIdleConnections()
	http.DefaultClient.CloseIdleConnections()
	var after sample
	var err error
	for range 100 { // at most 10s
		time.Sleep(100 * time.Millisecond)
		if after, err = s.sample(); err != nil {
			return err
		}
		http.DefaultClient.CloseIdleConnections()
		if after.goroutines <= before.goroutines {
			break
		}
	}
	journaled, err := s.deliveries()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "## Bad input\n\n%d requests, %d classes sent in turn, in %s.\n\n| class | want | got |\n| --- | --- | --- |\n", n, len(cs), took.Round(time.Millisecond))
	wrong := 0
	for i, c := range cs {
		var parts []string
		var codes []int
		for code := range got[i] {
			codes = append(codes, code)
		}
		sort.Ints(codes)
		for _, code := range codes {
			parts = append(parts, fmt.Sprintf("%d ×%d", code, got[i][code]))
			if code != c.want {
				wrong += got[i][code]
			}
		}
		fmt.Fprintf(w, "| %s | %d | %s |\n", c.name, c.want, strings.Join(parts, ", "))
	}
	fmt.Fprintf(w, "\n- answers with another status than the class's: **%d**\n- deliveries journaled: **%d**\n- longest answer body: %d bytes\n"+
		"- RSS: %d kB before, %d kB after; goroutines: %d before, %d after\n", wrong, journaled, echo, before.rssKB, after.rssKB, before.goroutines, after.goroutines)
	if wrong > 0 || journaled > 0 {
		return fmt.Errorf("bad input: %d wrong statuses, %d journaled", wrong, journaled)
	}
	return nil
}

func (s *service) get(path string, v any) error {
	req, _ := http.NewRequest(http.MethodGet, s.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func (s *service) deliveries() (int, error) {
	var v struct {
		Deliveries []json.RawMessage `json:"deliveries"`
	}
	err := s.get("/v1/deliveries", &v)
	return len(v.Deliveries), err
}

func ssrf(ctx context.Context, s *service, siteURL string, offSite *atomic.Int64, w io.Writer) error {
	body := []byte(`{"event":"ContentPublished","content":{"id":"ssrf","urls":["/off","/on"]}}`)
	resp, err := http.DefaultClient.Do(post(s.base+"/hooks/cms", body, signed(body)))
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("ssrf: webhook answered %s", resp.Status)
	}
	type warmRow struct {
		URL    string `json:"url"`
		State  string `json:"state"`
		Status int    `json:"status"`
		Error  string `json:"error"`
	}
	var warms []warmRow
	for len(warms) < 2 || warms[0].State == "pending" || warms[1].State == "pending" {
		if ctx.Err() != nil {
			return errors.New("ssrf: the batch never finished warming")
		}
		time.Sleep(100 * time.Millisecond)
		var list struct {
			Batches []struct {
				ID int64 `json:"id"`
			} `json:"batches"`
		}
		if err := s.get("/v1/batches", &list); err != nil || len(list.Batches) == 0 {
			continue
		}
		var b struct {
			Warm []warmRow `json:"warm"`
		}
		if err := s.get(fmt.Sprintf("/v1/batches/%d", list.Batches[0].ID), &b); err == nil {
			warms = b.Warm
		}
	}
	fmt.Fprintf(w, "\n## SSRF\n\nA purged page answers 302 to a host no site is configured on.\n\n| page | warm-up | status | error |\n| --- | --- | --- | --- |\n")
	for _, r := range warms {
		fmt.Fprintf(w, "| %s | %s | %d | %s |\n", strings.TrimPrefix(r.URL, siteURL), r.State, r.Status, r.Error)
	}
	fmt.Fprintf(w, "\n- requests that reached the other host: **%d**\n", offSite.Load())
	if offSite.Load() != 0 {
		return errors.New("ssrf: the other host was fetched")
	}
	return nil
}

// answers keeps every answer body the drills read, for the secrets scan.
var answers lockedBuffer

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// scopes calls every admin route with every kind of token: no token and a
// wrong one get 401, a token without the route's scope 403, one with it
// (or admin) anything else.
func scopes(s *service, w io.Writer) error {
	routes := []struct{ method, path, scope, body string }{
		{"GET", "/v1/deliveries", "read", ""},
		{"GET", "/v1/deliveries/1", "read", ""},
		{"POST", "/v1/deliveries/999999/replay", "replay", ""},
		{"GET", "/v1/batches", "read", ""},
		{"GET", "/v1/batches/1", "read", ""},
		{"GET", "/v1/events", "read", ""},
		{"GET", "/v1/budgets", "read", ""},
		{"POST", "/v1/purge", "purge", "{}"},
		{"GET", "/v1/stream", "read", ""},
	}
	tokens := []struct{ name, secret, scope string }{
		{"none", "", ""}, {"wrong", "guess", ""}, {"read", admin, "read"}, {"purge", purgeTok, "purge"},
		{"replay", replayTk, "replay"}, {"admin", adminTok, "admin"},
	}
	client := &http.Client{Timeout: 5 * time.Second}
	fmt.Fprintf(w, "\n## Admin scopes\n\nEvery route with every kind of token (allowed: the route answered, whatever its status).\n\n| route |")
	for _, t := range tokens {
		fmt.Fprintf(w, " %s |", t.name)
	}
	fmt.Fprintf(w, "\n| --- |%s\n", strings.Repeat(" --- |", len(tokens)))
	wrong := 0
	for _, r := range routes {
		fmt.Fprintf(w, "| %s %s (%s) |", r.method, r.path, r.scope)
		for _, t := range tokens {
			req, _ := http.NewRequest(r.method, s.base+r.path, strings.NewReader(r.body))
			if t.secret != "" {
				req.Header.Set("Authorization", "Bearer "+t.secret)
			}
			resp, err := client.Do(req)
			if err != nil {
				return fmt.Errorf("scopes: %s %s: %w", r.method, r.path, err)
			}
			if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
				b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
				_, _ = answers.Write(b)
			}
			resp.Body.Close()
			// A token without the scope is refused: 403 on the API, 401 on
			// the stream (whose hub only asks "allowed?"). A refusal with
			// the other code is noted; an answer where a refusal is due, or
			// a refusal where an answer is, counts as wrong.
			want := "allowed"
			switch {
			case t.scope == "":
				want = "401"
			case t.scope != r.scope && t.scope != "admin":
				want = "403"
			}
			got := "allowed"
			if resp.StatusCode == 401 || resp.StatusCode == 403 {
				got = strconv.Itoa(resp.StatusCode)
			}
			switch {
			case got == want:
			case got != "allowed" && want != "allowed":
				got += " (refused; the API says " + want + ")"
			default:
				wrong++
				got += " (WRONG: want " + want + ")"
			}
			fmt.Fprintf(w, " %s |", got)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "\n- a route answered without the scope, or refused with it: **%d**\n", wrong)
	if wrong > 0 {
		return fmt.Errorf("scopes: %d wrong answers", wrong)
	}
	return nil
}

// secretsScan looks for every configured secret in everything the process
// logged (at debug level) and every answer the drills read.
func secretsScan(logs *lockedBuffer, w io.Writer) error {
	logText, answerText := logs.String(), answers.String()
	found := 0
	secrets := []string{secret, token, admin, purgeTok, replayTk, adminTok, stdKey, strings.TrimPrefix(stdKey, "whsec_"), "drill-standard-key-9a2b"}
	for _, sec := range secrets {
		found += strings.Count(logText, sec) + strings.Count(answerText, sec)
	}
	fmt.Fprintf(w, "\n## Secrets\n\n%d bytes of logs (level debug) and %d bytes of answers searched for the %d configured secrets and tokens: **%d** found.\n",
		len(logText), len(answerText), len(secrets), found)
	if found > 0 {
		return fmt.Errorf("secrets: %d found", found)
	}
	return nil
}
