package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/purgehook/purgehook/purger/cloudflare/cloudflaretest"
	"github.com/purgehook/purgehook/store"
)

// gate passes the first n requests to the fake and holds the rest until
// opened, so that the test can kill purgehook while calls are in flight
// without depending on timing.
type gate struct {
	passed, held atomic.Int64
	n            int64
	open         chan struct{}
	once         sync.Once
	// dropHeld makes held requests fail when released: their client was
	// killed, and letting them through would count purges nobody made.
	dropHeld atomic.Bool
}

func (g *gate) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-g.open:
		default:
			if g.passed.Add(1) > g.n {
				g.held.Add(1)
				<-g.open
				if g.dropHeld.Load() {
					http.Error(w, "client gone", http.StatusServiceUnavailable)
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (g *gate) release() { g.once.Do(func() { close(g.open) }) }

// gatedCloudflare starts the Cloudflare fake behind a gate that passes the
// first n calls; it returns the api_url to configure.
func gatedCloudflare(t *testing.T, n int64) (*cloudflaretest.Server, *gate, string) {
	t.Helper()
	cf := cloudflaretest.NewServer(t, cloudflaretest.Options{})
	target, _ := url.Parse(cf.APIURL())
	g := &gate{n: n, open: make(chan struct{})}
	proxy := httptest.NewServer(g.wrap(httputil.NewSingleHostReverseProxy(&url.URL{Scheme: target.Scheme, Host: target.Host})))
	t.Cleanup(proxy.Close)
	t.Cleanup(g.release)
	return cf, g, proxy.URL + target.Path
}

func buildPurgehook(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "purgehook")
	cmd := exec.Command("go", "build", "-o", bin, "../cmd/purgehook")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

type proc struct {
	cmd *exec.Cmd
	log *os.File
}

func startProc(t *testing.T, bin, cfgPath, logPath string) *proc {
	t.Helper()
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, log: f}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			// The test ended without stopping it. Kill fails only when
			// the process has exited already, and Wait then reports how;
			// neither is news to a test that is over.
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		f.Close()
	})
	return p
}

func waitReady(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("purgehook did not become ready")
}

func TestCrashMidProcessingLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	// covers: [] keeps the calls to URLs (the cost model would purge the
	// batch's directories instead), so that calls are in flight to kill.
	cf, g, apiURL := gatedCloudflare(t, 5)

	dir := t.TempDir()
	addr := freeAddr(t)
	cfgPath := filepath.Join(dir, "purgehook.yaml")
	err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(`
store: {driver: sqlite, dsn: %s/ph.db}
listen: %s
sites:
  - {name: site, base_url: https://www.site.example}
sources:
  - {name: cms, kind: generic, secret: %s, site: site}
providers:
  - {name: cf, kind: cloudflare, zone: %s, token: %s, api_url: %s, limits: {files_per_call: 5}, covers: []}
coalesce: 200ms
warm: {disabled: true}
queue: {workers: 4}
`, dir, addr, secret, cf.Zone(), cf.Token(), apiURL)), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	bin := buildPurgehook(t)
	logPath := filepath.Join(dir, "purgehook.log")
	base := "http://" + addr

	p := startProc(t, bin, cfgPath, logPath)
	waitReady(t, base)

	// 200 deliveries, 2 URLs each, sent 10 at a time.
	accepted, want := publishMany(t, []string{base}, 200, 10)
	if accepted != 200 {
		t.Fatalf("%d of 200 deliveries accepted", accepted)
	}

	// Kill once calls are in flight: 5 went through, at least one is held.
	deadline := time.Now().Add(30 * time.Second)
	for g.held.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no call reached the provider")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var exit *exec.ExitError
	if err := p.cmd.Wait(); !errors.As(err, &exit) {
		t.Fatalf("wait after SIGKILL: %v", err)
	}
	before := len(purged(cf))
	if before >= len(want) {
		t.Fatalf("everything was purged before the kill (%d URLs): the test did not test a crash", before)
	}
	t.Logf("killed with %d of %d URLs purged, %d calls held", before, len(want), g.held.Load())
	g.dropHeld.Store(true)
	g.release()

	// Restart on the same store; every accepted URL must be purged.
	start := time.Now()
	p = startProc(t, bin, cfgPath, logPath)
	waitReady(t, base)
	deadline = time.Now().Add(60 * time.Second)
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
			log, _ := os.ReadFile(logPath)
			t.Fatalf("%d URLs never purged after restart\n%s", missing, tail(string(log), 40))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("measured: all %d URLs purged %s after restart; %d calls in total", len(want), time.Since(start).Round(time.Millisecond), len(cf.Accepted()))

	// Stop gracefully, then check the journal.
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("exit: %v", err)
	}
	st, err := store.Open(context.Background(), "sqlite", filepath.Join(dir, "ph.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n, _ := st.DeliveryCount(context.Background())
	if n != 200 {
		t.Errorf("%d deliveries journaled, want 200", n)
	}
	bs := waitBatches(t, st, time.Second)
	for _, b := range bs {
		if b.State != store.BatchDone {
			t.Errorf("batch %d is %s: %s", b.ID, b.State, b.Error)
		}
	}
}

func purged(cf *cloudflaretest.Server) map[string]bool {
	got := map[string]bool{}
	for _, c := range cf.Accepted() {
		for _, it := range c.Items {
			got[it] = true
		}
	}
	return got
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
