package config

import (
	"fmt"
	"maps"
	"math"
	"net"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/purgehook/purgehook/change"
)

// SetDefaults fills every unset field with its documented default.
func (c *Config) SetDefaults() {
	if c.Store.Driver == "" {
		c.Store.Driver = DefaultStoreDriver
	}
	if c.Store.DSN == "" && c.Store.Driver == "sqlite" {
		c.Store.DSN = DefaultStoreDSN
	}
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.Coalesce == 0 {
		c.Coalesce = DefaultCoalesce
	}
	if c.MaxWait == 0 {
		c.MaxWait = DefaultMaxWait
	}
	for i := range c.Sources {
		s := &c.Sources[i]
		if s.MaxBody == 0 {
			s.MaxBody = DefaultMaxBody
		}
		if s.ReplayWindow == nil {
			d := DefaultReplayWindow
			s.ReplayWindow = &d
		}
		if s.DedupeWindow == nil {
			d := DefaultDedupeWindow
			s.DedupeWindow = &d
		}
		if s.Site == "" && len(c.Sites) == 1 {
			s.Site = c.Sites[0].Name
		}
	}
	for i := range c.Providers {
		p := &c.Providers[i]
		if p.OnBudgetExhausted == "" {
			p.OnBudgetExhausted = DefaultOnBudget
		}
		if p.Budget.Reserve == nil {
			r := DefaultBudgetReserve
			p.Budget.Reserve = &r
		}
		if p.Timeout == 0 {
			p.Timeout = DefaultProviderTimout
		}
	}
	if c.Retention == 0 {
		c.Retention = DefaultRetention
	}
	if c.Warm.Concurrency == 0 {
		c.Warm.Concurrency = DefaultWarmConc
	}
	if c.Limits.URLLength == 0 {
		c.Limits.URLLength = DefaultURLLength
	}
	if c.Limits.Targets == 0 {
		c.Limits.Targets = DefaultTargets
	}
	if c.Limits.Warm == 0 {
		c.Limits.Warm = DefaultWarmPages
	}
	if c.Warm.Delay == 0 {
		c.Warm.Delay = DefaultWarmDelay
	}
	if c.Warm.Timeout == 0 {
		c.Warm.Timeout = DefaultWarmTimeout
	}
	if c.Warm.PerOrigin == 0 {
		c.Warm.PerOrigin = c.Warm.Concurrency
	}
	if c.Warm.Backoff.Latency == 0 {
		c.Warm.Backoff.Latency = DefaultWarmBackoffLatency
	}
	if c.Warm.Backoff.ErrorRate == 0 {
		c.Warm.Backoff.ErrorRate = DefaultWarmBackoffErrorRate
	}
	if c.Warm.Backoff.MaxDelay == 0 {
		c.Warm.Backoff.MaxDelay = DefaultWarmBackoffMaxDelay
	}
	c.Warm.Header = warmHeader(c.Warm.Header)
	if c.Graph.TagHeaders == nil {
		c.Graph.TagHeaders = slices.Clone(DefaultTagHeaders)
	}
	if c.Graph.TagSeparators == "" {
		c.Graph.TagSeparators = DefaultTagSeparators
	}
	if c.Graph.Sync == 0 {
		c.Graph.Sync = DefaultGraphSync
	}
	if c.Graph.UnknownTags == "" {
		c.Graph.UnknownTags = DefaultUnknownTags
	}
	for i := range c.Sites {
		if cr := c.Sites[i].Crawl; cr != nil {
			*cr = c.Sites[i].CrawlOf()
		}
	}
	if c.Queue.Workers == 0 {
		c.Queue.Workers = DefaultWorkers
	}
	if c.Queue.JobTimeout == 0 {
		c.Queue.JobTimeout = DefaultJobTimeout
	}
	if c.Queue.RescueAfter == 0 {
		c.Queue.RescueAfter = DefaultRescueAfter
	}
	if c.Queue.MaxAttempts == 0 {
		c.Queue.MaxAttempts = DefaultMaxAttempts
	}
}

// setKindDefaults applies what depends on a block's kind: a provider's
// layer, and each kind's own defaults.
func (c *Config) setKindDefaults(kinds Kinds) {
	for i := range c.Providers {
		p := &c.Providers[i]
		if k, ok := kinds.Providers[p.Kind]; ok && p.Layer == "" {
			p.Layer = k.Layer
		}
		setDefaults(p.Settings)
	}
	for i := range c.Sources {
		setDefaults(c.Sources[i].Settings)
	}
}

func setDefaults(s Settings) {
	if d, ok := s.(interface{ SetDefaults() }); ok {
		d.SetDefaults()
	}
}

// Validate returns every problem, each naming its field path; kinds is the
// table the file was parsed with.
func (c *Config) Validate(kinds Kinds) Problems {
	var p Problems
	p = append(p, c.validateStore()...)
	p = append(p, c.validateListen()...)
	p = append(p, c.validateAdmin()...)
	sites, probs := c.validateSites()
	p = append(p, probs...)
	sources, probs := c.validateSources(kinds.Sources, sites)
	p = append(p, probs...)
	p = append(p, c.validateProviders(kinds.Providers, sites)...)
	p = append(p, c.validateRules(sources, sites)...)
	p = append(p, c.validateTiming()...)
	p = append(p, c.validateWarm()...)
	for _, l := range []struct {
		name string
		v    int
	}{{"url_length", c.Limits.URLLength}, {"targets", c.Limits.Targets}, {"warm", c.Limits.Warm}} {
		if l.v < 0 {
			p = append(p, problem("limits."+l.name, "must not be negative (0 means the default)"))
		}
	}
	p = append(p, c.validateGraph()...)
	p = append(p, c.validateQueue()...)
	p = append(p, c.validateLog()...)
	return p
}

// problem formats one problem at path.
func problem(path, format string, args ...any) string {
	return path + ": " + fmt.Sprintf(format, args...)
}

func (c *Config) validateStore() Problems {
	var p Problems
	switch c.Store.Driver {
	case "sqlite", "postgres":
	default:
		p = append(p, problem("store.driver", "unknown driver %q (want sqlite or postgres)", c.Store.Driver))
	}
	if c.Store.DSN == "" {
		p = append(p, problem("store.dsn", "required"))
	}
	return p
}

func (c *Config) validateListen() Problems {
	var p Problems
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		p = append(p, problem("listen", "want host:port: %v", err))
	}
	if c.TLS != nil {
		if c.TLS.Cert == "" {
			p = append(p, problem("tls.cert", "required with tls"))
		}
		if c.TLS.Key == "" {
			p = append(p, problem("tls.key", "required with tls"))
		}
	}
	for i, cidr := range c.TrustedProxies {
		if _, err := ParseCIDR(cidr); err != nil {
			p = append(p, problem(fmt.Sprintf("trusted_proxies[%d]", i), "%v", err))
		}
	}
	return p
}

func (c *Config) validateAdmin() Problems {
	var p Problems
	for i, t := range c.Admin.Tokens {
		path := fmt.Sprintf("admin.tokens[%d]", i)
		if t.Name == "" {
			p = append(p, problem(path+".name", "required"))
		}
		if t.Secret == "" {
			p = append(p, problem(path+".secret", "required"))
		}
		for j, s := range t.Scopes {
			if !slices.Contains([]string{"read", "purge", "replay", "graph", "crawl", "admin"}, s) {
				p = append(p, problem(fmt.Sprintf("%s.scopes[%d]", path, j), "unknown scope %q (want read, purge, replay, graph, crawl or admin)", s))
			}
		}
	}
	return p
}

// validateSites also returns the site names, which sources and rules refer
// to.
func (c *Config) validateSites() (map[string]bool, Problems) {
	var p Problems
	sites := map[string]bool{}
	cmsIDs := map[string]string{}
	for i, s := range c.Sites {
		path := fmt.Sprintf("sites[%d]", i)
		if s.Name == "" {
			p = append(p, problem(path+".name", "required"))
		} else if sites[s.Name] {
			p = append(p, problem(path+".name", "duplicate site %q", s.Name))
		}
		sites[s.Name] = true
		if err := checkBaseURL(s.BaseURL); err != nil {
			p = append(p, problem(path+".base_url", "%v", err))
		}
		for j, a := range s.Aliases {
			if err := checkBaseURL(a); err != nil {
				p = append(p, problem(fmt.Sprintf("%s.aliases[%d]", path, j), "%v", err))
			}
		}
		for k, v := range s.Cultures {
			if !strings.HasPrefix(v, "/") {
				p = append(p, problem(path+".cultures."+k, "want a path starting with /, got %q", v))
			}
		}
		for j, id := range s.CMSIDs {
			if other, ok := cmsIDs[id]; ok && id != "" {
				p = append(p, problem(fmt.Sprintf("%s.cms_ids[%d]", path, j), "%q is also an id of site %q", id, other))
			} else if id == "" {
				p = append(p, problem(fmt.Sprintf("%s.cms_ids[%d]", path, j), "empty"))
			}
			cmsIDs[id] = s.Name
		}
		for j, w := range s.Warm {
			if !strings.HasPrefix(w, "/") {
				p = append(p, problem(fmt.Sprintf("%s.warm[%d]", path, j), "want a site-relative path starting with /, got %q", w))
			}
		}
		if s.Crawl != nil {
			p = append(p, validateCrawl(path+".crawl", s)...)
		}
	}
	return sites, p
}

// validateCrawl checks a site's crawl block (defaults applied).
func validateCrawl(path string, s Site) Problems {
	var p Problems
	c := s.Crawl
	if c.Rate <= 0 {
		p = append(p, problem(path+".rate", "must be > 0 (requests per second)"))
	}
	if c.MaxPages <= 0 {
		p = append(p, problem(path+".max_pages", "must be > 0"))
	}
	if c.Interval < MinCrawlInterval {
		p = append(p, problem(path+".interval", "must be at least %s, got %s", MinCrawlInterval, c.Interval))
	}
	if !strings.HasPrefix(c.Sitemap, "/") || strings.HasPrefix(c.Sitemap, "//") {
		u, err := url.Parse(c.Sitemap)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || !siteHost(s, u.Host) {
			p = append(p, problem(path+".sitemap", "want a site-relative path (/sitemap.xml) or a URL on the site's base_url or aliases, got %q", c.Sitemap))
		}
	}
	return p
}

// siteHost reports whether host is the host of s's base_url or an alias.
func siteHost(s Site, host string) bool {
	for _, b := range append([]string{s.BaseURL}, s.Aliases...) {
		if u, err := url.Parse(b); err == nil && strings.EqualFold(u.Host, host) {
			return true
		}
	}
	return false
}

// validateSources also returns the source names, which rules refer to.
func (c *Config) validateSources(kinds map[string]SourceKind, sites map[string]bool) (map[string]bool, Problems) {
	var p Problems
	names := map[string]bool{}
	for i, s := range c.Sources {
		path := fmt.Sprintf("sources[%d]", i)
		if s.Name == "" {
			p = append(p, problem(path+".name", "required"))
		} else if strings.ContainsAny(s.Name, "/?# ") {
			p = append(p, problem(path+".name", "%q cannot be used in /hooks/{name}", s.Name))
		} else if names[s.Name] {
			p = append(p, problem(path+".name", "duplicate source %q", s.Name))
		}
		names[s.Name] = true
		kind, ok := kinds[s.Kind]
		if !ok {
			p = append(p, problem(path+".kind", "unknown kind %q (want one of %s)", s.Kind, keys(kinds)))
		}
		p = append(p, s.validateAuth(path, kind.Auth)...)
		for j, cidr := range s.AllowIPs {
			if _, err := ParseCIDR(cidr); err != nil {
				p = append(p, problem(fmt.Sprintf("%s.allow_ips[%d]", path, j), "%v", err))
			}
		}
		if s.Site != "" && !sites[s.Site] {
			p = append(p, problem(path+".site", "unknown site %q", s.Site))
		}
		if s.MaxBody < 0 {
			p = append(p, problem(path+".max_body", "must not be negative"))
		}
		if s.DedupeWindow != nil && *s.DedupeWindow < 0 {
			p = append(p, problem(path+".dedupe_window", "must not be negative (0: a body hash dedupes forever)"))
		}
		if s.ReplayWindow != nil && *s.ReplayWindow < 0 {
			p = append(p, problem(path+".replay_window", "must not be negative (0 disables the check)"))
		}
		p = append(p, settingsProblems(path, s.Settings)...)
	}
	return names, p
}

// validateAuth checks that a source has the credentials its kind needs.
func (s Source) validateAuth(path string, auth Auth) Problems {
	var p Problems
	hasSecret := s.Secret != "" || len(s.Secrets) > 0
	hasToken := s.Token != "" || s.Basic != nil
	// An option the kind never checks is an error, not a silent no-op:
	// whoever set it believes the source is protected by it.
	unused := func(field, why string) {
		p = append(p, problem(path+"."+field, "kind %s does not use it (%s)", s.Kind, why))
	}
	switch auth {
	case AuthHMAC, AuthSigned:
		if !hasSecret {
			p = append(p, problem(path+".secret", "required for kind %s (it signs its webhooks)", s.Kind))
		}
		if auth == AuthSigned {
			if s.Token != "" {
				unused("token", "only its signature is checked")
			}
			if s.Basic != nil {
				unused("basic", "only its signature is checked")
			}
		}
	case AuthToken:
		if !hasToken {
			p = append(p, problem(path+".token", "required for kind %s (token or basic; it does not sign)", s.Kind))
		}
		if s.Secret != "" {
			unused("secret", "it does not sign its webhooks")
		}
		if len(s.Secrets) > 0 {
			unused("secrets", "it does not sign its webhooks")
		}
	case AuthAny:
		if !hasSecret && !hasToken {
			p = append(p, problem(path, "kind %s needs secret, token or basic", s.Kind))
		}
	}
	if s.AuthHeader != "" && s.Token == "" {
		p = append(p, problem(path+".auth_header", "names the header of token, which is not set"))
	}
	if s.Basic != nil && (s.Basic.Username == "" || s.Basic.Password == "") {
		p = append(p, problem(path+".basic", "username and password are both required"))
	}
	return p
}

func (c *Config) validateProviders(kinds map[string]ProviderKind, sites map[string]bool) Problems {
	var p Problems
	if len(c.Providers) == 0 {
		p = append(p, problem("providers", "at least one provider is required (kind: log prints what would be purged)"))
	}
	names := map[string]bool{}
	for i, pr := range c.Providers {
		path := fmt.Sprintf("providers[%d]", i)
		if pr.Name == "" {
			p = append(p, problem(path+".name", "required"))
		} else if names[pr.Name] {
			p = append(p, problem(path+".name", "duplicate provider %q", pr.Name))
		}
		names[pr.Name] = true
		if _, ok := kinds[pr.Kind]; !ok {
			p = append(p, problem(path+".kind", "unknown kind %q (want one of %s)", pr.Kind, keys(kinds)))
		}
		if _, ok := change.ParseLayer(pr.Layer); !ok {
			p = append(p, problem(path+".layer", "unknown layer %q (want app, origin or edge)", pr.Layer))
		}
		switch pr.OnBudgetExhausted {
		case "purge_everything", "wait":
		default:
			p = append(p, problem(path+".on_budget_exhausted", "want purge_everything or wait, got %q", pr.OnBudgetExhausted))
		}
		if pr.Budget.CallsPerDay < 0 {
			p = append(p, problem(path+".budget.calls_per_day", "must not be negative"))
		}
		if r := pr.Budget.Reserve; r != nil && (*r < 0 || *r > 1) {
			p = append(p, problem(path+".budget.reserve", "want a share of the day's budget from 0 to 1, got %g", *r))
		}
		if pr.Covers != nil {
			for j, k := range *pr.Covers {
				if k != "tag" && k != "prefix" && k != "host" {
					p = append(p, problem(fmt.Sprintf("%s.covers[%d]", path, j), "want tag, prefix or host, got %q", k))
				}
			}
		}
		if pr.OverPurge < 0 || pr.OverPurge > 1 || math.IsNaN(pr.OverPurge) {
			p = append(p, problem(path+".over_purge", "want a fraction from 0 to 1, got %g", pr.OverPurge))
		}
		for j, s := range pr.Sites {
			if !sites[s] {
				p = append(p, problem(fmt.Sprintf("%s.sites[%d]", path, j), "unknown site %q", s))
			}
		}
		p = append(p, pr.Limits.validate(path+".limits")...)
		p = append(p, settingsProblems(path, pr.Settings)...)
	}
	return p
}

func (l Limits) validate(path string) Problems {
	var p Problems
	for _, n := range []struct {
		name string
		v    int
	}{{"files_per_call", l.FilesPerCall}, {"tags_per_call", l.TagsPerCall}, {"hosts_per_call", l.HostsPerCall}, {"prefixes_per_call", l.PrefixesPerCall}, {"body_bytes", l.BodyBytes}, {"burst", l.Burst}} {
		if n.v < 0 {
			p = append(p, problem(path+"."+n.name, "must not be negative"))
		}
	}
	if l.RatePerSecond < 0 {
		p = append(p, problem(path+".rate_per_second", "must not be negative"))
	}
	return p
}

// settingsProblems validates a kind's own block and puts the block's path
// before each problem, which starts with its field name.
func settingsProblems(path string, s Settings) Problems {
	if s == nil {
		return nil
	}
	var p Problems
	var walk func(err error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		if err != nil {
			p = append(p, path+"."+err.Error())
		}
	}
	walk(s.Validate())
	return p
}

func (c *Config) validateRules(sources, sites map[string]bool) Problems {
	var p Problems
	for i, r := range c.Rules {
		path := fmt.Sprintf("rules[%d]", i)
		w := r.When
		if w.ContentType == "" && w.Event == "" && w.Kind == "" && w.Source == "" && w.Site == "" && len(w.Fields) == 0 {
			p = append(p, problem(path+".when", "empty: a rule must match on content_type, event, kind, source, site or fields"))
		}
		for k := range w.Fields {
			if !fieldName.MatchString(k) {
				p = append(p, problem(path+".when.fields."+k, "want a field name of lower-case letters, digits and _"))
			}
		}
		if w.Source != "" && !sources[w.Source] {
			p = append(p, problem(path+".when.source", "unknown source %q", w.Source))
		}
		if w.Site != "" && !sites[w.Site] {
			p = append(p, problem(path+".when.site", "unknown site %q", w.Site))
		}
		if len(r.Purge) == 0 {
			p = append(p, problem(path+".purge", "required"))
		}
		for j, t := range r.Purge {
			p = append(p, t.validate(fmt.Sprintf("%s.purge[%d]", path, j))...)
		}
	}
	return p
}

func (t RuleTarget) validate(path string) Problems {
	set := 0
	for _, v := range []string{t.URL, t.Tag, t.Prefix, t.Host, t.EverythingOn, t.ListOf} {
		if v != "" {
			set++
		}
	}
	switch {
	case set != 1:
		return Problems{problem(path, "want exactly one of url, tag, prefix, host, everything_on, list_of")}
	case t.EverythingOn != "" && t.EverythingOn != "this_site" && t.EverythingOn != "all_sites":
		return Problems{problem(path+".everything_on", "want this_site or all_sites, got %q", t.EverythingOn)}
	case t.URL != "" && !strings.HasPrefix(t.URL, "/") && !strings.Contains(t.URL, "://"):
		return Problems{problem(path+".url", "want a site-relative path starting with / or an absolute URL, got %q", t.URL)}
	case t.Prefix != "" && !strings.HasPrefix(t.Prefix, "/") && !strings.Contains(t.Prefix, "://"):
		return Problems{problem(path+".prefix", "want a site-relative path starting with / or an absolute URL, got %q", t.Prefix)}
	}
	return nil
}

// validateTiming checks the coalescing window and the retention.
func (c *Config) validateTiming() Problems {
	var p Problems
	if c.Coalesce < 0 {
		p = append(p, problem("coalesce", "must not be negative"))
	}
	if c.MaxWait < c.Coalesce {
		p = append(p, problem("max_wait", "must be at least coalesce (%s)", c.Coalesce))
	}
	if c.Retention < time.Hour {
		p = append(p, problem("retention", "must be at least 1h, got %s", c.Retention))
	}
	return p
}

func (c *Config) validateWarm() Problems {
	var p Problems
	w := c.Warm
	if w.Concurrency < 0 {
		p = append(p, problem("warm.concurrency", "must not be negative"))
	}
	if w.PerOrigin < 0 || w.PerOrigin > w.Concurrency {
		p = append(p, problem("warm.per_origin", "want between 1 and warm.concurrency (%d), got %d", w.Concurrency, w.PerOrigin))
	}
	if w.Backoff.Latency < 0 {
		p = append(p, problem("warm.backoff.latency", "must not be negative"))
	}
	if w.Backoff.ErrorRate < 0 || w.Backoff.ErrorRate > 1 {
		p = append(p, problem("warm.backoff.error_rate", "want a share between 0 and 1, got %g", w.Backoff.ErrorRate))
	}
	if w.Backoff.MaxDelay < 0 {
		p = append(p, problem("warm.backoff.max_delay", "must not be negative"))
	}
	names := map[string]bool{}
	for i, v := range w.Variants {
		path := fmt.Sprintf("warm.variants[%d]", i)
		switch {
		case !fieldName.MatchString(v.Name):
			p = append(p, problem(path+".name", "want a lower-case name like de or mobile, got %q", v.Name))
		case names[v.Name]:
			p = append(p, problem(path+".name", "%q is already a variant's name", v.Name))
		}
		names[v.Name] = true
		if len(v.Headers) == 0 {
			p = append(p, problem(path+".headers", "want at least one header: a variant without one is the plain request"))
		}
		for _, k := range slices.Sorted(maps.Keys(v.Headers)) {
			if !isToken(k) {
				p = append(p, problem(path+".headers", "want HTTP header names, got %q", k))
			} else if strings.ContainsAny(v.Headers[k], "\r\n") {
				p = append(p, problem(path+".headers."+k, "must be one line"))
			}
		}
	}
	return p
}

func (c *Config) validateGraph() Problems {
	var p Problems
	for i, h := range c.Graph.TagHeaders {
		if !isToken(h) {
			p = append(p, problem(fmt.Sprintf("graph.tag_headers[%d]", i), "want an HTTP header name, got %q", h))
		}
	}
	if c.Graph.Sync < 0 {
		p = append(p, problem("graph.sync", "must not be negative"))
	}
	switch c.Graph.UnknownTags {
	case "drop", "purge_everything":
	default:
		p = append(p, problem("graph.unknown_tags", "want drop or purge_everything, got %q", c.Graph.UnknownTags))
	}
	return p
}

// fieldName is a change field's name, as rule templates write it.
var fieldName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// isToken reports whether s is an HTTP header name (RFC 9110 token).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r > 0x7e || r <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return true
}

func (c *Config) validateQueue() Problems {
	var p Problems
	if c.Queue.RescueAfter <= c.Queue.JobTimeout {
		p = append(p, problem("queue.rescue_after", "must exceed queue.job_timeout (%s), or jobs still running would be run twice", c.Queue.JobTimeout))
	}
	if c.Queue.MaxAttempts < 1 {
		p = append(p, problem("queue.max_attempts", "must be at least 1"))
	}
	return p
}

func (c *Config) validateLog() Problems {
	var p Problems
	switch c.Log.Level {
	case "", "debug", "info", "warn", "error":
	default:
		p = append(p, problem("log.level", "want debug, info, warn or error, got %q", c.Log.Level))
	}
	switch c.Log.Format {
	case "", "text", "json":
	default:
		p = append(p, problem("log.format", "want text or json, got %q", c.Log.Format))
	}
	return p
}

// DefaultWarmHeader marks warm-up requests so that analytics and origin
// logic can tell them from readers.
const DefaultWarmHeader = "X-Warmup"

// warmHeader adds X-Warmup: true to the configured headers unless they
// set it themselves: a header added for the origin (a bypass token, a
// host) does not silently drop the mark analytics filter on.
func warmHeader(h map[string]string) map[string]string {
	out := map[string]string{DefaultWarmHeader: "true"}
	for k, v := range h {
		if strings.EqualFold(k, DefaultWarmHeader) {
			delete(out, DefaultWarmHeader)
		}
		out[k] = v
	}
	return out
}

func checkBaseURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("want scheme and host like https://www.example.com, got %q", s)
	}
	if u.Path != "" && u.Path != "/" {
		return fmt.Errorf("want scheme and host only, without a path, got %q", s)
	}
	return nil
}

// ParseCIDR reads a CIDR or a single address (as a /32 or /128).
func ParseCIDR(s string) (*net.IPNet, error) {
	if !strings.Contains(s, "/") {
		ip := net.ParseIP(s)
		if ip == nil {
			return nil, fmt.Errorf("invalid address or CIDR %q", s)
		}
		bits := 128
		if ip.To4() != nil {
			ip, bits = ip.To4(), 32
		}
		return &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)}, nil
	}
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		return nil, fmt.Errorf("invalid address or CIDR %q", s)
	}
	return n, nil
}

func keys[V any](m map[string]V) string {
	k := make([]string, 0, len(m))
	for n := range m {
		k = append(k, n)
	}
	sort.Strings(k)
	return strings.Join(k, ", ")
}
