// Package config is purgehook's configuration: the YAML schema, strict
// decoding (an unknown key is an error naming its path), ${ENV} expansion
// for secrets, defaults, and Validate, which names every problem by its
// field path. Nothing else in purgehook reads YAML.
//
// config holds the fields every provider and source shares. A kind's own
// fields belong to its adapter, whose Config type config decodes without
// knowing it: app passes the table of kinds (Kinds) to Parse, so config
// imports no adapter and no adapter imports config.
package config

import (
	"time"
)

// Defaults, documented here once and applied by Load.
const (
	DefaultListen      = "127.0.0.1:8080"
	DefaultStoreDriver = "sqlite"
	DefaultStoreDSN    = "purgehook.db"
	DefaultMaxBody     = 1 << 20
	DefaultCoalesce    = time.Second
	DefaultMaxWait     = 10 * time.Second
	DefaultWarmConc    = 5
	DefaultWarmDelay   = 200 * time.Millisecond
	DefaultWarmTimeout = 10 * time.Second
	// The warm-up back-off's thresholds: an origin whose recent average
	// response time or share of failed requests is past them gets half
	// the concurrency and twice the delay (up to the maximum).
	DefaultWarmBackoffLatency   = 2 * time.Second
	DefaultWarmBackoffErrorRate = 0.2
	DefaultWarmBackoffMaxDelay  = 10 * time.Second
	DefaultJobTimeout           = time.Minute
	DefaultRescueAfter          = 2 * time.Minute
	DefaultMaxAttempts          = 10
	DefaultWorkers              = 10
	DefaultOnBudget             = "purge_everything"
	DefaultBudgetReserve        = 0.2
	DefaultReplayWindow         = 5 * time.Minute
	DefaultProviderTimout       = 30 * time.Second
	DefaultRetention            = 30 * 24 * time.Hour
	DefaultDedupeWindow         = 5 * time.Minute
	// DefaultURLLength is the sitemap protocol's limit: a longer URL in a
	// payload is dropped.
	DefaultURLLength = 2048
	// DefaultTargets is the most targets one delivery purges one by one;
	// beyond it its sites' hosts are purged instead.
	DefaultTargets = 1000
	// DefaultWarmPages is the most pages one batch warms.
	DefaultWarmPages   = 500
	DefaultGraphSync   = 10 * time.Second
	DefaultUnknownTags = "drop"
	// DefaultTagSeparators split a tag header's value: a comma or a
	// space (Cache-Tag is comma-separated, Surrogate-Key and xkey
	// space-separated).
	DefaultTagSeparators = ", "
	// The defaults of a site's crawl block.
	DefaultCrawlSitemap  = "/sitemap.xml"
	DefaultCrawlInterval = 24 * time.Hour
	DefaultCrawlMaxPages = 50_000
	DefaultCrawlRate     = 10
	// MinCrawlInterval keeps a scheduled crawl from running back to back.
	MinCrawlInterval = time.Minute
)

// DefaultTagHeaders are the response headers a page reports its cache
// tags in.
var DefaultTagHeaders = []string{"Cache-Tag", "Surrogate-Key", "xkey"}

// Config is the whole file.
type Config struct {
	Store     Store      `yaml:"store"`
	Listen    string     `yaml:"listen"`
	Admin     Admin      `yaml:"admin"`
	Sites     []Site     `yaml:"sites"`
	Sources   []Source   `yaml:"sources"`
	Providers []Provider `yaml:"providers"`
	Rules     []Rule     `yaml:"rules"`
	// Coalesce is how long after the first waiting target a batch is
	// taken, whatever arrives meanwhile (default 1s).
	Coalesce time.Duration `yaml:"coalesce"`
	// MaxWait bounds how long targets wait for a provider's rate to free
	// a call (default 10s); a provider whose budget reserve holds its next
	// call back holds them until it lets one go.
	MaxWait time.Duration `yaml:"max_wait"`
	Warm    Warm          `yaml:"warm"`
	Graph   Graph         `yaml:"graph"`
	Queue   Queue         `yaml:"queue"`
	// Limits bound what one delivery can cost.
	Limits DeliveryLimits `yaml:"limits"`
	// Retention is how long the journal, the audit trail, calls and
	// warm-up outcomes are kept (default 720h, 30 days).
	Retention time.Duration `yaml:"retention"`
	Log       Log           `yaml:"log"`

	// TrustedProxies lists the CIDRs (or single addresses) of the proxies
	// in front of purgehook (a load balancer): from them, the client is
	// the nearest untrusted address in X-Forwarded-For, for allow_ips and
	// the logs. Empty (the default): X-Forwarded-For is ignored.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// TLS, when set, serves HTTPS on listen with this certificate.
	TLS *TLS `yaml:"tls"`
}

// TLS is the certificate purgehook serves HTTPS with.
type TLS struct {
	// Cert is a PEM file: the certificate, then any intermediates.
	Cert string `yaml:"cert"`
	// Key is the PEM file of its private key.
	Key string `yaml:"key"`
}

// DeliveryLimits bound what one delivery can make purgehook do, whatever
// its payload holds. 0 means the default.
type DeliveryLimits struct {
	// URLLength is the longest URL kept (default 2048 bytes); a longer one
	// is dropped, with a note in the delivery's trace.
	URLLength int `yaml:"url_length"`
	// Targets is the most targets a delivery purges one by one (default
	// 1000); beyond it, every host of the sites it touches is purged
	// instead (everything, when a target belongs to no site).
	Targets int `yaml:"targets"`
	// Warm is the most pages a batch fetches again (default 500).
	Warm int `yaml:"warm"`
}

// Store selects the persistence driver.
type Store struct {
	// Driver is sqlite (default, embedded, one replica) or postgres.
	Driver string `yaml:"driver"`
	// DSN is a file path for sqlite (default purgehook.db) or a PostgreSQL
	// connection string.
	DSN string `yaml:"dsn"`
}

// Admin configures the admin API and page.
type Admin struct {
	Tokens []Token `yaml:"tokens"`
}

// Token is an admin API credential.
type Token struct {
	Name   string `yaml:"name"`
	Secret string `yaml:"secret"`
	// Scopes: read, purge, replay, graph (register content graph edges),
	// crawl (start a crawl), admin (all).
	Scopes []string `yaml:"scopes"`
}

// Site is one website purgehook keeps fresh.
type Site struct {
	Name string `yaml:"name"`
	// BaseURL is the scheme and host that site-relative URLs are made
	// absolute with.
	BaseURL string   `yaml:"base_url"`
	Aliases []string `yaml:"aliases"`
	// Cultures maps a culture code to its path prefix (pt: /pt).
	Cultures map[string]string `yaml:"cultures"`
	// Warm lists the site-relative pages fetched after a purge of the whole
	// site.
	Warm []string `yaml:"warm"`
	// CMSIDs are the CMS's ids for this site (Umbraco's start item id or
	// path, a site id): a change that carries one belongs to this site,
	// whatever its source's site.
	CMSIDs []string `yaml:"cms_ids"`
	// Crawl, when set, crawls the site at start and every interval to
	// learn which cache tags its pages report. Without it a crawl runs
	// only when asked (POST /v1/crawl), with the defaults.
	Crawl *Crawl `yaml:"crawl"`
}

// Crawl is how a site is crawled: its sitemaps first, then the links of
// its pages, on its own hosts only.
type Crawl struct {
	// Sitemap is the site's sitemap or sitemap index: a site-relative path
	// or a URL on one of the site's hosts (default /sitemap.xml).
	Sitemap string `yaml:"sitemap"`
	// Interval is the time between crawls; the first runs at start
	// (default 24h, at least 1m).
	Interval time.Duration `yaml:"interval"`
	// MaxPages bounds the pages one crawl fetches (default 50000).
	MaxPages int `yaml:"max_pages"`
	// Rate is the most requests per second a crawl makes (default 10).
	Rate float64 `yaml:"rate"`
}

// CrawlOf returns a site's crawl settings with defaults applied: its crawl
// block, or the defaults without a schedule (Interval 0) when it has none.
func (s Site) CrawlOf() Crawl {
	c := Crawl{}
	if s.Crawl != nil {
		c = *s.Crawl
		if c.Interval == 0 {
			c.Interval = DefaultCrawlInterval
		}
	}
	if c.Sitemap == "" {
		c.Sitemap = DefaultCrawlSitemap
	}
	if c.MaxPages == 0 {
		c.MaxPages = DefaultCrawlMaxPages
	}
	if c.Rate == 0 {
		c.Rate = DefaultCrawlRate
	}
	return c
}

// Basic is HTTP Basic credentials.
type Basic struct {
	Username string `yaml:"username"`
	Password string `yaml:"password"`
}

// Source is one webhook endpoint: POST /hooks/{name}. It holds the fields
// every kind shares; the kind's own fields are in Settings.
type Source struct {
	Name string `yaml:"name"`
	Kind string `yaml:"kind"`
	// Secret (or Secrets, during rotation) is the HMAC key for kinds that
	// sign.
	Secret  string   `yaml:"secret"`
	Secrets []string `yaml:"secrets"`
	// Token is expected in AuthHeader (default Authorization, as a bearer
	// token) for kinds whose CMS only sends configured headers.
	Token      string `yaml:"token"`
	AuthHeader string `yaml:"auth_header"`
	Basic      *Basic `yaml:"basic"`
	// AllowIPs, when set, is the list of CIDRs (or single addresses) that
	// may call this source; any other client gets 403.
	AllowIPs []string `yaml:"allow_ips"`
	// Site is the site changes belong to when the payload does not say.
	Site string `yaml:"site"`
	// MaxBody is the largest accepted body (default 1MiB); larger → 413.
	MaxBody ByteSize `yaml:"max_body"`
	// ReplayWindow bounds the age of signed timestamps (default 5m; 0
	// disables the check).
	ReplayWindow *time.Duration `yaml:"replay_window"`
	// DedupeWindow is how long a body's hash marks a redelivery for CMSs
	// that send no delivery id (default 5m; 0: forever). Two real events
	// can have the same body (unpublish, publish, unpublish again), so a
	// hash should not shadow a later event for long.
	DedupeWindow *time.Duration `yaml:"dedupe_window"`
	// Settings is the kind's own block (source/kontent's Config, …),
	// decoded from the same mapping; nil for kinds without one.
	Settings Settings `yaml:"-"`
}

// Provider is one cache layer's API. It holds the fields every kind
// shares; the kind's own fields are in Settings.
type Provider struct {
	Name string `yaml:"name"`
	Kind string `yaml:"kind"`
	// Layer is app, origin or edge; purges run app → origin → edge.
	Layer string `yaml:"layer"`
	// Limits override the provider's declared limits.
	Limits Limits `yaml:"limits"`
	Budget Budget `yaml:"budget"`
	// OnBudgetExhausted is purge_everything (default: one call replaces a
	// plan the remaining budget cannot cover) or wait (calls beyond the
	// budget wait for the next window).
	OnBudgetExhausted string `yaml:"on_budget_exhausted"`
	// Timeout bounds one call (default 30s).
	Timeout time.Duration `yaml:"timeout"`
	// Sites are the sites whose pages this provider caches (default: every
	// site). Targets of another site never reach it, and no escalation
	// (a host or tag purged as everything) crosses into it.
	Sites []string `yaml:"sites"`
	// OverPurge is the fraction (0 to 1, default 0) of the known pages a
	// tag, prefix or host may purge beyond those asked for when the
	// planner's cost model purges it instead of the URLs: 0 takes only a
	// tag, prefix or host whose every known page is being purged anyway.
	OverPurge float64 `yaml:"over_purge"`
	// Covers are the kinds (tag, prefix, host) the cost model may purge
	// instead of URLs; absent means every kind the provider purges, []
	// none. A young graph knows few pages, so a prefix or host it thinks
	// holds only targets may hold pages it has not seen yet: [tag] keeps
	// to the covers the CDN itself keeps exact.
	Covers *[]string `yaml:"covers"`

	// Settings is the kind's own block (purger/cloudflare's Config, …),
	// decoded from the same mapping: {name: cf, kind: cloudflare, zone: Z}
	// puts name and kind here and zone in the kind's Config.
	Settings Settings `yaml:"-"`
}

// Limits override a provider's declared per-call limits; zero keeps the
// provider's default.
type Limits struct {
	FilesPerCall    int     `yaml:"files_per_call"`
	TagsPerCall     int     `yaml:"tags_per_call"`
	HostsPerCall    int     `yaml:"hosts_per_call"`
	PrefixesPerCall int     `yaml:"prefixes_per_call"`
	BodyBytes       int     `yaml:"body_bytes"`
	RatePerSecond   float64 `yaml:"rate_per_second"`
	Burst           int     `yaml:"burst"`
}

// Budget is a provider's daily call budget; it survives restarts.
type Budget struct {
	// CallsPerDay; 0 means the provider's default (often unlimited).
	CallsPerDay int `yaml:"calls_per_day"`
	// Reserve is the share of CallsPerDay kept back at the start of the
	// day for later changes and let go linearly until midnight UTC, so a
	// morning storm cannot spend the whole day (default 0.2; 0: none).
	Reserve *float64 `yaml:"reserve"`
}

// Rule adds targets for changes that match.
type Rule struct {
	When  Match        `yaml:"when"`
	Purge []RuleTarget `yaml:"purge"`
}

// Match selects changes; every set field must match (values are compared
// case-insensitively; kind is a normalised change kind).
type Match struct {
	ContentType string `yaml:"content_type"`
	Event       string `yaml:"event"`
	Kind        string `yaml:"kind"`
	Source      string `yaml:"source"`
	Site        string `yaml:"site"`
	// Fields must each equal the change's field of that name (featured:
	// "true" for "the homepage, if the item is featured").
	Fields map[string]string `yaml:"fields"`
}

// RuleTarget is one thing a rule purges. URL and prefix values are
// site-relative paths (or absolute URLs) and may contain {field}
// placeholders filled from the change ({culture}, {slug}, {codename}, …).
type RuleTarget struct {
	URL          string `yaml:"url"`
	Tag          string `yaml:"tag"`
	Prefix       string `yaml:"prefix"`
	Host         string `yaml:"host"`
	EverythingOn string `yaml:"everything_on"`
	// ListOf purges the list pages of a content type: every page the
	// content graph knows reports the tag list:{type} ({field}
	// placeholders allowed, list_of: "{content_type}").
	ListOf string `yaml:"list_of"`
	// Warm, for url targets, fetches the page again after the purge
	// (default true).
	Warm *bool `yaml:"warm"`
}

// Warm configures the re-fetch after a purge.
type Warm struct {
	// Disabled turns warming off.
	Disabled bool `yaml:"disabled"`
	// Concurrency is the most warm-up requests at once in the process,
	// every batch's together (default 5).
	Concurrency int `yaml:"concurrency"`
	// PerOrigin is the most at once to one origin host (default
	// concurrency).
	PerOrigin int `yaml:"per_origin"`
	// Delay is the pause after each request before its slot is used
	// again.
	Delay   time.Duration     `yaml:"delay"`
	Header  map[string]string `yaml:"header"`
	Timeout time.Duration     `yaml:"timeout"`
	// Variants are extra versions of every page to fetch, for caches
	// that key on a request header (Vary: Accept-Language, a mobile
	// User-Agent): each page is fetched plainly and once per variant.
	Variants []WarmVariant `yaml:"variants"`
	// Backoff slows warm-ups to an origin whose latency or error rate
	// rises, and restores them as it recovers.
	Backoff WarmBackoff `yaml:"backoff"`
}

// WarmVariant is one version of a page a cache keeps apart.
type WarmVariant struct {
	// Name names the variant in warm-up outcomes ("de", "mobile").
	Name string `yaml:"name"`
	// Headers are sent with the variant's requests, over warm.header.
	Headers map[string]string `yaml:"headers"`
}

// WarmBackoff holds the thresholds on an origin's moving averages.
type WarmBackoff struct {
	// Latency: a slower average response means the origin struggles
	// (default 2s).
	Latency time.Duration `yaml:"latency"`
	// ErrorRate: a larger share of failed requests (no answer, 5xx,
	// 429) means the origin struggles (default 0.2).
	ErrorRate float64 `yaml:"error_rate"`
	// MaxDelay caps the lengthened delay (default 10s).
	MaxDelay time.Duration `yaml:"max_delay"`
}

// Graph configures the content graph: what pages show which content.
type Graph struct {
	// TagHeaders are the response headers whose values are a page's
	// cache tags, read from every warm-up response (default Cache-Tag,
	// Surrogate-Key, xkey). An empty list ([]) turns learning off.
	TagHeaders []string `yaml:"tag_headers"`
	// TagSeparators are the characters between tags in those headers
	// (default ", ": a comma or a space).
	TagSeparators string `yaml:"tag_separators"`
	// Sync is how often a replica reads the graph writes of the others
	// (default 10s; every delivery also reads them before it resolves).
	Sync time.Duration `yaml:"sync"`
	// UnknownTags is what happens to a tag, for a provider that cannot
	// purge tags, when no page the graph knows carries it: drop (default;
	// noted in the audit trail and counted) or purge_everything.
	UnknownTags string `yaml:"unknown_tags"`
}

// Queue tunes the durable job queue.
type Queue struct {
	// Workers is how many jobs run at once (default 10).
	Workers int `yaml:"workers"`
	// JobTimeout bounds one job (default 1m).
	JobTimeout time.Duration `yaml:"job_timeout"`
	// RescueAfter is when a job left running by a crashed process is run
	// again (default 2m; must exceed job_timeout).
	RescueAfter time.Duration `yaml:"rescue_after"`
	// MaxAttempts before a failing call is given up (default 10).
	MaxAttempts int `yaml:"max_attempts"`
}

// Log configures logging.
type Log struct {
	// Level: debug, info (default), warn, error.
	Level string `yaml:"level"`
	// Format: text (default) or json.
	Format string `yaml:"format"`
}
