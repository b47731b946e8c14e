package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/purgehook/purgehook/budget"
	"github.com/purgehook/purgehook/internal/pgtest"
	"github.com/purgehook/purgehook/purger/cloudflare/cloudflaretest"
	"github.com/purgehook/purgehook/store"
)

// TestReplicasShareOnePostgres runs two purgehook replicas on one
// PostgreSQL database, as behind a load balancer: webhooks land on either,
// the work is shared, redeliveries are recognised across replicas, and the
// daily budget is one budget.
func TestReplicasShareOnePostgres(t *testing.T) {
	started := time.Now()
	dsn := pgtest.DSN(t)
	cf := cloudflaretest.NewServer(t, cloudflaretest.Options{})
	o := newOrigin(t)
	cfg := fmt.Sprintf(`
store: {driver: postgres, dsn: "%s"}
sites:
  - {name: site, base_url: %s}
sources:
  - {name: cms, kind: generic, secret: %s, site: site}
providers:
  - {name: cf, kind: cloudflare, zone: %s, token: %s, api_url: %s,
     limits: {files_per_call: 5}, budget: {calls_per_day: 1000}}
coalesce: 100ms
warm: {delay: 1ms}
`, dsn, o.URL, secret, cf.Zone(), cf.Token(), cf.APIURL())
	a := startService(t, cfg)
	b := startService(t, cfg)

	want := map[string]bool{}
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for i := range 60 {
		u := fmt.Sprintf("/news/%d", i)
		want[o.URL+u] = true
		wg.Add(1)
		go func() {
			defer wg.Done()
			base := a.hooks.URL
			if i%2 == 1 {
				base = b.hooks.URL
			}
			status, _ := send(t, base, publishPayload(fmt.Sprint(i), u))
			// The same delivery to the other replica is a redelivery.
			other := b.hooks.URL
			if base == b.hooks.URL {
				other = a.hooks.URL
			}
			status2, _ := send(t, other, publishPayload(fmt.Sprint(i), u))
			mu.Lock()
			statuses[status]++
			statuses[status2]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if statuses[http.StatusAccepted] != 60 || statuses[http.StatusOK] != 60 {
		t.Fatalf("statuses %v: want 60 accepted and 60 duplicates", statuses)
	}
	bs := waitBatches(t, a.Store, 60*time.Second)
	for _, bt := range bs {
		if bt.State != store.BatchDone {
			t.Errorf("batch %d: %s %s", bt.ID, bt.State, bt.Error)
		}
	}
	got := purged(cf)
	for u := range want {
		if !got[u] {
			t.Errorf("%s never purged", u)
		}
	}
	// Each URL was warmed once: no batch was worked twice.
	for i := range 60 {
		if n := o.warmed(fmt.Sprintf("/news/%d", i)); n != 1 {
			t.Errorf("/news/%d warmed %d times", i, n)
		}
	}
	ctx := context.Background()
	// The budget of every day the test ran on (it may cross midnight).
	spent := 0
	days, err := a.Store.BudgetSpent(ctx, "cf", budget.WindowAt(started).Day)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range days {
		spent += n
	}
	all, err := a.Store.CallList(ctx, 0, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	calls := len(all)
	if spent != calls || calls != len(cf.Accepted()) {
		t.Errorf("budget spent %d, calls planned %d, calls made %d: one budget should count every call once", spent, calls, len(cf.Accepted()))
	}
	worked := map[string]int{}
	for _, j := range listJobs(t, a.Store, river.NewJobListParams().Kinds("purgehook_call")) {
		worked[strings.Join(j.AttemptedBy, ",")]++
	}
	t.Logf("measured: 60 deliveries over 2 replicas → %d batches, %d calls; call jobs by client: %v", len(bs), calls, worked)
}
