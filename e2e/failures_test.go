package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/purgehook/purgehook/purger/cloudflare/cloudflaretest"
	"github.com/purgehook/purgehook/purger/purgertest"
	"github.com/purgehook/purgehook/store"
)

// An operator finds a failed call with `purgehook failures` and makes it
// again with `purgehook retry`: the layer that failed is purged, then the
// outer layer and the warm-up, without the delivery being replayed.
func TestCLIFailuresAndRetry(t *testing.T) {
	inner := cloudflaretest.NewServer(t, cloudflaretest.Options{})
	outer := cloudflaretest.NewServer(t, cloudflaretest.Options{Zone: "0b2c0e5f4ecef8ad9ca31a8372d0c999"})
	o := newOrigin(t)
	s := startService(t, fmt.Sprintf(`
store: {driver: sqlite, dsn: $DIR/ph.db}
admin:
  tokens:
    - {name: ci, secret: ci-secret-token, scopes: [purge, read]}
    - {name: ops, secret: ops-secret-token, scopes: [read, replay]}
sites:
  - {name: site, base_url: %s}
sources:
  - {name: cms, kind: generic, secret: %s}
providers:
  - {name: inner, kind: cloudflare, layer: origin, zone: %s, token: %s, api_url: %s}
  - {name: outer, kind: cloudflare, layer: edge, zone: %s, token: %s, api_url: %s}
coalesce: 50ms
warm: {delay: 1ms}
`, o.URL, secret, inner.Zone(), inner.Token(), inner.APIURL(), outer.Zone(), outer.Token(), outer.APIURL()))
	base := s.hooks.URL

	code, out := runCLI(t, "failures", "--server", base, "--token", "ops-secret-token")
	if code != 0 || !strings.Contains(out, "no failures") {
		t.Fatalf("failures before any: exit %d\n%s", code, out)
	}

	inner.FailNext(purgertest.ClientError)
	code, out = runCLI(t, "purge", "--server", base, "--token", "ci-secret-token", "--url", "/en/", "--wait")
	if code != 1 || !strings.Contains(out, inner.ClientErrorMessage()) {
		t.Fatalf("purge with the inner layer refusing: exit %d\n%s", code, out)
	}
	if n := len(outer.Calls()); n != 0 || o.warmed("/en/") != 0 {
		t.Fatalf("outer layer called %d times, /en/ warmed %d times over a failed inner layer", n, o.warmed("/en/"))
	}

	code, out = runCLI(t, "failures", "--server", base, "--token", "ops-secret-token")
	if code != 0 || !strings.Contains(out, "inner") || !strings.Contains(out, inner.ClientErrorMessage()) || !strings.Contains(out, "url ×1") {
		t.Fatalf("failures: exit %d\n%s", code, out)
	}
	code, out = runCLI(t, "failures", "--server", base, "--token", "ops-secret-token", "--json")
	var f struct {
		Calls []struct {
			ID       int64  `json:"id"`
			Batch    int64  `json:"batch"`
			Provider string `json:"provider"`
			Error    string `json:"error"`
		} `json:"calls"`
		Jobs []json.RawMessage `json:"jobs"`
	}
	if err := json.Unmarshal([]byte(out), &f); code != 0 || err != nil || len(f.Calls) != 1 || f.Calls[0].Provider != "inner" || len(f.Jobs) != 0 {
		t.Fatalf("failures --json: exit %d %v\n%s", code, err, out)
	}
	call := f.Calls[0]

	// The purge-only token cannot retry.
	code, out = runCLI(t, "retry", "--server", base, "--token", "ci-secret-token", fmt.Sprint(call.ID))
	if code == 0 || !strings.Contains(out, "lacks the replay scope") {
		t.Errorf("retry with a purge token: exit %d\n%s", code, out)
	}
	code, out = runCLI(t, "retry", "--server", base, "--token", "ops-secret-token", fmt.Sprint(call.ID))
	if code != 0 || !strings.Contains(out, fmt.Sprintf("call %d retried as call ", call.ID)) {
		t.Fatalf("retry: exit %d\n%s", code, out)
	}
	b := waitBatchState(t, s.Store, call.Batch, 30*time.Second)
	if b.State != store.BatchDone {
		t.Fatalf("batch after the retry: %+v", b)
	}
	if n := len(inner.Accepted()); n != 1 {
		t.Errorf("inner layer: %d accepted calls, want the retry's one", n)
	}
	if n := len(outer.Accepted()); n != 1 {
		t.Errorf("outer layer: %d accepted calls after the retry, want 1", n)
	}
	if o.warmed("/en/") != 1 {
		t.Errorf("/en/ warmed %d times after the retry, want 1", o.warmed("/en/"))
	}
	if ds, _ := s.Store.DeliveryList(t.Context(), 10); len(ds) != 1 {
		t.Errorf("%d deliveries: a retry is not a new delivery", len(ds))
	}

	// A call retried is no longer a failure, nor retried twice.
	code, out = runCLI(t, "retry", "--server", base, "--token", "ops-secret-token", fmt.Sprint(call.ID))
	if code == 0 || !strings.Contains(out, "409") || !strings.Contains(out, "not failed") {
		t.Errorf("second retry: exit %d\n%s", code, out)
	}
	code, out = runCLI(t, "retry", "--server", base, "--token", "ops-secret-token", "--all")
	if code != 0 || !strings.Contains(out, "no failures") {
		t.Errorf("retry --all with nothing failed: exit %d\n%s", code, out)
	}
	for path, want := range map[string]int{"/v1/calls/999/retry": 404, "/v1/calls/abc/retry": 400, "/v1/jobs/999/retry": 404, "/v1/jobs/0/retry": 400} {
		if code, m := api(t, "POST", base+path, "ops-secret-token", ""); code != want || m["error"] == "" {
			t.Errorf("POST %s: %d %v, want %d with a reason", path, code, m, want)
		}
	}
	if code, _ := api(t, "GET", base+"/v1/failures", "", ""); code != 401 {
		t.Errorf("failures without a token: %d", code)
	}
	// The audit log says who purged and who retried, newest first.
	code, m := api(t, "GET", base+"/v1/audit", "ops-secret-token", "")
	entries, _ := m["audit"].([]any)
	var got []string
	for _, e := range entries {
		a := e.(map[string]any)
		got = append(got, fmt.Sprintf("%s %s %s", a["token"], a["action"], a["detail"]))
	}
	want := []string{
		"ops retry all 0 call(s), 0 job(s), 0 not retried",
		fmt.Sprintf("ops retry call %d as call %d", call.ID, call.ID+1),
		"ci purge delivery 1: 1 url(s) /en/",
	}
	if code != 200 || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit: %d\n%s\nwant\n%s", code, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	code, out = runCLI(t, "retry", "--server", base, "--token", "ops-secret-token")
	if code == 0 || !strings.Contains(out, "give call ids, --job ids, or --all") {
		t.Errorf("retry without ids: exit %d\n%s", code, out)
	}
}

// waitBatchState waits until a batch is done or failed.
func waitBatchState(t *testing.T, st *store.Store, id int64, timeout time.Duration) store.Batch {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b, err := st.BatchGet(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if b.State == store.BatchDone || b.State == store.BatchFailed {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("batch %+v did not settle", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
