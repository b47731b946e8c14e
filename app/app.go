// Package app wires purgehook together: config in, a running service out.
// It is the one place that knows every stage; main only turns flags and
// signals into Run.
package app

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/riverqueue/river"

	"github.com/purgehook/purgehook/admin"
	"github.com/purgehook/purgehook/budget"
	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/config"
	"github.com/purgehook/purgehook/crawl"
	"github.com/purgehook/purgehook/graph"
	"github.com/purgehook/purgehook/ingest"
	"github.com/purgehook/purgehook/pipeline"
	"github.com/purgehook/purgehook/plan"
	"github.com/purgehook/purgehook/resolve"
	"github.com/purgehook/purgehook/store"
	"github.com/purgehook/purgehook/stream"
	"github.com/purgehook/purgehook/ui"
	"github.com/purgehook/purgehook/warm"
)

// Options are what the process gives the service besides its config.
type Options struct {
	Logger *slog.Logger
	// Registry receives every metric; nil means a new registry.
	Registry *prometheus.Registry
	// HTTPClient is used for provider APIs and warming; nil means one per
	// provider with its configured timeout.
	HTTPClient *http.Client
	// RetryPolicy overrides the queue's backoff (purge --direct).
	RetryPolicy river.ClientRetryPolicy
}

// Service is a wired purgehook.
type Service struct {
	Config   *config.Config
	Store    *store.Store
	Pipeline *pipeline.Pipeline
	Resolver *resolve.Resolver
	log      *slog.Logger
	registry *prometheus.Registry
	mux      *http.ServeMux

	hub        *stream.Hub
	streamLog  *store.StreamLog
	stopListen func() // ends Start's stream listener
	cdn        *cdnAnalytics
}

// New opens the store and wires every stage; nothing runs until Start.
func New(ctx context.Context, cfg *config.Config, o Options) (*Service, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
		o.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	res, err := Resolver(cfg)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, cfg.Store.Driver, cfg.Store.DSN)
	if err != nil {
		return nil, err
	}
	tokens := admin.Tokens(cfg.Admin.Tokens)
	// The stream keeps a week of invalidations: an instance offline longer
	// than that gets one invalidate-everything instead.
	streamStore := st.StreamLog(7 * 24 * time.Hour)
	hub, err := stream.NewHub(stream.Options{Log: streamLog{streamStore}, Authorize: tokens.Allow(admin.ScopeRead), Logger: o.Logger, Registerer: o.Registry})
	if err != nil {
		st.Close()
		return nil, err
	}
	providers, err := providers(cfg, ProviderDeps{Client: o.HTTPClient, Logger: o.Logger, Hub: hub})
	if err != nil {
		st.Close()
		return nil, err
	}
	var warmer *warm.Warmer
	if !cfg.Warm.Disabled {
		client := o.HTTPClient
		if client == nil {
			client = &http.Client{Timeout: cfg.Warm.Timeout}
		}
		var shared warm.Shared
		if cfg.Store.Driver == store.Postgres {
			// Replicas share each origin's bound through the store.
			shared = newWarmSlots(st, cfg.Warm)
		}
		warmer = warm.New(warm.Options{Limiter: warmLimiter(cfg.Warm, shared, o.Logger), Header: cfg.Warm.Header, Variants: warmVariants(cfg.Warm),
			Client: client, Scope: res, OnSharedError: func(err error) { o.Logger.Warn("warm-up slots unavailable", "err", err) }})
	}
	crawler, crawls := crawlers(cfg, o.HTTPClient, res)
	// The content graph: every replica keeps its own index, loaded from
	// the store at start and kept current by the pipeline.
	g := graph.New()
	res.SetGraph(g)
	unknownTags, err := plan.ParseUnknownTags(cfg.Graph.UnknownTags)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("graph.unknown_tags: %w", err)
	}
	sourceSites := map[string]string{}
	for _, s := range cfg.Sources {
		sourceSites[s.Name] = s.Site
	}
	pl, err := pipeline.New(pipeline.Options{
		Store:       st,
		Resolver:    res,
		Providers:   providers,
		SourceSites: sourceSites,
		Coalesce:    cfg.Coalesce,
		MaxWait:     cfg.MaxWait,
		Warmer:      warmer,
		MaxWarm:     cfg.Limits.Warm,
		Graph:       g,
		GraphSync:   cfg.Graph.Sync,
		TagHeaders:  &graph.TagHeaders{Names: cfg.Graph.TagHeaders, Separators: cfg.Graph.TagSeparators},
		UnknownTags: unknownTags,
		Crawler:     crawler,
		Crawls:      crawls,
		Workers:     cfg.Queue.Workers,
		JobTimeout:  cfg.Queue.JobTimeout,
		RescueAfter: cfg.Queue.RescueAfter,
		MaxAttempts: cfg.Queue.MaxAttempts,
		Retention:   cfg.Retention,
		RetryPolicy: o.RetryPolicy,
		Logger:      o.Logger,
		Registerer:  o.Registry,
	})
	if err != nil {
		st.Close()
		return nil, err
	}
	endpoints, err := Endpoints(cfg)
	if err != nil {
		st.Close()
		return nil, err
	}
	hooks, err := ingest.New(endpoints, pl, o.Logger, o.Registry)
	if err != nil {
		st.Close()
		return nil, err
	}
	var trusted []*net.IPNet
	for i, cidr := range cfg.TrustedProxies {
		n, err := config.ParseCIDR(cidr)
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("trusted_proxies[%d]: %w", i, err)
		}
		trusted = append(trusted, n)
	}
	hooks.TrustProxies(trusted)
	cdn, err := newCDNAnalytics(cfg, o.HTTPClient, o.Logger, o.Registry)
	if err != nil {
		st.Close()
		return nil, err
	}
	s := &Service{Config: cfg, Store: st, Pipeline: pl, Resolver: res, log: o.Logger, registry: o.Registry, mux: http.NewServeMux(), hub: hub, streamLog: streamStore, cdn: cdn}
	s.mux.Handle("POST /hooks/{source}", hooks)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintln(w, "ok")
	})
	s.mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain")
		if err := st.Ready(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready:", err)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(o.Registry, promhttp.HandlerOpts{Registry: o.Registry}))
	api := admin.Register(s.mux, admin.Options{Tokens: tokens, Store: st, Pipeline: pl, Resolver: res, Stream: hub, Logger: o.Logger})
	sites := make([]string, len(cfg.Sites))
	for i, site := range cfg.Sites {
		sites[i] = site.Name
	}
	ui.Register(s.mux, ui.Options{Tokens: tokens, API: api, Store: st, Pipeline: pl, Sites: sites, Logger: o.Logger})
	return s, nil
}

// Handler is the service's HTTP surface.
func (s *Service) Handler() http.Handler { return s.mux }

// Start starts the job workers, the stream's ear for events other
// replicas append, and the CDN analytics readers.
func (s *Service) Start(ctx context.Context) error {
	if err := s.Pipeline.Start(ctx); err != nil {
		return err
	}
	lctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	s.stopListen = func() { cancel(); <-done }
	go func() {
		defer close(done)
		s.streamLog.Listen(lctx, s.hub.Wake, func(err error) {
			s.log.Warn("stream: not hearing other replicas' events until reconnected (followers still catch up at each heartbeat)", "err", err)
		}, time.Second)
	}()
	s.cdn.start(ctx)
	return nil
}

// Close stops the workers (running jobs get until ctx ends, then are
// released) and closes the store.
func (s *Service) Close(ctx context.Context) error {
	if s.stopListen != nil {
		s.stopListen()
	}
	s.cdn.close()
	err := s.Pipeline.Stop(ctx)
	return errors.Join(err, s.Store.Close())
}

// Run serves until ctx is cancelled (SIGTERM), then stops accepting
// webhooks, lets in-flight requests and jobs finish for up to grace (jobs
// still running after that are released for the next start), and closes
// the store.
func Run(ctx context.Context, cfg *config.Config, o Options, grace time.Duration) error {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s, err := New(ctx, cfg, o)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		s.Close(context.Background())
		return err
	}
	scheme := "http"
	if cfg.TLS != nil {
		// Loaded before serving, so that a wrong path or key fails the
		// start rather than every connection.
		cert, err := tls.LoadX509KeyPair(cfg.TLS.Cert, cfg.TLS.Key)
		if err != nil {
			ln.Close()
			s.Close(context.Background())
			return fmt.Errorf("tls: %w", err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		scheme = "https"
	}
	// The workers get a context that SIGTERM does not cancel: River
	// cancels running jobs when its start context ends, and shutdown is
	// supposed to let them finish first (Close below, within grace).
	if err := s.Start(context.WithoutCancel(ctx)); err != nil {
		s.Close(context.Background())
		return err
	}
	srv := &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("purgehook serving", "listen", ln.Addr().String(), "scheme", scheme, "store", cfg.Store.Driver, "sources", len(cfg.Sources), "providers", len(cfg.Providers))

	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	s.log.Info("shutting down", "grace", grace)
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	serr := srv.Shutdown(sctx)
	cerr := s.Close(sctx)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	s.log.Info("stopped")
	return errors.Join(err, serr, cerr)
}

// Providers builds every configured provider with its effective limits
// (the adapter's declared limits with config overrides applied), for
// commands that only plan (explain, check-config).
func Providers(cfg *config.Config, client *http.Client, logger *slog.Logger) ([]pipeline.Provider, error) {
	return providers(cfg, ProviderDeps{Client: client, Logger: logger})
}

func providers(cfg *config.Config, d ProviderDeps) ([]pipeline.Provider, error) {
	var out []pipeline.Provider
	for i, pc := range cfg.Providers {
		pd := d
		if pd.Client == nil {
			pd.Client = &http.Client{Timeout: pc.Timeout}
		}
		p, err := NewPurger(pc, pd)
		if err != nil {
			return nil, fmt.Errorf("providers[%d] (%s): %w", i, pc.Name, err)
		}
		layer, _ := change.ParseLayer(pc.Layer)
		policy, err := budget.ParsePolicy(pc.OnBudgetExhausted)
		if err != nil {
			return nil, fmt.Errorf("providers[%d].on_budget_exhausted: %w", i, err)
		}
		// p.Limits() are the effective limits NewPurger built the adapter
		// with: the planner plans with the numbers the adapter enforces.
		out = append(out, pipeline.Provider{
			Provider: plan.Provider{Name: pc.Name, Layer: layer, Limits: p.Limits(), Sites: pc.Sites, OverPurge: pc.OverPurge, Covers: covers(pc.Covers),
				Budget: budget.Budget{PerDay: pc.Budget.CallsPerDay, Policy: policy, Reserve: reserve(pc.Budget)}},
			Purger:  p,
			Timeout: pc.Timeout,
		})
	}
	return out, nil
}

// reserve is a budget's configured reserve (the default when the config
// was not defaulted, as in tests that build one by hand).
func reserve(b config.Budget) float64 {
	if b.Reserve == nil {
		return config.DefaultBudgetReserve
	}
	return *b.Reserve
}

// Endpoints builds the webhook endpoints from the configured sources.
func Endpoints(cfg *config.Config) ([]ingest.Endpoint, error) {
	var out []ingest.Endpoint
	for i, sc := range cfg.Sources {
		src, err := NewSource(sc)
		if err != nil {
			return nil, fmt.Errorf("sources[%d] (%s): %w", i, sc.Name, err)
		}
		e := ingest.Endpoint{Name: sc.Name, Source: src, MaxBody: int64(sc.MaxBody)}
		if sc.DedupeWindow != nil {
			e.HashDedupe = *sc.DedupeWindow
		}
		for _, a := range sc.AllowIPs {
			n, err := config.ParseCIDR(a)
			if err != nil {
				return nil, fmt.Errorf("sources[%d].allow_ips: %w", i, err)
			}
			e.Allow = append(e.Allow, n)
		}
		out = append(out, e)
	}
	return out, nil
}

// crawlers builds the crawler, which fetches as the warmer does (the
// same timeout and header, the same scope), and every site's crawl
// settings: a site without a crawl block is crawled on demand only.
func crawlers(cfg *config.Config, client *http.Client, res *resolve.Resolver) (*crawl.Fetcher, []pipeline.CrawlSite) {
	if client == nil {
		client = &http.Client{Timeout: cfg.Warm.Timeout}
	}
	f := crawl.New(crawl.Options{Client: client, Header: cfg.Warm.Header, Scope: res})
	var out []pipeline.CrawlSite
	for _, s := range res.Sites() {
		c := s.CrawlOf()
		sitemap := c.Sitemap
		if strings.HasPrefix(sitemap, "/") && !strings.HasPrefix(sitemap, "//") {
			sitemap = s.Abs(sitemap)
		}
		out = append(out, pipeline.CrawlSite{Site: s.Name, Start: s.Abs("/"), Sitemap: sitemap, MaxPages: c.MaxPages, Rate: c.Rate, Interval: c.Interval})
	}
	return f, out
}

// Resolver builds the resolver for a config, with its limits.
func Resolver(cfg *config.Config) (*resolve.Resolver, error) {
	return resolve.New(cfg.Sites, cfg.Rules, resolve.Limits{URLLength: cfg.Limits.URLLength, Targets: cfg.Limits.Targets})
}

// warmLimiter is the process's one bound on warm-up requests, shared by
// every warm job; it logs each change of an origin's back-off.
func warmLimiter(w config.Warm, shared warm.Shared, log *slog.Logger) *warm.Limiter {
	return warm.NewLimiter(warm.LimitOptions{
		Shared: shared,
		Total:  w.Concurrency, PerOrigin: w.PerOrigin, Delay: w.Delay,
		Backoff: warm.Backoff{Latency: w.Backoff.Latency, ErrorRate: w.Backoff.ErrorRate, MaxDelay: w.Backoff.MaxDelay},
		OnChange: func(origin string, s warm.OriginState) {
			log.Info("warm-up pace changed", "origin", origin, "concurrency", s.Limit, "delay", s.Delay,
				"latency", s.Latency.Round(time.Millisecond), "error_rate", fmt.Sprintf("%.2f", s.ErrorRate), "struggling", s.Struggling)
		},
	})
}

func warmVariants(w config.Warm) []warm.Variant {
	var out []warm.Variant
	for _, v := range w.Variants {
		out = append(out, warm.Variant{Name: v.Name, Header: v.Headers})
	}
	return out
}

// warmSlots is warm.Shared on the store's leases: warm.per_origin slots
// per origin across every replica. A lease outlives the slowest request
// and its longest pause, so that only a replica that died leaves one to
// run out.
type warmSlots struct {
	st     *store.Store
	slots  int
	ttl    time.Duration
	prefix string
	seq    atomic.Uint64
}

func newWarmSlots(st *store.Store, w config.Warm) *warmSlots {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return &warmSlots{st: st, slots: w.PerOrigin, ttl: w.Timeout + w.Backoff.MaxDelay + 10*time.Second,
		prefix: fmt.Sprintf("%s-%d-%x", host, os.Getpid(), b)}
}

func (s *warmSlots) Take(ctx context.Context, origin string) (func(), bool, error) {
	holder := fmt.Sprintf("%s-%d", s.prefix, s.seq.Add(1))
	slot, err := s.st.WarmSlotTake(ctx, origin, holder, s.slots, s.ttl)
	if err != nil || slot < 0 {
		return nil, false, err
	}
	return func() {
		// Given back even when the job's ctx ended: else the slot waits
		// for its lease to run out.
		gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = s.st.WarmSlotGive(gctx, origin, holder, slot)
	}, true, nil
}

// covers turns providers[].covers into the planner's kinds: absent is nil
// (every kind), [] is none.
func covers(c *[]string) []change.TargetKind {
	if c == nil {
		return nil
	}
	out := make([]change.TargetKind, 0, len(*c))
	for _, k := range *c {
		out = append(out, change.TargetKind(k))
	}
	return out
}
