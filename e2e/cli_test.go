package e2e

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/purgehook/purgehook/cli"
	"github.com/purgehook/purgehook/purger/cloudflare/cloudflaretest"
)

func runCLI(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	code := cli.Execute(context.Background(), args, &out, &out)
	return code, out.String()
}

func TestCLIPurgeStatusReplay(t *testing.T) {
	cf := cloudflaretest.NewServer(t, cloudflaretest.Options{})
	o := newOrigin(t)
	s := startService(t, fmt.Sprintf(`
store: {driver: sqlite, dsn: $DIR/ph.db}
admin: {tokens: [{name: ci, secret: ci-secret-token, scopes: [purge, read, replay]}]}
sites:
  - {name: site, base_url: %s}
sources:
  - {name: cms, kind: generic, secret: %s}
providers:
  - {name: cf, kind: cloudflare, zone: %s, token: %s, api_url: %s, budget: {calls_per_day: 50}}
coalesce: 50ms
warm: {delay: 1ms}
`, o.URL, secret, cf.Zone(), cf.Token(), cf.APIURL()))
	t.Setenv("PURGEHOOK_TOKEN", "ci-secret-token")

	code, out := runCLI(t, "purge", "--server", s.hooks.URL, "--tag", "module:heroSlider", "--url", "/en/", "--reason", "deploy 1.4.2", "--wait")
	if code != 0 || !strings.Contains(out, "queued delivery 1: 2 target(s)") || !strings.Contains(out, "done") {
		t.Fatalf("purge: exit %d\n%s", code, out)
	}
	if o.warmed("/en/") != 1 {
		t.Errorf("/en/ warmed %d times", o.warmed("/en/"))
	}
	code, out = runCLI(t, "status", "--server", s.hooks.URL)
	if code != 0 || !strings.Contains(out, "48 of 50") || !strings.Contains(out, "done") {
		t.Errorf("status: exit %d\n%s", code, out)
	}
	code, out = runCLI(t, "replay", "--server", s.hooks.URL, "--wait", "1")
	if code != 0 || len(cf.Accepted()) != 4 {
		t.Errorf("replay: exit %d, %d calls\n%s", code, len(cf.Accepted()), out)
	}
	code, out = runCLI(t, "purge", "--server", s.hooks.URL, "--token", "nope", "--url", "/")
	if code != 1 || !strings.Contains(out, "401") {
		t.Errorf("bad token: exit %d\n%s", code, out)
	}
	code, out = runCLI(t, "purge", "--server", s.hooks.URL)
	if code != 1 || !strings.Contains(out, "nothing to purge") {
		t.Errorf("empty: exit %d\n%s", code, out)
	}
}

func TestCLIPurgeDirect(t *testing.T) {
	cf := cloudflaretest.NewServer(t, cloudflaretest.Options{})
	cfg := writeFile(t, "c.yaml", fmt.Sprintf(`
sites: [{name: site, base_url: https://www.site.example}]
sources: [{name: cms, kind: generic, secret: x}]
providers:
  - {name: cf, kind: cloudflare, zone: %s, token: %s, api_url: %s, limits: {files_per_call: 2}}
`, cf.Zone(), cf.Token(), cf.APIURL()))
	code, out := runCLI(t, "purge", "--direct", "--config", cfg, "--url", "/a", "--url", "/b", "--url", "/c", "--tag", "t")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if n := len(cf.Accepted()); n != 3 {
		t.Errorf("%d calls, want 2 for files and 1 for tags\n%s", n, out)
	}
}

// TestEmergencyPurgeEverythingPastTheBudget: once the day's budget is
// spent, an admin's purge of everything still goes at once (Umbraco guide
// §8.3), recorded as overdraft, and each site's warm list is fetched; a
// token with only the purge scope waits for the next window like any
// other change.
func TestEmergencyPurgeEverythingPastTheBudget(t *testing.T) {
	cf := cloudflaretest.NewServer(t, cloudflaretest.Options{})
	o := newOrigin(t)
	s := startService(t, fmt.Sprintf(`
store: {driver: sqlite, dsn: $DIR/ph.db}
admin:
  tokens:
    - {name: ops, secret: ops-secret-token, scopes: [admin]}
    - {name: ci, secret: ci-secret-token, scopes: [purge, read]}
sites:
  - {name: site, base_url: %s, warm: [/, /en/]}
sources:
  - {name: cms, kind: generic, secret: %s}
providers:
  - {name: cf, kind: cloudflare, zone: %s, token: %s, api_url: %s,
     budget: {calls_per_day: 1}, on_budget_exhausted: wait}
coalesce: 50ms
warm: {delay: 1ms}
`, o.URL, secret, cf.Zone(), cf.Token(), cf.APIURL()))

	// Spend the day's one call.
	code, out := runCLI(t, "purge", "--server", s.hooks.URL, "--token", "ci-secret-token", "--url", "/a", "--wait")
	if code != 0 || len(cf.Accepted()) != 1 {
		t.Fatalf("first purge: exit %d, %d calls\n%s", code, len(cf.Accepted()), out)
	}
	// The purge scope alone: planned, but deferred to the next window.
	code, out = runCLI(t, "purge", "--server", s.hooks.URL, "--token", "ci-secret-token", "--everything")
	if code != 0 {
		t.Fatalf("purge scope: exit %d\n%s", code, out)
	}
	// The admin's emergency: sent now.
	code, out = runCLI(t, "purge", "--server", s.hooks.URL, "--token", "ops-secret-token", "--everything", "--wait", "--timeout", "30s")
	if code != 0 || !strings.Contains(out, "(overdraft)") {
		t.Fatalf("emergency: exit %d\n%s", code, out)
	}
	calls := cf.Accepted()
	if len(calls) != 2 {
		t.Fatalf("%d calls made, want 2 (the deferred one waits for tomorrow)", len(calls))
	}
	if o.warmed("/") != 1 || o.warmed("/en/") != 1 {
		t.Errorf("warm list fetched %d and %d times, want once each", o.warmed("/"), o.warmed("/en/"))
	}
}
