package config

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/purgehook/purgehook/change"
)

// SourceKinds lists the source kinds and how each authenticates: "hmac"
// kinds need a secret, "token" kinds need a token or basic credentials, and
// "any" kinds accept either.
var SourceKinds = map[string]string{
	"generic":    "hmac",
	"umbraco":    "token",
	"sitefinity": "any",
	"kontent":    "hmac",
	"contentful": "any",
	"strapi":     "token",
	"sanity":     "any",
	"storyblok":  "hmac",
	"standard":   "hmac",
}

// ProviderKinds lists the provider kinds with the fields each requires and
// the layer it defaults to.
var ProviderKinds = map[string]struct {
	Required []string
	Layer    string
}{
	"log":        {nil, "edge"},
	"cloudflare": {[]string{"zone", "token"}, "edge"},
	"varnish":    {[]string{"servers"}, "origin"},
	"cloudfront": {[]string{"distribution_id"}, "edge"},
	"akamai":     {[]string{"host", "client_token", "client_secret", "access_token"}, "edge"},
	"bunny":      {[]string{"api_key"}, "edge"},
	"fastly":     {[]string{"service_id", "token"}, "edge"},
	"nginx":      {[]string{"servers"}, "origin"},
	"http":       {[]string{"request"}, "edge"},
	// app needs neither instances nor secret when stream is true and no
	// instance is listed (every instance follows /v1/stream); see Validate.
	"app": {[]string{"instances", "secret"}, "app"},
}

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
		if p.Layer == "" {
			if k, ok := ProviderKinds[p.Kind]; ok {
				p.Layer = k.Layer
			}
		}
		if p.OnBudgetExhausted == "" {
			p.OnBudgetExhausted = DefaultOnBudget
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
	if c.Warm.Delay == 0 {
		c.Warm.Delay = DefaultWarmDelay
	}
	if c.Warm.Timeout == 0 {
		c.Warm.Timeout = DefaultWarmTimeout
	}
	if c.Warm.Header == nil {
		c.Warm.Header = map[string]string{"X-Warmup": "true"}
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

// Validate returns every problem, each naming its field path.
func (c *Config) Validate() Problems {
	var p Problems
	add := func(path, format string, args ...any) {
		p = append(p, path+": "+fmt.Sprintf(format, args...))
	}

	switch c.Store.Driver {
	case "sqlite", "postgres":
	default:
		add("store.driver", "unknown driver %q (want sqlite or postgres)", c.Store.Driver)
	}
	if c.Store.DSN == "" {
		add("store.dsn", "required")
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		add("listen", "want host:port: %v", err)
	}
	for i, t := range c.Admin.Tokens {
		path := fmt.Sprintf("admin.tokens[%d]", i)
		if t.Name == "" {
			add(path+".name", "required")
		}
		if t.Secret == "" {
			add(path+".secret", "required")
		}
		for j, s := range t.Scopes {
			if !slices.Contains([]string{"read", "purge", "replay", "admin"}, s) {
				add(fmt.Sprintf("%s.scopes[%d]", path, j), "unknown scope %q (want read, purge, replay or admin)", s)
			}
		}
	}

	sites := map[string]bool{}
	for i, s := range c.Sites {
		path := fmt.Sprintf("sites[%d]", i)
		if s.Name == "" {
			add(path+".name", "required")
		} else if sites[s.Name] {
			add(path+".name", "duplicate site %q", s.Name)
		}
		sites[s.Name] = true
		if err := checkBaseURL(s.BaseURL); err != nil {
			add(path+".base_url", "%v", err)
		}
		for j, a := range s.Aliases {
			if err := checkBaseURL(a); err != nil {
				add(fmt.Sprintf("%s.aliases[%d]", path, j), "%v", err)
			}
		}
		for k, v := range s.Cultures {
			if !strings.HasPrefix(v, "/") {
				add(path+".cultures."+k, "want a path starting with /, got %q", v)
			}
		}
		for j, w := range s.Warm {
			if !strings.HasPrefix(w, "/") {
				add(fmt.Sprintf("%s.warm[%d]", path, j), "want a site-relative path starting with /, got %q", w)
			}
		}
	}

	names := map[string]bool{}
	for i, s := range c.Sources {
		path := fmt.Sprintf("sources[%d]", i)
		if s.Name == "" {
			add(path+".name", "required")
		} else if strings.ContainsAny(s.Name, "/?# ") {
			add(path+".name", "%q cannot be used in /hooks/{name}", s.Name)
		} else if names[s.Name] {
			add(path+".name", "duplicate source %q", s.Name)
		}
		names[s.Name] = true
		auth, ok := SourceKinds[s.Kind]
		if !ok {
			add(path+".kind", "unknown kind %q (want one of %s)", s.Kind, keys(SourceKinds))
		}
		hasSecret := s.Secret != "" || len(s.Secrets) > 0
		hasToken := s.Token != "" || s.Basic != nil
		switch auth {
		case "hmac":
			if !hasSecret {
				add(path+".secret", "required for kind %s (it signs its webhooks)", s.Kind)
			}
		case "token":
			if !hasToken {
				add(path+".token", "required for kind %s (token or basic; it does not sign)", s.Kind)
			}
		case "any":
			if !hasSecret && !hasToken {
				add(path, "kind %s needs secret, token or basic", s.Kind)
			}
		}
		if s.Basic != nil && (s.Basic.Username == "" || s.Basic.Password == "") {
			add(path+".basic", "username and password are both required")
		}
		for j, cidr := range s.AllowIPs {
			if _, err := ParseCIDR(cidr); err != nil {
				add(fmt.Sprintf("%s.allow_ips[%d]", path, j), "%v", err)
			}
		}
		if s.Site != "" && !sites[s.Site] {
			add(path+".site", "unknown site %q", s.Site)
		}
		if s.MaxBody < 0 {
			add(path+".max_body", "must not be negative")
		}
		if s.DedupeWindow != nil && *s.DedupeWindow < 0 {
			add(path+".dedupe_window", "must not be negative (0: a body hash dedupes forever)")
		}
		if s.ReplayWindow != nil && *s.ReplayWindow < 0 {
			add(path+".replay_window", "must not be negative (0 disables the check)")
		}
	}

	pnames := map[string]bool{}
	for i, pr := range c.Providers {
		path := fmt.Sprintf("providers[%d]", i)
		if pr.Name == "" {
			add(path+".name", "required")
		} else if pnames[pr.Name] {
			add(path+".name", "duplicate provider %q", pr.Name)
		}
		pnames[pr.Name] = true
		kind, ok := ProviderKinds[pr.Kind]
		if !ok {
			add(path+".kind", "unknown kind %q (want one of %s)", pr.Kind, keys(ProviderKinds))
		}
		if _, ok := change.ParseLayer(pr.Layer); !ok {
			add(path+".layer", "unknown layer %q (want app, origin or edge)", pr.Layer)
		}
		for _, f := range kind.Required {
			if pr.Kind == "app" && pr.Stream && len(pr.Instances) == 0 {
				break
			}
			if isEmpty(pr, f) {
				add(path+"."+f, "required for kind %s", pr.Kind)
			}
		}
		switch pr.OnBudgetExhausted {
		case "purge_everything", "wait":
		default:
			add(path+".on_budget_exhausted", "want purge_everything or wait, got %q", pr.OnBudgetExhausted)
		}
		if pr.Budget.CallsPerDay < 0 {
			add(path+".budget.calls_per_day", "must not be negative")
		}
		l := pr.Limits
		for _, n := range []struct {
			name string
			v    int
		}{{"files_per_call", l.FilesPerCall}, {"tags_per_call", l.TagsPerCall}, {"hosts_per_call", l.HostsPerCall}, {"prefixes_per_call", l.PrefixesPerCall}, {"body_bytes", l.BodyBytes}, {"burst", l.Burst}} {
			if n.v < 0 {
				add(path+".limits."+n.name, "must not be negative")
			}
		}
		if l.RatePerSecond < 0 {
			add(path+".limits.rate_per_second", "must not be negative")
		}
		for j, s := range pr.Servers {
			if u, err := url.Parse(s); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				add(fmt.Sprintf("%s.servers[%d]", path, j), "want an http(s) URL, got %q", s)
			}
		}
		for j, s := range pr.Instances {
			if u, err := url.Parse(s); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				add(fmt.Sprintf("%s.instances[%d]", path, j), "want an http(s) URL")
			}
		}
		if pr.APIURL != "" {
			if u, err := url.Parse(pr.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				add(path+".api_url", "want an http(s) URL, got %q", pr.APIURL)
			}
		}
	}
	if len(c.Providers) == 0 {
		add("providers", "at least one provider is required (kind: log prints what would be purged)")
	}

	for i, r := range c.Rules {
		path := fmt.Sprintf("rules[%d]", i)
		w := r.When
		if w.ContentType == "" && w.Event == "" && w.Kind == "" && w.Source == "" && w.Site == "" {
			add(path+".when", "empty: a rule must match on content_type, event, kind, source or site")
		}
		if w.Source != "" && !names[w.Source] {
			add(path+".when.source", "unknown source %q", w.Source)
		}
		if w.Site != "" && !sites[w.Site] {
			add(path+".when.site", "unknown site %q", w.Site)
		}
		if len(r.Purge) == 0 {
			add(path+".purge", "required")
		}
		for j, t := range r.Purge {
			tp := fmt.Sprintf("%s.purge[%d]", path, j)
			set := 0
			for _, v := range []string{t.URL, t.Tag, t.Prefix, t.Host, t.EverythingOn, t.ListOf} {
				if v != "" {
					set++
				}
			}
			if set != 1 {
				add(tp, "want exactly one of url, tag, prefix, host, everything_on, list_of")
				continue
			}
			switch {
			case t.EverythingOn != "" && t.EverythingOn != "this_site" && t.EverythingOn != "all_sites":
				add(tp+".everything_on", "want this_site or all_sites, got %q", t.EverythingOn)
			case t.ListOf != "":
				add(tp+".list_of", "list pages need the dependency graph, which this version does not have yet; list the page with url instead")
			case t.URL != "" && !strings.HasPrefix(t.URL, "/") && !strings.Contains(t.URL, "://"):
				add(tp+".url", "want a site-relative path starting with / or an absolute URL, got %q", t.URL)
			case t.Prefix != "" && !strings.HasPrefix(t.Prefix, "/") && !strings.Contains(t.Prefix, "://"):
				add(tp+".prefix", "want a site-relative path starting with / or an absolute URL, got %q", t.Prefix)
			}
		}
	}

	if c.Coalesce < 0 {
		add("coalesce", "must not be negative")
	}
	if c.MaxWait < c.Coalesce {
		add("max_wait", "must be at least coalesce (%s)", c.Coalesce)
	}
	if c.Retention < time.Hour {
		add("retention", "must be at least 1h, got %s", c.Retention)
	}
	if c.Warm.Concurrency < 0 {
		add("warm.concurrency", "must not be negative")
	}
	if c.Queue.RescueAfter <= c.Queue.JobTimeout {
		add("queue.rescue_after", "must exceed queue.job_timeout (%s), or jobs still running would be run twice", c.Queue.JobTimeout)
	}
	if c.Queue.MaxAttempts < 1 {
		add("queue.max_attempts", "must be at least 1")
	}
	switch c.Log.Level {
	case "", "debug", "info", "warn", "error":
	default:
		add("log.level", "want debug, info, warn or error, got %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "", "text", "json":
	default:
		add("log.format", "want text or json, got %q", c.Log.Format)
	}
	return p
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

// isEmpty reports whether the provider field with the given yaml name is
// unset.
func isEmpty(p Provider, yamlName string) bool {
	v, ok := fieldByYAML(p, yamlName)
	return !ok || v.IsZero()
}
