package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/purgehook/purgehook/store"
)

// TestSIGTERMLetsRunningJobsFinish sends SIGTERM while a provider call is
// in flight: purgehook stops accepting webhooks at once, the call finishes
// when the provider answers, and the process exits cleanly with nothing
// left to do.
func TestSIGTERMLetsRunningJobsFinish(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	cf, g, apiURL := gatedCloudflare(t, 0)

	dir := t.TempDir()
	addr := freeAddr(t)
	cfgPath := filepath.Join(dir, "purgehook.yaml")
	err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(`
store: {driver: sqlite, dsn: %s/ph.db}
listen: %s
sites: [{name: site, base_url: https://www.site.example}]
sources: [{name: cms, kind: generic, secret: %s}]
providers:
  - {name: cf, kind: cloudflare, zone: %s, token: %s, api_url: %s}
coalesce: 50ms
warm: {disabled: true}
`, dir, addr, secret, cf.Zone(), cf.Token(), apiURL)), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	bin := buildPurgehook(t)
	base := "http://" + addr
	p := startProc(t, bin, cfgPath, filepath.Join(dir, "log"))
	waitReady(t, base)

	if status, _ := send(t, base, publishPayload("x", "/a", "/b")); status != http.StatusAccepted {
		t.Fatalf("status %d", status)
	}
	deadline := time.Now().Add(30 * time.Second)
	for g.held.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no call reached the provider")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	// New webhooks are refused while the running call is waited for.
	deadline = time.Now().Add(10 * time.Second)
	for {
		_, err := http.Get(base + "/healthz")
		if err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("still accepting requests after SIGTERM")
		}
		time.Sleep(20 * time.Millisecond)
	}
	g.release()
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("exit: %v", err)
	}
	if n := len(cf.Accepted()); n != 1 {
		t.Fatalf("%d calls reached Cloudflare, want the one in flight", n)
	}
	st, err := store.Open(context.Background(), "sqlite", filepath.Join(dir, "ph.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	bs := waitBatches(t, st, time.Second)
	if len(bs) != 1 || bs[0].State != store.BatchDone {
		t.Errorf("batches %+v: the in-flight call should have finished before exit", bs)
	}
}
