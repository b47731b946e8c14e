// Package resolve turns Changes into Targets: the URLs the payload names
// made absolute with the right site's base URL, the pages the payload says
// depend on the content, the tags it carries, and what the configured rules
// add. A target outside every configured site is dropped (and reported), so
// that purgehook never purges or fetches a host nobody configured.
package resolve

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/config"
	"github.com/purgehook/purgehook/graph"
)

// Site is a configured site with its hosts parsed.
type Site struct {
	config.Site
	scheme string
	host   string   // lower-cased host[:port] of base_url
	hosts  []string // base host and alias hosts
	dials  []string // the same as host:port, the scheme's port when none is given
}

// Abs makes a site-relative path absolute with the site's base URL.
func (s *Site) Abs(path string) string {
	return strings.TrimSuffix(s.BaseURL, "/") + path
}

// Resolver resolves changes with the configured sites and rules.
type Resolver struct {
	sites  []*Site
	rules  []config.Rule
	limits Limits
	graph  Graph
}

// Limits bound what one delivery resolves to (config's limits:); a zero
// field imposes no limit.
type Limits struct {
	// URLLength: a longer URL or prefix is dropped.
	URLLength int
	// Targets: beyond it, Cap purges the delivery's sites' hosts instead.
	Targets int
}

// Graph is what the resolver asks the content graph: the pages known to
// show a key, on a site or, for site "", on any site. *graph.Graph is one;
// tests pass a map.
type Graph interface {
	URLs(site string, kind graph.Kind, value string) []string
}

// SetGraph makes the resolver add the pages the graph knows show a
// change's content. Call it before the resolver is used concurrently.
func (r *Resolver) SetGraph(g Graph) { r.graph = g }

// New builds a resolver; the config must have passed Validate. limits, at
// most one, bound each delivery (none: no bounds).
func New(sites []config.Site, rules []config.Rule, limits ...Limits) (*Resolver, error) {
	r := &Resolver{rules: rules}
	if len(limits) > 0 {
		r.limits = limits[0]
	}
	for _, cs := range sites {
		u, err := url.Parse(cs.BaseURL)
		if err != nil {
			return nil, fmt.Errorf("resolve: site %s: %w", cs.Name, err)
		}
		s := &Site{Site: cs, scheme: u.Scheme, host: strings.ToLower(u.Host)}
		s.hosts = append(s.hosts, s.host)
		s.dials = append(s.dials, hostPort(u))
		for _, a := range cs.Aliases {
			if au, err := url.Parse(a); err == nil && !slices.Contains(s.hosts, strings.ToLower(au.Host)) {
				s.hosts = append(s.hosts, strings.ToLower(au.Host))
				s.dials = append(s.dials, hostPort(au))
			}
		}
		r.sites = append(r.sites, s)
	}
	return r, nil
}

// Sites returns the configured sites.
func (r *Resolver) Sites() []*Site { return r.sites }

// Site returns the named site or nil.
func (r *Resolver) Site(name string) *Site {
	for _, s := range r.sites {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// SiteOfURL returns the site whose canonical or alias host serves an
// absolute URL, or nil.
func (r *Resolver) SiteOfURL(raw string) *Site {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil
	}
	host := strings.ToLower(u.Host)
	for _, s := range r.sites {
		if slices.Contains(s.hosts, host) {
			return s
		}
	}
	return nil
}

// HostConfigured reports whether host:port is the canonical or an alias
// host of some site (a host given without a port in base_url or aliases
// stands for its scheme's port). The warmer dials such a host even on a
// private or loopback address: the operator configured it there.
func (r *Resolver) HostConfigured(hostport string) bool {
	hostport = strings.ToLower(hostport)
	for _, s := range r.sites {
		if slices.Contains(s.dials, hostport) {
			return true
		}
	}
	return false
}

// SameSite reports whether to is on a configured host of from's site: the
// only redirects a warm-up follows.
func (r *Resolver) SameSite(from, to *url.URL) bool {
	if to.Scheme != "http" && to.Scheme != "https" {
		return false
	}
	want := hostPort(to)
	for _, s := range r.sites {
		if slices.Contains(s.dials, hostPort(from)) && slices.Contains(s.dials, want) {
			return true
		}
	}
	return false
}

// hostPort is u's lower-cased host:port, the scheme's port when u has none.
func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// Dropped is a target that was not kept, with why.
type Dropped struct {
	Value  string `json:"value"`
	Reason string `json:"reason"`
}

// Result is what a change resolved to.
type Result struct {
	Targets []change.Target `json:"targets"`
	Dropped []Dropped       `json:"dropped,omitempty"`
}

// Resolve resolves one change. sourceSite is the source's configured site
// ("" when it has none).
func (r *Resolver) Resolve(c change.Change, sourceSite string) Result {
	var res Result
	seen := map[string]int{}
	add := func(t change.Target) {
		if i, ok := seen[t.Key()]; ok {
			// The same target from two reasons: keep the first reason, but
			// warm it if either asked for warming.
			res.Targets[i].Warm = res.Targets[i].Warm || t.Warm
			return
		}
		seen[t.Key()] = len(res.Targets)
		res.Targets = append(res.Targets, t)
	}
	// A dropped value goes into the delivery's trace: at most 200 bytes of it.
	drop := func(v, why string) { res.Dropped = append(res.Dropped, Dropped{Value: clip(v), Reason: why}) }
	tooLong := func(abs string) bool { return r.limits.URLLength > 0 && len(abs) > r.limits.URLLength }
	longWhy := fmt.Sprintf("longer than %d bytes (limits.url_length)", r.limits.URLLength)

	home := r.changeSite(c, sourceSite)
	url := func(raw, reason string, warm bool) {
		abs, site, why := r.absolute(raw, home)
		if why == "" && tooLong(abs) {
			why = longWhy
		}
		if why != "" {
			drop(raw, why)
			return
		}
		add(change.Target{Kind: change.URL, Value: abs, Site: site.Name, Warm: warm, Reason: reason})
	}
	for _, u := range c.URLs {
		url(u, "payload", true)
	}
	for _, u := range c.Dependencies {
		url(u, "dependency", true)
	}
	siteName := ""
	if home != nil {
		siteName = home.Name
	}
	r.fromGraph(c, url)
	for _, t := range c.Tags {
		if t = strings.TrimSpace(t); t != "" {
			add(change.Target{Kind: change.Tag, Value: t, Site: siteName, Reason: "payload"})
		}
	}

	for i, rule := range r.rules {
		if !matches(rule.When, c, siteName) {
			continue
		}
		reason := fmt.Sprintf("rule %d", i)
		for _, rt := range rule.Purge {
			switch {
			case rt.URL != "":
				vs, err := fillAll(rt.URL, c, home)
				if err != nil {
					drop(rt.URL, reason+": "+err.Error())
					continue
				}
				for _, v := range vs {
					url(v, reason, rt.Warm == nil || *rt.Warm)
				}
			case rt.Tag != "":
				vs, err := fillAll(rt.Tag, c, home)
				if err != nil {
					drop(rt.Tag, reason+": "+err.Error())
					continue
				}
				for _, v := range vs {
					add(change.Target{Kind: change.Tag, Value: v, Site: siteName, Reason: reason})
				}
			case rt.Prefix != "":
				vs, err := fillAll(rt.Prefix, c, home)
				if err != nil {
					drop(rt.Prefix, reason+": "+err.Error())
					continue
				}
				for _, v := range vs {
					abs, site, why := r.absolute(v, home)
					if why == "" && tooLong(abs) {
						why = longWhy
					}
					if why != "" {
						drop(v, reason+": "+why)
						continue
					}
					add(change.Target{Kind: change.Prefix, Value: abs, Site: site.Name, Reason: reason})
				}
			case rt.Host != "":
				s := r.siteOfHost(rt.Host)
				if s == nil {
					drop(rt.Host, reason+": host of no configured site")
					continue
				}
				add(change.Target{Kind: change.Host, Value: strings.ToLower(rt.Host), Site: s.Name, Reason: reason})
			case rt.EverythingOn == "this_site":
				if home == nil {
					drop("everything_on: this_site", reason+": the change belongs to no configured site")
					continue
				}
				for _, h := range home.hosts {
					add(change.Target{Kind: change.Host, Value: h, Site: home.Name, Reason: reason})
				}
			case rt.EverythingOn == "all_sites":
				add(change.Target{Kind: change.Everything, Reason: reason})
			case rt.ListOf != "":
				vs, err := fillAll(rt.ListOf, c, home)
				if err != nil {
					drop(rt.ListOf, reason+": "+err.Error())
					continue
				}
				for _, v := range vs {
					r.listPages(v, siteName, reason, rt.Warm == nil || *rt.Warm, url, drop)
				}
			}
		}
	}
	return res
}

// Cap bounds one delivery's targets to limits.Targets: within it they are
// returned as they are; beyond it, a purge of every host of each site they
// touch replaces them (of everything, when one belongs to no site), since
// thousands of single purges cost more calls and budget than the host
// purge that covers them. note says what was done ("" when nothing was).
func (r *Resolver) Cap(ts []change.Target) (capped []change.Target, note string) {
	distinct := map[string]bool{}
	for _, t := range ts {
		distinct[t.Key()] = true
	}
	if r.limits.Targets <= 0 || len(distinct) <= r.limits.Targets {
		return ts, ""
	}
	reason := "limits.targets"
	var sites []string
	everything := false
	for _, t := range ts {
		switch {
		case t.Kind == change.Everything || t.Site == "" || r.Site(t.Site) == nil:
			everything = true
		case !slices.Contains(sites, t.Site):
			sites = append(sites, t.Site)
		}
	}
	if everything {
		return []change.Target{{Kind: change.Everything, Reason: reason}},
			fmt.Sprintf("%d targets, over limits.targets (%d): purging everything instead", len(distinct), r.limits.Targets)
	}
	seen := map[string]bool{}
	for _, name := range sites {
		for _, h := range r.Site(name).hosts {
			// A host purge names a host, never a port (Cloudflare refuses
			// one): two ports of one host are one target.
			if bare, _, err := net.SplitHostPort(h); err == nil {
				h = bare
			}
			if !seen[h] {
				seen[h] = true
				capped = append(capped, change.Target{Kind: change.Host, Value: h, Site: name, Reason: reason})
			}
		}
	}
	return capped, fmt.Sprintf("%d targets, over limits.targets (%d): purging the hosts of %s instead", len(distinct), r.limits.Targets, strings.Join(sites, ", "))
}

// clip cuts a value quoted in a note to 200 bytes.
func clip(s string) string {
	if len(s) <= 200 {
		return s
	}
	cut := 200
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// fromGraph adds the pages the graph knows show the change's content: the
// URLs earlier deliveries named for its id or codename, and the pages that
// report its id or codename as a cache tag. This is what purges a page
// whose CMS says only "item 1234 was unpublished". Content ids and
// codenames are the CMS's, not a site's, so every site's pages count. A
// page that is being unpublished or deleted is not warmed: there is
// nothing to fetch.
func (r *Resolver) fromGraph(c change.Change, url func(raw, reason string, warm bool)) {
	if r.graph == nil {
		return
	}
	warm := c.Kind != change.Unpublish && c.Kind != change.Delete
	for _, k := range []struct {
		kind  graph.Kind
		value string
	}{{graph.ID, c.ContentID}, {graph.Codename, c.Codename}, {graph.Tag, c.ContentID}, {graph.Tag, c.Codename}} {
		if k.value == "" {
			continue
		}
		reason := fmt.Sprintf("graph: %s %s", k.kind, k.value)
		for _, u := range r.graph.URLs("", k.kind, k.value) {
			url(u, reason, warm)
		}
	}
	if c.Kind == change.TypeChanged && c.ContentType != "" {
		tag := typeTag(TypeTag, c.ContentType)
		for _, u := range r.graph.URLs("", graph.Tag, tag) {
			url(u, "graph: tag "+tag, true)
		}
	}
}

// ListTag is the tag a list page reports for each content type it lists
// ({type} is the type): list_of finds list pages by it.
const ListTag = "list:{type}"

// TypeTag is the tag a page reports for each content type it shows: a
// change to the type itself (a document type's template, a field) purges
// every page carrying it.
const TypeTag = "type:{type}"

func typeTag(tmpl, typ string) string { return strings.ReplaceAll(tmpl, "{type}", typ) }

// listPages adds the list pages of a content type: every page the graph
// knows reports the type's list tag, on the change's site (or any site
// when the change has none).
func (r *Resolver) listPages(typ, site, reason string, warm bool, url func(raw, reason string, warm bool), drop func(v, why string)) {
	tag := typeTag(ListTag, typ)
	if r.graph == nil {
		drop("list_of: "+typ, reason+": list pages need the content graph")
		return
	}
	pages := r.graph.URLs(site, graph.Tag, tag)
	if len(pages) == 0 {
		drop("list_of: "+typ, fmt.Sprintf("%s: no page the graph knows reports the tag %q", reason, tag))
		return
	}
	for _, u := range pages {
		url(u, fmt.Sprintf("%s: list of %s (tag %s)", reason, typ, tag), warm)
	}
}

// changeSite picks the site a change's relative URLs belong to: the
// payload's own site name, else the host of an absolute URL in it, else a
// culture prefix that only one site has, else the source's site, else the
// only site.
func (r *Resolver) changeSite(c change.Change, sourceSite string) *Site {
	if s := r.Site(c.Site); s != nil {
		return s
	}
	if s := r.siteOfCMSID(c); s != nil {
		return s
	}
	for _, u := range append(slices.Clone(c.URLs), c.Dependencies...) {
		if s := r.SiteOfURL(u); s != nil {
			return s
		}
	}
	for _, u := range append(slices.Clone(c.URLs), c.Dependencies...) {
		if s := r.uniqueCultureSite(u); s != nil {
			return s
		}
	}
	if s := r.Site(sourceSite); s != nil {
		return s
	}
	if len(r.sites) == 1 {
		return r.sites[0]
	}
	return nil
}

// cmsSiteFields are the change fields that name the CMS's site: Umbraco's
// start item (its id or its path), a site id.
var cmsSiteFields = []string{"start_item_id", "start_item", "site_id"}

// siteOfCMSID returns the site whose cms_ids hold one of the change's
// site fields, or nil.
func (r *Resolver) siteOfCMSID(c change.Change) *Site {
	for _, f := range cmsSiteFields {
		v, ok := c.Field(f)
		if !ok {
			continue
		}
		for _, s := range r.sites {
			if slices.Contains(s.CMSIDs, v) {
				return s
			}
		}
	}
	return nil
}

func (r *Resolver) uniqueCultureSite(path string) *Site {
	var found *Site
	for _, s := range r.sites {
		for _, prefix := range s.Cultures {
			p := strings.TrimSuffix(prefix, "/")
			if p != "" && (path == p || strings.HasPrefix(path, p+"/")) {
				if found != nil && found != s {
					return nil
				}
				found = s
			}
		}
	}
	return found
}

func (r *Resolver) siteOfHost(host string) *Site {
	host = strings.ToLower(host)
	for _, s := range r.sites {
		if slices.Contains(s.hosts, host) {
			return s
		}
	}
	return nil
}

// absolute makes raw absolute and finds its site; why is non-empty when the
// URL cannot be used.
func (r *Resolver) absolute(raw string, home *Site) (string, *Site, string) {
	raw = strings.TrimSpace(raw)
	if strings.Contains(raw, "://") {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return "", nil, "not an http(s) URL"
		}
		s := r.SiteOfURL(raw)
		if s == nil {
			return "", nil, "outside every configured site"
		}
		u.Host = strings.ToLower(u.Host)
		u.Fragment = ""
		return u.String(), s, ""
	}
	if !strings.HasPrefix(raw, "/") {
		raw = "/" + raw
	}
	if strings.HasPrefix(raw, "//") {
		return "", nil, "protocol-relative URLs are ambiguous"
	}
	s := home
	if s == nil {
		s = r.uniqueCultureSite(raw)
	}
	if s == nil {
		return "", nil, "no site for a relative URL (set the source's site or the payload's host)"
	}
	u, err := url.Parse(s.Abs(raw))
	if err != nil {
		return "", nil, "invalid path"
	}
	u.Fragment = ""
	return u.String(), s, ""
}

func matches(m config.Match, c change.Change, site string) bool {
	eq := func(want, got string) bool { return want == "" || strings.EqualFold(want, got) }
	for name, want := range m.Fields {
		if got, ok := c.Field(name); !ok || !strings.EqualFold(want, got) {
			return false
		}
	}
	return eq(m.ContentType, c.ContentType) && eq(m.Event, c.Event) && eq(m.Kind, string(c.Kind)) &&
		eq(m.Source, c.Source) && eq(m.Site, site)
}

var placeholder = regexp.MustCompile(`\{([a-z_]+)\}`)

// fillAll fills a template once per culture of the change when the
// template names the culture, since a page published in pt and en lives at
// two URLs; otherwise once.
func fillAll(tmpl string, c change.Change, home *Site) ([]string, error) {
	perCulture := strings.Contains(tmpl, "{culture}") || strings.Contains(tmpl, "{language}") || strings.Contains(tmpl, "{locale}")
	if !perCulture || len(c.Cultures) < 2 {
		v, err := fill(tmpl, c, home)
		if err != nil {
			return nil, err
		}
		return []string{v}, nil
	}
	var out []string
	for _, cu := range c.Cultures {
		one := c
		one.Cultures = []string{cu}
		v, err := fill(tmpl, one, home)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// fill replaces {field} placeholders with the change's values; a field the
// change does not have is an error, since a template filled with nothing
// would purge the wrong page. In a path, {culture} is the site's prefix
// for the culture (cultures: {pt-PT: /pt} makes /{culture}/ /pt/, and a
// culture at the root, en: /, makes it /), not the CMS's culture code.
func fill(tmpl string, c change.Change, home *Site) (string, error) {
	var missing []string
	isPath := strings.HasPrefix(tmpl, "/") || strings.Contains(tmpl, "://")
	out := placeholder.ReplaceAllStringFunc(tmpl, func(m string) string {
		name := m[1 : len(m)-1]
		v, ok := c.Field(name)
		if !ok {
			missing = append(missing, name)
			return m
		}
		if isCulture(name) && isPath && home != nil {
			if prefix, ok := home.Cultures[v]; ok {
				return strings.Trim(prefix, "/")
			}
		}
		if isPath {
			// Values go into a path: escape everything but slashes, so a
			// slug like "a/b" keeps its segments.
			parts := strings.Split(v, "/")
			for i := range parts {
				parts[i] = url.PathEscape(parts[i])
			}
			return strings.Join(parts, "/")
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("the change has no %s for %q", strings.Join(missing, ", "), tmpl)
	}
	if isPath {
		// A culture at the root leaves an empty segment: /{culture}/news
		// is /news there.
		scheme, rest, abs := strings.Cut(out, "://")
		if !abs {
			rest, scheme = scheme, ""
		}
		for strings.Contains(rest, "//") {
			rest = strings.ReplaceAll(rest, "//", "/")
		}
		if abs {
			return scheme + "://" + rest, nil
		}
		return rest, nil
	}
	return out, nil
}

func isCulture(name string) bool { return name == "culture" || name == "language" || name == "locale" }

// ManualRequest is a purge asked for by a person or a deploy pipeline.
type ManualRequest struct {
	// Site resolves relative URLs and prefixes ("" means the only site).
	Site       string
	URLs       []string
	Tags       []string
	Prefixes   []string
	Hosts      []string
	Everything bool
	Warm       bool
	Reason     string
}

// Manual resolves a manual purge with the same rules as webhooks: URLs
// outside every configured site are dropped.
func (r *Resolver) Manual(m ManualRequest) Result {
	var res Result
	reason := "manual"
	if m.Reason != "" {
		reason = "manual: " + m.Reason
	}
	home := r.Site(m.Site)
	if home == nil && m.Site == "" && len(r.sites) == 1 {
		home = r.sites[0]
	}
	if m.Site != "" && home == nil {
		res.Dropped = append(res.Dropped, Dropped{Value: m.Site, Reason: "unknown site"})
		return res
	}
	seen := map[string]bool{}
	add := func(t change.Target) {
		if !seen[t.Key()] {
			seen[t.Key()] = true
			res.Targets = append(res.Targets, t)
		}
	}
	for _, u := range m.URLs {
		abs, site, why := r.absolute(u, home)
		if why != "" {
			res.Dropped = append(res.Dropped, Dropped{Value: u, Reason: why})
			continue
		}
		add(change.Target{Kind: change.URL, Value: abs, Site: site.Name, Warm: m.Warm, Reason: reason})
	}
	for _, p := range m.Prefixes {
		abs, site, why := r.absolute(p, home)
		if why != "" {
			res.Dropped = append(res.Dropped, Dropped{Value: p, Reason: why})
			continue
		}
		add(change.Target{Kind: change.Prefix, Value: abs, Site: site.Name, Reason: reason})
	}
	for _, h := range m.Hosts {
		s := r.siteOfHost(h)
		if s == nil {
			res.Dropped = append(res.Dropped, Dropped{Value: h, Reason: "host of no configured site"})
			continue
		}
		add(change.Target{Kind: change.Host, Value: strings.ToLower(h), Site: s.Name, Reason: reason})
	}
	site := ""
	if home != nil {
		site = home.Name
	}
	for _, t := range m.Tags {
		if t = strings.TrimSpace(t); t != "" {
			add(change.Target{Kind: change.Tag, Value: t, Site: site, Reason: reason})
		}
	}
	if m.Everything {
		add(change.Target{Kind: change.Everything, Site: site, Reason: reason})
	}
	return res
}
