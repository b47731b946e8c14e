package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/purgehook/purgehook/cli"
	"github.com/purgehook/purgehook/purger/cloudflare/cloudflaretest"
)

func runCLI(t *testing.T, args ...string) (int, string) {
	t.Helper()
	// One writer for stdout and stderr, as a terminal is: purge --direct's
	// pipeline logs to stderr from its job goroutines while the command
	// prints progress to stdout, so the buffer takes a lock (os.File does).
	var out syncBuffer
	code := cli.Execute(context.Background(), args, &out, &out)
	return code, out.String()
}

func TestCLIPurgeStatusReplay(t *testing.T) {
	cf := cloudflaretest.NewServer(t, cloudflaretest.Options{})
	o := newOrigin(t)
	s := startService(t, fmt.Sprintf(`
store: {driver: sqlite, dsn: $DIR/ph.db}
admin:
  tokens:
    - {name: ci, secret: ci-secret-token, scopes: [purge]}
    - {name: ci-other, secret: other-secret-token, scopes: [purge]}
    - {name: ops, secret: ops-secret-token, scopes: [read, replay]}
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
	// The purge token follows its own purge, not anyone else's, and reads
	// nothing else.
	if code, m := api(t, "GET", s.hooks.URL+"/v1/deliveries/1/progress", "other-secret-token", ""); code != 403 || !strings.Contains(fmt.Sprint(m["error"]), "did not make delivery 1") {
		t.Errorf("another purge token following delivery 1: %d %v", code, m)
	}
	if code, _ := api(t, "GET", s.hooks.URL+"/v1/deliveries/1", "ci-secret-token", ""); code != 403 {
		t.Errorf("purge token reading a delivery: %d", code)
	}
	code, out = runCLI(t, "status", "--server", s.hooks.URL, "--token", "ci-secret-token")
	if code != 2 || !strings.Contains(out, "lacks the read scope") {
		t.Errorf("status with a purge token: exit %d\n%s", code, out)
	}
	t.Setenv("PURGEHOOK_TOKEN", "ops-secret-token")
	code, out = runCLI(t, "status", "--server", s.hooks.URL)
	if code != 0 || !strings.Contains(out, "48 of 50") || !strings.Contains(out, "done") {
		t.Errorf("status: exit %d\n%s", code, out)
	}
	code, out = runCLI(t, "replay", "--server", s.hooks.URL, "--wait", "1")
	if code != 0 || len(cf.Accepted()) != 4 {
		t.Errorf("replay: exit %d, %d calls\n%s", code, len(cf.Accepted()), out)
	}
	code, out = runCLI(t, "purge", "--server", s.hooks.URL, "--token", "nope", "--url", "/")
	if code != 2 || !strings.Contains(out, "401") {
		t.Errorf("bad token: exit %d\n%s", code, out)
	}
	code, out = runCLI(t, "purge", "--server", s.hooks.URL)
	if code != 2 || !strings.Contains(out, "nothing to purge") {
		t.Errorf("empty: exit %d\n%s", code, out)
	}
	code, out = runCLI(t, "purge", "--server", s.hooks.URL, "--token", "ci-secret-token", "--url", "https://elsewhere.example/x")
	if code != 2 || !strings.Contains(out, "400 nothing to purge") {
		t.Errorf("every target dropped: exit %d\n%s", code, out)
	}
}

// --json prints one object a CI step can parse, with the outcome after
// --wait; nothing else goes to stdout.
func TestCLIJSON(t *testing.T) {
	cf := cloudflaretest.NewServer(t, cloudflaretest.Options{})
	o := newOrigin(t)
	s := startService(t, fmt.Sprintf(`
store: {driver: sqlite, dsn: $DIR/ph.db}
admin:
  tokens:
    - {name: ci, secret: ci-secret-token, scopes: [purge]}
    - {name: ops, secret: ops-secret-token, scopes: [read, replay]}
sites:
  - {name: site, base_url: %s}
sources:
  - {name: cms, kind: generic, secret: %s}
providers:
  - {name: cf, kind: cloudflare, zone: %s, token: %s, api_url: %s, budget: {calls_per_day: 50}}
coalesce: 50ms
warm: {delay: 1ms}
`, o.URL, secret, cf.Zone(), cf.Token(), cf.APIURL()))
	base := s.hooks.URL
	type outcome struct {
		Delivery int64 `json:"delivery"`
		Targets  []struct {
			Kind  string `json:"kind"`
			Value string `json:"value"`
		} `json:"targets"`
		Dropped []json.RawMessage `json:"dropped"`
		State   string            `json:"state"`
		Batches []struct {
			ID        int64  `json:"id"`
			State     string `json:"state"`
			Calls     int    `json:"calls"`
			CallsDone int    `json:"calls_done"`
			Warm      int    `json:"warm"`
			Warmed    int    `json:"warmed"`
		} `json:"batches"`
		Events []json.RawMessage `json:"events"`
	}
	parse := func(what, out string) outcome {
		t.Helper()
		var v outcome
		dec := json.NewDecoder(strings.NewReader(out))
		if err := dec.Decode(&v); err != nil || dec.More() {
			t.Fatalf("%s: not one JSON object (%v):\n%s", what, err, out)
		}
		return v
	}

	code, out := runCLI(t, "purge", "--server", base, "--token", "ci-secret-token", "--url", "/en/", "--url", "/pt/", "--json", "--wait")
	v := parse("purge --wait", out)
	if code != 0 || v.Delivery != 1 || len(v.Targets) != 2 || v.State != "done" || len(v.Batches) != 1 || len(v.Events) == 0 {
		t.Fatalf("purge --json --wait: exit %d %+v", code, v)
	}
	if b := v.Batches[0]; b.State != "done" || b.Calls != 1 || b.CallsDone != 1 || b.Warm != 2 || b.Warmed != 2 {
		t.Errorf("batch progress %+v", b)
	}
	code, out = runCLI(t, "purge", "--server", base, "--token", "ci-secret-token", "--tag", "t", "--json")
	if v := parse("purge", out); code != 0 || v.Delivery != 2 || v.State != "" || v.Batches != nil {
		t.Errorf("purge --json: exit %d %+v", code, v)
	}

	// The tag purge was not waited for: let its call be made before the
	// fake is told to refuse the next one, which must be the replay's.
	for deadline := time.Now().Add(30 * time.Second); len(cf.Accepted()) < 2; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the tag purge's call was never made: %d calls", len(cf.Accepted()))
		}
	}
	// Cloudflare refuses one of the replay's two URLs: the call is
	// bisected, the other URL purged, and the delivery fails.
	cf.Refuse(o.URL + "/pt/")
	code, out = runCLI(t, "replay", "--server", base, "--token", "ops-secret-token", "--json", "--wait", "1")
	var r struct {
		Delivery int64             `json:"delivery"`
		Replayed bool              `json:"replayed"`
		State    string            `json:"state"`
		Batches  []json.RawMessage `json:"batches"`
		Events   []json.RawMessage `json:"events"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || code != 1 || r.Delivery != 1 || !r.Replayed || r.State != "failed" || len(r.Batches) != 1 {
		t.Errorf("replay failing: exit %d %+v %v\n%s", code, r, err, out)
	}

	code, out = runCLI(t, "status", "--server", base, "--token", "ops-secret-token", "--json")
	var st struct {
		Budgets []struct {
			Provider string `json:"provider"`
			Spent    int    `json:"spent"`
		} `json:"budgets"`
		Batches []struct {
			State string `json:"state"`
		} `json:"batches"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || code != 0 || len(st.Budgets) != 1 || st.Budgets[0].Provider != "cf" || len(st.Batches) < 2 {
		t.Errorf("status --json: exit %d %+v %v\n%s", code, st, err, out)
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
