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
