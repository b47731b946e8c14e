package pipeline_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/pipeline"
	"github.com/purgehook/purgehook/purger/cloudflare"
	"github.com/purgehook/purgehook/purger/cloudflare/cloudflaretest"
	"github.com/purgehook/purgehook/store"
)

// A call Cloudflare refuses (400) for one of its URLs is halved until the
// refused URL is alone: the other URLs are purged, the batch goes on to
// its outer layer, and only the delivery that named the refused URL fails,
// with the item and Cloudflare's message in its trail and the call listed
// with the failures.
func TestBisectsARefusedCallAgainstTheCloudflareFake(t *testing.T) {
	t.Parallel()
	drivers(t, func(t *testing.T, driver string) {
		ctx := context.Background()
		fake := cloudflaretest.NewServer(t, cloudflaretest.Options{})
		bad := "https://a.example/bad"
		fake.Refuse(bad)
		cf, err := cloudflare.New(cloudflare.Options{Name: "cf", Client: fake.Client(),
			Config: cloudflare.Config{Zone: fake.Zone(), Token: fake.Token(), APIURL: fake.APIURL()}})
		if err != nil {
			t.Fatal(err)
		}
		log := &callLog{}
		edge := &recorder{name: "edge", limits: all, log: log}
		// A long coalescing window puts both deliveries in one batch.
		h := startWith(t, driver, func(o *pipeline.Options) { o.Coalesce = 300 * time.Millisecond },
			provider(cf, change.LayerOrigin), provider(edge, change.LayerEdge))
		h.publish(t, "d1", "/a", "/b", "/bad", "/c")
		h.publish(t, "d2", "/d", "/e")
		b := h.settle(t)
		if b.State != store.BatchDone {
			t.Fatalf("batch %+v: one refused item must not stop the batch", b)
		}

		var purged []string
		for _, c := range fake.Accepted() {
			purged = append(purged, c.Items...)
		}
		slices.Sort(purged)
		if want := []string{"https://a.example/a", "https://a.example/b", "https://a.example/c", "https://a.example/d", "https://a.example/e"}; !slices.Equal(purged, want) {
			t.Errorf("Cloudflare purged %q, want %q", purged, want)
		}
		for _, c := range fake.Calls() {
			if c.Status == 400 && !slices.Contains(c.Items, bad) {
				t.Errorf("a refused call without the refused item: %+v", c)
			}
		}
		if got := log.list(); len(got) != 1 || got[0] != "edge url×6" {
			t.Errorf("edge calls %q: the outer layer purges every target", got)
		}

		f, err := h.pl.Failures(ctx, 10)
		if err != nil || len(f.Calls) != 1 {
			t.Fatalf("failures %+v %v", f, err)
		}
		refused := f.Calls[0]
		if refused.State != store.CallRefused || !slices.Equal(refused.Items, []string{bad}) || !strings.Contains(refused.Error, cloudflaretest.RefusedMessage+bad) || !strings.HasPrefix(refused.Reason, "bisected from call") {
			t.Errorf("refused call %+v", refused)
		}

		ds, err := h.st.DeliveryList(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			events, _ := h.st.EventList(ctx, d.ID, 0, 100)
			failed := slices.ContainsFunc(events, func(e store.Event) bool {
				return e.Kind == "failed" && strings.Contains(e.Message, bad) && strings.Contains(e.Message, cloudflaretest.RefusedMessage)
			})
			switch d.DeliveryID {
			case "d1":
				if d.State != store.DeliveryFailed || !failed {
					t.Errorf("d1 %s, failed event %v; want failed, with the refused item", d.State, failed)
				}
			case "d2":
				if d.State == store.DeliveryFailed || failed {
					t.Errorf("d2 %s, failed event %v; only the refused item's delivery fails", d.State, failed)
				}
			}
		}
		if n := counter(t, h, "purgehook_purge_calls_total", "refused", "cf"); n != 1 {
			t.Errorf("refused calls counted %v", n)
		}
	})
}

// When bisection finds every item refused, Cloudflare refused the calls,
// not an item: the layer failed and the outer layer is not purged.
func TestEveryItemRefusedFailsTheLayer(t *testing.T) {
	t.Parallel()
	drivers(t, func(t *testing.T, driver string) {
		fake := cloudflaretest.NewServer(t, cloudflaretest.Options{})
		fake.Refuse("https://a.example/a")
		fake.Refuse("https://a.example/b")
		cf, err := cloudflare.New(cloudflare.Options{Name: "cf", Client: fake.Client(),
			Config: cloudflare.Config{Zone: fake.Zone(), Token: fake.Token(), APIURL: fake.APIURL()}})
		if err != nil {
			t.Fatal(err)
		}
		log := &callLog{}
		edge := &recorder{name: "edge", limits: all, log: log}
		h := start(t, driver, provider(cf, change.LayerOrigin), provider(edge, change.LayerEdge))
		h.publish(t, "d1", "/a", "/b")
		if b := h.settle(t); b.State != store.BatchFailed {
			t.Fatalf("batch %+v", b)
		}
		if got := log.list(); len(got) != 0 {
			t.Errorf("edge calls %q over an origin that refused everything", got)
		}
		if n := len(fake.Accepted()); n != 0 {
			t.Errorf("%d calls accepted", n)
		}
	})
}
