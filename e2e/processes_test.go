package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/purgehook/purgehook/budget"
	"github.com/purgehook/purgehook/internal/pgtest"
	"github.com/purgehook/purgehook/store"
)

const streamToken = "stream-read-token-4e1a"

// follower reads one replica's /v1/stream and says whether its first
// invalidation came before any heartbeat: a replica that only reads the
// shared log at heartbeats sends ": heartbeat" first.
type follower struct {
	first chan followed
}

type followed struct {
	data           string
	afterHeartbeat bool
	at             time.Time
	err            error
}

func follow(t *testing.T, base string) *follower {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/stream", nil)
	req.Header.Set("Authorization", "Bearer "+streamToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		cancel()
		t.Fatalf("GET %s/v1/stream: %s", base, resp.Status)
	}
	f := &follower{first: make(chan followed, 1)}
	ready := make(chan struct{})
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		heartbeat, event := false, false
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "id: ") && !event:
				// The id-only message every new follower is sent first:
				// it is now subscribed.
				select {
				case <-ready:
				default:
					close(ready)
				}
			case line == ": heartbeat":
				heartbeat = true
			case line == "event: invalidate":
				event = true
			case event && strings.HasPrefix(line, "data: "):
				f.first <- followed{data: strings.TrimPrefix(line, "data: "), afterHeartbeat: heartbeat, at: time.Now()}
				return
			}
		}
		err := sc.Err()
		if err == nil {
			err = io.EOF
		}
		f.first <- followed{err: fmt.Errorf("stream of %s ended: %w", base, err)}
	}()
	t.Cleanup(cancel)
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s/v1/stream sent no first id", base)
	}
	return f
}

// TestThreeProcessesOnPostgres runs three purgehook serve processes on one
// PostgreSQL database. A follower of each replica's /v1/stream hears of an
// invalidation made by whichever replica ran the call before the edge is
// purged and before any heartbeat (LISTEN/NOTIFY, not polling); then one
// process is SIGKILLed while every worker is inside a provider call and is
// never restarted: the other two rescue its jobs after rescue_after and
// purge every accepted delivery, within the budget, charging each call once.
func TestThreeProcessesOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	started := time.Now()
	dsn := pgtest.DSN(t)
	cf, g, apiURL := gatedCloudflare(t, 0)
	bin := buildPurgehook(t)
	dir := t.TempDir()
	const workers, budgetPerDay = 2, 1000
	var bases []string
	var procs []*proc
	var logs []string
	for i := range 3 {
		addr := freeAddr(t)
		cfgPath := writeFile(t, fmt.Sprintf("purgehook-%d.yaml", i), fmt.Sprintf(`
store: {driver: postgres, dsn: "%s"}
listen: %s
admin: {tokens: [{name: apps, secret: %s, scopes: [read]}]}
sites:
  - {name: site, base_url: https://www.site.example}
sources:
  - {name: cms, kind: generic, secret: %s, site: site}
providers:
  - {name: apps, kind: app, stream: true}
  - {name: cf, kind: cloudflare, zone: %s, token: %s, api_url: %s,
     limits: {files_per_call: 5}, budget: {calls_per_day: %d}, covers: []}
coalesce: 100ms
warm: {disabled: true}
queue: {workers: %d, job_timeout: 5s, rescue_after: 6s}
`, dsn, addr, streamToken, secret, cf.Zone(), cf.Token(), apiURL, budgetPerDay, workers))
		logs = append(logs, filepath.Join(dir, fmt.Sprintf("purgehook-%d.log", i)))
		procs = append(procs, startProc(t, bin, cfgPath, logs[i]))
		bases = append(bases, "http://"+addr)
	}
	for _, b := range bases {
		waitReady(t, b)
	}
	dump := func() string {
		var out strings.Builder
		for i, l := range logs {
			b, _ := os.ReadFile(l)
			fmt.Fprintf(&out, "--- replica %d\n%s\n", i, tail(string(b), 25))
		}
		return out.String()
	}

	// 1. A follower on every replica; one delivery to the first.
	var fs []*follower
	for _, b := range bases {
		fs = append(fs, follow(t, b))
	}
	sent := time.Now()
	if status, _ := send(t, bases[0], publishPayload("first", "/news/first")); status != http.StatusAccepted {
		t.Fatalf("first delivery: %d", status)
	}
	var delays []time.Duration
	for i, f := range fs {
		select {
		case got := <-f.first:
			if got.err != nil {
				t.Fatal(got.err)
			}
			if got.afterHeartbeat {
				t.Errorf("replica %d's follower heard of the invalidation only after a heartbeat", i)
			}
			if !strings.Contains(got.data, "/news/first") {
				t.Errorf("replica %d's follower got %s", i, got.data)
			}
			delays = append(delays, got.at.Sub(sent))
		case <-time.After(60 * time.Second):
			t.Fatalf("replica %d's follower heard nothing\n%s", i, dump())
		}
	}
	// The gate has let no Cloudflare call through: the edge is purged
	// after the application layer, never before.
	if n := len(cf.Accepted()); n != 0 {
		t.Errorf("%d Cloudflare calls made before every follower heard", n)
	}
	t.Logf("measured: webhook accepted → invalidation heard by a follower of each replica in %v", delays)

	// 2. Deliveries spread over the three replicas.
	accepted, want := publishMany(t, bases, 150, 8)
	accepted++ // the first, above
	want["https://www.site.example/news/first"] = true
	if accepted != 151 {
		t.Fatalf("%d of 151 deliveries accepted", accepted)
	}

	// 3. Once every worker of every replica is inside a Cloudflare call,
	// kill the third replica; it is never restarted. Its held calls fail
	// (their client is gone) and the others' go through.
	deadline := time.Now().Add(60 * time.Second)
	for g.held.Load() < 3*workers {
		if time.Now().After(deadline) {
			t.Fatalf("only %d calls reached the provider\n%s", g.held.Load(), dump())
		}
		time.Sleep(20 * time.Millisecond)
	}
	victim := procs[2]
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var exit *exec.ExitError
	if err := victim.cmd.Wait(); !errors.As(err, &exit) {
		t.Fatalf("wait after SIGKILL: %v", err)
	}
	killed := time.Now()
	g.dropHeld.Store(true)
	g.release()

	deadline = time.Now().Add(3 * time.Minute)
	for {
		got := purged(cf)
		missing := 0
		for u := range want {
			if !got[u] {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d URLs never purged after the kill\n%s", missing, len(want), dump())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("measured: all %d URLs of %d deliveries purged %s after one of three replicas was killed", len(want), accepted, time.Since(killed).Round(time.Millisecond))

	ctx := context.Background()
	st, err := store.Open(ctx, store.Postgres, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	bs := waitBatches(t, st, time.Minute)
	for _, b := range bs {
		if b.State != store.BatchDone {
			t.Errorf("batch %d is %s: %s", b.ID, b.State, b.Error)
		}
	}
	if n, _ := st.DeliveryCount(ctx); n != accepted {
		t.Errorf("%d deliveries journaled, %d accepted", n, accepted)
	}
	// The killed replica's running jobs were rescued by the others.
	var rescued int
	for _, j := range listJobs(t, st, river.NewJobListParams()) {
		for _, e := range j.Errors {
			if strings.Contains(e.Error, "rescued") {
				rescued++
				break
			}
		}
	}
	if rescued == 0 {
		t.Error("no job was rescued: the kill caught no running job, so the test did not test a rescue")
	}
	spent := 0
	days, err := st.BudgetSpent(ctx, "cf", budget.WindowAt(started).Day)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range days {
		spent += n
	}
	all, err := st.CallList(ctx, 0, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	cfCalls := 0
	for _, c := range all {
		if c.Provider == "cf" {
			cfCalls++
		}
	}
	if spent > budgetPerDay || spent != cfCalls {
		t.Errorf("budget spent %d of %d, Cloudflare calls planned %d: every call is charged once, within the budget", spent, budgetPerDay, cfCalls)
	}
	// A call made twice (its answer lost with the process that made it)
	// purges the same items again.
	keys := map[string]int{}
	for _, c := range cf.Accepted() {
		items := slices.Clone(c.Items)
		slices.Sort(items)
		keys[strings.Join(items, " ")]++
	}
	t.Logf("measured: %d jobs rescued; %d Cloudflare calls planned and charged, %d purges made (%d distinct calls)", rescued, spent, len(cf.Accepted()), len(keys))
}
