// Command trace-bench replays a generated day of CMS activity through
// purgehook's real planner and pipeline (app.New on a temporary SQLite
// store, the job workers running) against the loopback Cloudflare fake
// (purger/cloudflare/cloudflaretest), and compares it with a naive handler
// computed in this program: one call per 30 URLs (or fewer, the provider's
// per-call limit) per webhook, no coalescing, no tags, no host purges.
//
// The day: -sites sites × 2 cultures × -pages pages per culture (a home
// page, five list pages, the rest items of five content types); page edits
// at random times (each the item's page in both cultures plus its type's
// list pages, a tenth of them featured on the home pages too); a few
// shared-footer edits (every page of the site, a rule everything_on:
// this_site); two bulk imports (hundreds of new items in one site within a
// minute).
//
// Time is compressed by cutting idle time, not by scaling it: events
// closer than -gap (default 1.5s, more than the 1s coalescing window) are
// sent at their real spacing, and a longer quiet spell between two events
// is shortened to -gap. Two events a coalescing window apart in the day
// are still apart in the replay and two within one are still together, so
// the batches, and thus the calls and the time to fresh, are the day's;
// only the calls per minute are an upper bound (the quiet spells are
// gone). A day of 3,000 edits takes about 3,000 × gap of wall time.
//
// Per provider it prints: calls made against the naive handler's, the most
// calls in any wall-clock minute, whether the daily budget was exceeded,
// over-purged URLs (pages a call invalidated that no edit had changed since
// they were last invalidated), stale URLs (pages an edit changed that no
// call invalidated afterwards, by the end of the drain), and p50/p99 time
// to fresh (from a webhook's acceptance to the first call covering the
// last of its pages).
//
//	go run ./bench/trace
//	go run ./bench/trace -edits 3000 -gap 1.2s     # about an hour
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/purgehook/purgehook/app"
	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/pipeline"
	"github.com/purgehook/purgehook/purger/cloudflare/cloudflaretest"
)

const (
	dayLen   = 24 * time.Hour
	naiveMax = 30
	budget   = 1000
)

var (
	cultures = []string{"en", "pt"}
	types    = []string{"news", "events", "offers", "rooms", "blog"}
)

type options struct {
	sites, pages, edits, footers, bulk int
	gap, drain, poll                   time.Duration
	seed                               uint64
	verbose                            bool
}

func main() {
	var o options
	flag.IntVar(&o.sites, "sites", 8, "sites")
	flag.IntVar(&o.pages, "pages", 2500, "pages per site and culture")
	flag.IntVar(&o.edits, "edits", 3000, "page edits in the day")
	flag.IntVar(&o.footers, "footers", 4, "shared footer edits in the day")
	flag.IntVar(&o.bulk, "bulk", 800, "items in each of the two bulk imports")
	flag.DurationVar(&o.gap, "gap", 1500*time.Millisecond, "the longest quiet spell between two events in the replay")
	flag.DurationVar(&o.drain, "drain", time.Minute, "how long to wait after the day for the last purges")
	flag.DurationVar(&o.poll, "poll", 20*time.Millisecond, "how often the fake's calls are read (the resolution of time to fresh)")
	flag.Uint64Var(&o.seed, "seed", 1, "the generator's seed")
	flag.BoolVar(&o.verbose, "v", false, "list every call the fake received")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "trace-bench:", err)
		os.Exit(1)
	}
}

// site is one generated site: its host and every page's URL.
type site struct {
	name, host string
	pages      []string
	items      map[string][]string // content type → item slugs (site-relative, culture-less)
}

func (s *site) base() string { return "https://" + s.host }

func genSites(o options) []*site {
	var out []*site
	for i := range o.sites {
		s := &site{name: fmt.Sprintf("s%d", i+1), host: fmt.Sprintf("s%d.example", i+1), items: map[string][]string{}}
		for n := range o.pages - 1 - len(types) {
			t := types[n%len(types)]
			s.items[t] = append(s.items[t], fmt.Sprintf("/%s/item-%d", t, n))
		}
		for _, c := range cultures {
			s.pages = append(s.pages, s.base()+"/"+c+"/")
			for _, t := range types {
				s.pages = append(s.pages, s.base()+"/"+c+"/"+t+"/")
				for _, it := range s.items[t] {
					s.pages = append(s.pages, s.base()+"/"+c+it)
				}
			}
		}
		out = append(out, s)
	}
	return out
}

// event is one webhook of the day: the change sent and the pages it
// really changed (the truth stale URLs are judged by).
type event struct {
	kind    string        // edit, footer or import
	at      time.Duration // in the day
	change  change.Change
	changed []string
	sent    time.Time // wall clock, when Accept returned
}

func genDay(o options, sites []*site) []*event {
	rng := rand.New(rand.NewPCG(o.seed, 2))
	var evs []*event
	n := 0
	edit := func(at time.Duration, s *site, t, item string, featured bool) {
		n++
		c := change.Change{Event: "ContentPublished", Kind: change.Publish, ContentID: fmt.Sprintf("c%d", n), ContentType: t, Site: s.name, Cultures: cultures}
		for _, cu := range cultures {
			c.URLs = append(c.URLs, "/"+cu+item)
			c.Dependencies = append(c.Dependencies, "/"+cu+"/"+t+"/")
			if featured {
				c.Dependencies = append(c.Dependencies, "/"+cu+"/")
			}
		}
		ev := &event{kind: "edit", at: at, change: c}
		for _, u := range append(slices.Clone(c.URLs), c.Dependencies...) {
			ev.changed = append(ev.changed, s.base()+u)
		}
		evs = append(evs, ev)
	}
	for range o.edits {
		s := sites[rng.IntN(len(sites))]
		t := types[rng.IntN(len(types))]
		items := s.items[t]
		edit(time.Duration(rng.Int64N(int64(dayLen))), s, t, items[rng.IntN(len(items))], rng.IntN(10) == 0)
	}
	for range o.footers {
		s := sites[rng.IntN(len(sites))]
		n++
		evs = append(evs, &event{kind: "footer", at: time.Duration(rng.Int64N(int64(dayLen))), changed: s.pages,
			change: change.Change{Event: "ContentPublished", Kind: change.Publish, ContentID: fmt.Sprintf("c%d", n), ContentType: "footer", Site: s.name}})
	}
	// Two bulk imports: new items (their pages are new: only the list
	// pages are stale) within half a minute.
	for k, start := range []time.Duration{10 * time.Hour, 15 * time.Hour} {
		s := sites[k%len(sites)]
		for i := range o.bulk {
			t := types[i%len(types)]
			item := fmt.Sprintf("/%s/import-%d-%d", t, k, i)
			at := start + time.Duration(i)*30*time.Second/time.Duration(o.bulk)
			edit(at, s, t, item, false)
			evs[len(evs)-1].kind = "import"
			evs[len(evs)-1].changed = []string{s.base() + "/en/" + t + "/", s.base() + "/pt/" + t + "/"}
		}
	}
	slices.SortStableFunc(evs, func(a, b *event) int { return int(a.at - b.at) })
	return evs
}

// naiveCalls is what a handler that purges each webhook's URLs at once,
// perCall at a time, would send; the footer edit's URLs are every page of
// the site.
func naiveCalls(evs []*event, perCall int) int {
	calls := 0
	for _, e := range evs {
		calls += (len(e.changed) + perCall - 1) / perCall
	}
	return calls
}

func run(o options) error {
	tb := &benchTB{}
	defer tb.cleanup()
	// The fake enforces the Enterprise plan's per-call limits, which the
	// adapter declares with plan: enterprise.
	cf := cloudflaretest.NewServer(tb, cloudflaretest.Options{MaxFiles: 500, MaxTags: 100, MaxHosts: 100, MaxPrefixes: 100})
	sites := genSites(o)
	evs := genDay(o, sites)
	dir, err := os.MkdirTemp("", "trace-bench")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()

	var cfgSites strings.Builder
	for _, s := range sites {
		fmt.Fprintf(&cfgSites, "  - {name: %s, base_url: %s}\n", s.name, s.base())
	}
	cfg, err := app.ParseConfig(fmt.Appendf(nil, `
store: {driver: sqlite, dsn: %q}
listen: 127.0.0.1:0
sites:
%ssources:
  - {name: cms, kind: generic, secret: trace-bench-secret}
providers:
  - {name: cf, kind: cloudflare, plan: enterprise, zone: %s, token: %s, api_url: %s, budget: {calls_per_day: %d}}
rules:
  - when: {content_type: footer}
    purge: [{everything_on: this_site}]
coalesce: 1s
warm: {disabled: true}
log: {level: error}
`, filepath.Join(dir, "ph.db"), cfgSites.String(), cf.Zone(), cf.Token(), cf.APIURL(), budget))
	if err != nil {
		return err
	}
	ctx := context.Background()
	svc, err := app.New(ctx, cfg, app.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	if err := svc.Start(ctx); err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_ = svc.Close(sctx)
	}()

	pages := 0
	for _, s := range sites {
		pages += len(s.pages)
	}
	fmt.Printf("trace-bench: %s %s/%s, GOMAXPROCS=%d; %d sites, %d pages; %d webhooks (%d edits, %d footer edits, 2 imports of %d); quiet spells cut to %s\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0), len(sites), pages, len(evs), o.edits, o.footers, o.bulk, o.gap)

	w := &watch{cf: cf}
	stopWatch := w.start(o.poll)
	begin := time.Now()
	due, last := begin, time.Duration(0)
	for i, e := range evs {
		due = due.Add(min(e.at-last, o.gap))
		last = e.at
		time.Sleep(time.Until(due))
		e.change.Source, e.change.Delivery = "cms", fmt.Sprintf("trace-%d", i)
		d := change.Delivery{Source: "cms", ID: e.change.Delivery, Changes: []change.Change{e.change}}
		for {
			_, _, _, err := svc.Pipeline.Accept(ctx, d)
			if err == nil {
				break
			}
			var busy *pipeline.BusyError
			if !errors.As(err, &busy) {
				return err
			}
			time.Sleep(10 * time.Millisecond)
		}
		e.sent = time.Now()
	}
	fmt.Printf("replayed in %s; draining (at most %s)\n", time.Since(begin).Round(time.Second), o.drain)
	deadline := time.Now().Add(o.drain)
	for time.Now().Before(deadline) {
		time.Sleep(time.Second)
		if r := judge(evs, sites, w.snapshot()); r.stale == 0 {
			break
		}
	}
	stopWatch()
	r := judge(evs, sites, w.snapshot())
	r.naive = naiveCalls(evs, naiveMax)
	r.print("cf (cloudflare)")
	if o.verbose {
		for _, c := range cf.Calls() {
			fmt.Println(c.Key, len(c.Items), c.Status, c.Items[:min(2, len(c.Items))])
		}
		fmt.Println("refused", w.refused)
	}
	return nil
}

// seen is one successful call and the poll that saw it: it was made after
// prev and by at.
type seen struct {
	call     cloudflaretest.Call
	prev, at time.Time
}

// watch reads the fake's calls every poll.
type watch struct {
	cf      *cloudflaretest.Server
	mu      sync.Mutex
	calls   []seen
	n       int
	refused int
}

func (w *watch) start(every time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	prev := time.Now()
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				w.read(prev)
				return
			case <-t.C:
				now := w.read(prev)
				prev = now
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

func (w *watch) read(prev time.Time) time.Time {
	calls := w.cf.Calls()
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range calls[w.n:] {
		if c.Status == http.StatusOK {
			w.calls = append(w.calls, seen{call: c, prev: prev, at: now})
		} else {
			w.refused++
		}
	}
	w.n = len(calls)
	return now
}

func (w *watch) snapshot() []seen {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.calls)
}

// result is one provider's figures.
type result struct {
	naive, calls, maxPerMinute  int
	overPurged, stale, uncached int
	fresh                       []time.Duration
	freshBy                     map[string][]time.Duration
}

// judge replays the events and the calls in time order: an event marks
// its pages dirty; a call covering a page cleans it, or over-purges it
// when it was clean. A call counts for an event only if it was seen after
// a poll that came after the event: it was surely made after it.
func judge(evs []*event, sites []*site, calls []seen) result {
	byHost := map[string]*site{}
	known := map[string]bool{}
	for _, s := range sites {
		byHost[s.host] = s
		for _, u := range s.pages {
			known[u] = true
		}
	}
	r := result{freshBy: map[string][]time.Duration{}}
	r.calls = len(calls)
	// dirty: page → the events waiting for it.
	dirty := map[string][]*event{}
	left := map[*event]int{}
	ci := 0
	cover := func(c seen, u string) {
		waiting, ok := dirty[u]
		if !ok {
			if known[u] {
				r.overPurged++
			} else {
				r.uncached++ // a new page: nothing cached to purge
			}
			return
		}
		delete(dirty, u)
		for _, e := range waiting {
			left[e]--
			if left[e] == 0 {
				r.fresh = append(r.fresh, c.at.Sub(e.sent))
				r.freshBy[e.kind] = append(r.freshBy[e.kind], c.at.Sub(e.sent))
			}
		}
	}
	apply := func(c seen) {
		switch c.call.Key {
		case "files":
			for _, u := range c.call.Items {
				cover(c, u)
			}
		case "hosts":
			for _, h := range c.call.Items {
				if s := byHost[h]; s != nil {
					for _, u := range s.pages {
						cover(c, u)
					}
				}
			}
		case "prefixes":
			for _, p := range c.call.Items {
				h, _, _ := strings.Cut(p, "/")
				if s := byHost[h]; s != nil {
					for _, u := range s.pages {
						if strings.HasPrefix(strings.TrimPrefix(u, "https://"), p) {
							cover(c, u)
						}
					}
				}
			}
		case "purge_everything":
			for _, s := range sites {
				for _, u := range s.pages {
					cover(c, u)
				}
			}
		case "tags":
			// No page in this trace reports tags.
		}
	}
	for _, e := range evs {
		if e.sent.IsZero() {
			continue
		}
		for ci < len(calls) && !calls[ci].prev.After(e.sent) {
			apply(calls[ci])
			ci++
		}
		for _, u := range e.changed {
			if !slices.Contains(dirty[u], e) {
				dirty[u] = append(dirty[u], e)
				left[e]++
			}
		}
	}
	for ; ci < len(calls); ci++ {
		apply(calls[ci])
	}
	r.stale = len(dirty)
	// The most calls in any minute: a window sliding over the calls.
	for i, j := 0, 0; j < len(calls); j++ {
		for calls[j].at.Sub(calls[i].at) >= time.Minute {
			i++
		}
		r.maxPerMinute = max(r.maxPerMinute, j-i+1)
	}
	return r
}

func quantile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	d = slices.Sorted(slices.Values(d))
	return d[min(len(d)-1, int(p*float64(len(d))))].Round(10 * time.Millisecond)
}

func (r result) print(name string) {
	exceeded := "never"
	if r.calls > budget {
		exceeded = fmt.Sprintf("by %d calls", r.calls-budget)
	}
	fmt.Println()
	fmt.Printf("%-16s %7s %7s %7s %9s %10s %12s %6s %8s %8s\n", "provider", "naive", "calls", "ratio", "max/min", "budget", "over-purged", "stale", "p50", "p99")
	fmt.Printf("%-16s %7d %7d %6.1f%% %9d %10s %12d %6d %8s %8s\n", name, r.naive, r.calls, 100*float64(r.calls)/float64(max(r.naive, 1)),
		r.maxPerMinute, exceeded, r.overPurged, r.stale, quantile(r.fresh, 0.5), quantile(r.fresh, 0.99))
	fmt.Printf("(budget %d calls a day; time to fresh over %d webhooks; %d purged URLs were new pages, not counted as over-purged)\n", budget, len(r.fresh), r.uncached)
	fmt.Println("time to fresh by kind of webhook:")
	for _, k := range []string{"edit", "footer", "import"} {
		d := r.freshBy[k]
		fmt.Printf("  %-7s %5d webhooks  p50 %8s  p99 %8s\n", k, len(d), quantile(d, 0.5), quantile(d, 0.99))
	}
}

// benchTB lets the test fake run outside a test.
type benchTB struct {
	testing.TB
	cleanups []func()
}

func (b *benchTB) Helper()           {}
func (b *benchTB) Fatal(args ...any) { fmt.Fprintln(os.Stderr, args...); os.Exit(1) }
func (b *benchTB) Cleanup(f func())  { b.cleanups = append(b.cleanups, f) }
func (b *benchTB) cleanup() {
	for _, f := range slices.Backward(b.cleanups) {
		f()
	}
}
