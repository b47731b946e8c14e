package config

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// testKinds stands in for app.Kinds, which config cannot import: a
// provider kind without a block of its own, one with (zoned), and a source
// kind for each way of authenticating.
var testKinds = Kinds{
	Providers: map[string]ProviderKind{
		"plain": {Layer: "edge"},
		"zoned": {Layer: "origin", Settings: func() Settings { return new(zoned) }},
	},
	Sources: map[string]SourceKind{
		"signed":  {Auth: AuthHMAC},
		"tokened": {Auth: AuthToken},
		"either":  {Auth: AuthAny, Settings: func() Settings { return new(zoned) }},
		"sigonly": {Auth: AuthSigned},
	},
}

// zoned is a kind's own block, as an adapter's Config is.
type zoned struct {
	Zone string `yaml:"zone"`
	Mode string `yaml:"mode"`
	Sub  struct {
		Depth int `yaml:"depth"`
	} `yaml:"sub"`
}

func (z *zoned) SetDefaults() {
	if z.Mode == "" {
		z.Mode = "fast"
	}
}

func (z zoned) Validate() error {
	var errs []error
	if z.Zone == "" {
		errs = append(errs, errors.New("zone: required for kind zoned"))
	}
	if z.Sub.Depth < 0 {
		errs = append(errs, errors.New("sub.depth: must not be negative"))
	}
	return errors.Join(errs...)
}

const minimal = `
sites:
  - {name: a, base_url: https://a.example}
sources:
  - {name: cms, kind: signed, secret: s3cret}
providers:
  - {name: dry, kind: plain}
`

func TestParseDefaults(t *testing.T) {
	c, err := Parse([]byte(minimal), testKinds)
	if err != nil {
		t.Fatal(err)
	}
	if c.Store.Driver != "sqlite" || c.Store.DSN != "purgehook.db" {
		t.Errorf("store = %+v", c.Store)
	}
	if c.Listen != DefaultListen || c.Coalesce != time.Second || c.MaxWait != 10*time.Second {
		t.Errorf("listen %q coalesce %s max_wait %s", c.Listen, c.Coalesce, c.MaxWait)
	}
	s := c.Sources[0]
	if s.MaxBody != 1<<20 || *s.ReplayWindow != 5*time.Minute || s.Site != "a" {
		t.Errorf("source defaults = %+v", s)
	}
	p := c.Providers[0]
	if p.Layer != "edge" || p.OnBudgetExhausted != "purge_everything" {
		t.Errorf("provider defaults = %+v", p)
	}
	if c.Warm.Concurrency != 5 || c.Warm.Delay != 200*time.Millisecond || len(c.Warm.Header) != 1 || c.Warm.Header["X-Warmup"] != "true" {
		t.Errorf("warm defaults = %+v", c.Warm)
	}
	if c.Limits != (DeliveryLimits{URLLength: 2048, Targets: 1000, Warm: 500}) {
		t.Errorf("limits defaults = %+v", c.Limits)
	}
}

func TestUnknownFieldNamesItsPath(t *testing.T) {
	in := minimal + `
  - {name: cf, kind: plain, limts: {files_per_call: 3}}
rules:
  - when: {content_type: x}
    purge: [{url: /, wram: false}]
warm: {concurency: 3}
`
	_, err := Parse([]byte(in), testKinds)
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{
		"providers[1].limts: unknown field",
		"rules[0].purge[0].wram: unknown field",
		"warm.concurency: unknown field",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestEnvExpansion(t *testing.T) {
	t.Setenv("PH_TEST_SECRET", "from-env")
	dir := t.TempDir()
	file := filepath.Join(dir, "secret")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	in := strings.Replace(minimal, "secret: s3cret", "secrets: [${PH_TEST_SECRET}, '${file:"+file+"}', '${PH_UNSET_X:-fallback}']", 1)
	c, err := Parse([]byte(in), testKinds)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Sources[0].Secrets; !slices.Equal(got, []string{"from-env", "from-file", "fallback"}) {
		t.Errorf("secrets = %q", got)
	}

	in = strings.Replace(minimal, "secret: s3cret", "secret: ${PH_SURELY_UNSET}", 1)
	_, err = Parse([]byte(in), testKinds)
	if err == nil || !strings.Contains(err.Error(), "sources[0].secret: environment variable PH_SURELY_UNSET is not set") {
		t.Errorf("err = %v", err)
	}
}

func TestExpansionCannotChangeStructure(t *testing.T) {
	t.Setenv("PH_TEST_EVIL", "x\nlisten: 0.0.0.0:1")
	in := strings.Replace(minimal, "secret: s3cret", "secret: ${PH_TEST_EVIL}", 1)
	c, err := Parse([]byte(in), testKinds)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != DefaultListen || c.Sources[0].Secret != "x\nlisten: 0.0.0.0:1" {
		t.Errorf("listen %q secret %q", c.Listen, c.Sources[0].Secret)
	}
}

func TestValidateNamesEveryProblem(t *testing.T) {
	in := `
store: {driver: mysql}
trusted_proxies: [10.0.0.0/8, lb.internal]
tls: {cert: /etc/purgehook/cert.pem}
sites:
  - {name: a, base_url: "a.example/x"}
  - {name: a, base_url: https://b.example, warm: [nope]}
sources:
  - {name: cms, kind: wordpress}
  - {name: gen, kind: signed, allow_ips: [300.1.1.1/8], site: zz}
  - {name: tok, kind: tokened, basic: {username: u}}
  - {name: any, kind: either, zone: z}
  - {name: gen2, kind: sigonly, secret: s, token: t, basic: {username: u, password: p}}
  - {name: tok2, kind: tokened, token: t, secret: s, secrets: [a]}
  - {name: hdr, kind: signed, secret: s, auth_header: X-Token}
providers:
  - {name: z, kind: zoned, layer: middle, on_budget_exhausted: panic, sub: {depth: -1}}
  - {name: u, kind: unheard, zone: z}
  - {name: s, kind: plain, sites: [a, nowhere], budget: {calls_per_day: 10, reserve: 1.5}}
rules:
  - when: {}
    purge: [{url: relative}, {everything_on: galaxy}, {url: /a, tag: b}]
queue: {job_timeout: 5m, rescue_after: 1m}
limits: {url_length: -1, targets: -5}
warm:
  concurrency: 4
  per_origin: 6
  backoff: {error_rate: 1.5, latency: -1s}
  variants:
    - {name: de, headers: {Accept-Language: de}}
    - {name: de, headers: {"Bad Header": x}}
    - {name: Mobile}
`
	_, err := Parse([]byte(in), testKinds)
	if err == nil {
		t.Fatal("want problems")
	}
	for _, want := range []string{
		`store.driver: unknown driver "mysql"`,
		`trusted_proxies[1]: invalid address or CIDR`,
		`tls.key: required with tls`,
		`sites[0].base_url: want scheme and host`,
		`sites[1].name: duplicate site "a"`,
		`sites[1].warm[0]: want a site-relative path`,
		`sources[0].kind: unknown kind "wordpress" (want one of either, signed, sigonly, tokened)`,
		`sources[1].secret: required for kind signed`,
		`sources[2].basic: username and password are both required`,
		`sources[3]: kind either needs secret, token or basic`,
		`sources[4].token: kind sigonly does not use it (only its signature is checked)`,
		`sources[4].basic: kind sigonly does not use it`,
		`sources[5].secret: kind tokened does not use it (it does not sign its webhooks)`,
		`sources[5].secrets: kind tokened does not use it`,
		`sources[6].auth_header: names the header of token, which is not set`,
		`sources[1].allow_ips[0]: invalid address or CIDR`,
		`sources[1].site: unknown site "zz"`,
		`providers[0].layer: unknown layer "middle"`,
		`providers[0].zone: required for kind zoned`,
		`providers[0].sub.depth: must not be negative`,
		`providers[1].kind: unknown kind "unheard" (want one of plain, zoned)`,
		`providers[0].on_budget_exhausted: want purge_everything or wait`,
		`providers[2].sites[1]: unknown site "nowhere"`,
		`providers[2].budget.reserve: want a share of the day's budget from 0 to 1, got 1.5`,
		`rules[0].when: empty`,
		`rules[0].purge[0].url: want a site-relative path`,
		`rules[0].purge[1].everything_on: want this_site or all_sites`,
		`rules[0].purge[2]: want exactly one of`,
		`queue.rescue_after: must exceed queue.job_timeout`,
		`limits.url_length: must not be negative`,
		`limits.targets: must not be negative`,
		`warm.per_origin: want between 1 and warm.concurrency (4), got 6`,
		`warm.backoff.error_rate: want a share between 0 and 1, got 1.5`,
		`warm.backoff.latency: must not be negative`,
		`warm.variants[1].name: "de" is already a variant's name`,
		`warm.variants[1].headers: want HTTP header names, got "Bad Header"`,
		`warm.variants[2].name: want a lower-case name like de or mobile, got "Mobile"`,
		`warm.variants[2].headers: want at least one header`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("problems lack %q:\n%v", want, err)
		}
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{"1048576": 1 << 20, "512KB": 512 << 10, "1MiB": 1 << 20, "2 MB": 2 << 20, "10B": 10} {
		got, err := ParseByteSize(in)
		if err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1TB", "lots"} {
		if _, err := ParseByteSize(in); err == nil {
			t.Errorf("ParseByteSize(%q): want error", in)
		}
	}
}

func TestKindBlocks(t *testing.T) {
	t.Parallel()
	in := minimal + `
  - {name: z1, kind: zoned, zone: eu, layer: edge, sub: {depth: 2}}
  - {name: z2, kind: zoned, zone: us, timeout: 5s}
`
	c, err := Parse([]byte(in), testKinds)
	if err != nil {
		t.Fatal(err)
	}
	z1, ok := c.Providers[1].Settings.(*zoned)
	if !ok || z1.Zone != "eu" || z1.Sub.Depth != 2 || z1.Mode != "fast" {
		t.Errorf("providers[1] settings = %#v, want zone eu, depth 2 and the default mode", c.Providers[1].Settings)
	}
	if c.Providers[1].Layer != "edge" || c.Providers[2].Layer != "origin" || c.Providers[2].Timeout != 5*time.Second {
		t.Errorf("common fields: %+v", c.Providers)
	}
	if c.Providers[0].Settings != nil {
		t.Errorf("a kind without a block has settings %#v", c.Providers[0].Settings)
	}

	in = minimal + `
  - {name: z1, kind: zoned, zone: eu, zonee: eu, sub: {deph: 1}}
  - {name: p2, kind: plain, zone: eu}
  - {name: x, kind: unheard, anything: 1}
`
	_, err = Parse([]byte(in), testKinds)
	if err == nil {
		t.Fatal("want problems")
	}
	for _, want := range []string{
		"providers[1].zonee: unknown field",
		"providers[1].sub.deph: unknown field",
		"providers[2].zone: unknown field",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("problems lack %q:\n%v", want, err)
		}
	}
	// An unknown kind's keys are not reported one by one: the kind is
	// the problem (reported by Validate, once the file decodes).
	if strings.Contains(err.Error(), "anything") {
		t.Errorf("problems name the keys of an unknown kind:\n%v", err)
	}
}

func TestWarmHeaderAddsToXWarmup(t *testing.T) {
	for _, c := range []struct {
		set  map[string]string
		want map[string]string
	}{
		{nil, map[string]string{"X-Warmup": "true"}},
		// A header for the origin keeps the mark analytics filter on.
		{map[string]string{"X-Bypass": "s3cret"}, map[string]string{"X-Warmup": "true", "X-Bypass": "s3cret"}},
		// Setting the mark itself, in any case, replaces it.
		{map[string]string{"x-warmup": "1"}, map[string]string{"x-warmup": "1"}},
	} {
		if got := warmHeader(c.set); !maps.Equal(got, c.want) {
			t.Errorf("warmHeader(%v) = %v, want %v", c.set, got, c.want)
		}
	}
}

func TestGraph(t *testing.T) {
	c, err := Parse([]byte(minimal), testKinds)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Graph.TagHeaders, []string{"Cache-Tag", "Surrogate-Key", "xkey"}) || c.Graph.TagSeparators != ", " || c.Graph.Sync != 10*time.Second || c.Graph.UnknownTags != "drop" {
		t.Errorf("graph defaults = %+v", c.Graph)
	}
	c, err = Parse([]byte(minimal+"graph: {tag_headers: [], tag_separators: \";\", sync: 1m}\n"), testKinds)
	if err != nil {
		t.Fatal(err)
	}
	if c.Graph.TagHeaders == nil || len(c.Graph.TagHeaders) != 0 || c.Graph.TagSeparators != ";" || c.Graph.Sync != time.Minute {
		t.Errorf("graph = %+v, want learning off (an empty list), ; and 1m", c.Graph)
	}
	_, err = Parse([]byte(minimal+"graph: {tag_headers: [Cache-Tag, \"bad header\"], sync: -1s, unknown_tags: sometimes}\n"), testKinds)
	for _, want := range []string{`graph.tag_headers[1]: want an HTTP header name, got "bad header"`, "graph.sync: must not be negative",
		`graph.unknown_tags: want drop or purge_everything, got "sometimes"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want %q", err, want)
		}
	}
}

func TestRulesForTheGraph(t *testing.T) {
	in := `
sites:
  - {name: a, base_url: "https://a.example", cms_ids: ["1055"]}
  - {name: b, base_url: "https://b.example", cms_ids: ["1055", ""]}
sources:
  - {name: s, kind: plain, site: a}
providers:
  - {name: p, kind: plain}
rules:
  - when: {content_type: room}
    purge: [{list_of: room}]
  - when: {fields: {featured: "true"}}
    purge: [{url: "/{culture}/"}]
  - when: {fields: {Featured: "true"}, site: nowhere}
    purge: [{url: /}]
`
	_, err := Parse([]byte(in), testKinds)
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{
		`sites[1].cms_ids[0]: "1055" is also an id of site "a"`,
		"sites[1].cms_ids[1]: empty",
		"rules[2].when.fields.Featured: want a field name",
		`rules[2].when.site: unknown site "nowhere"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %v\nwant %q", err, want)
		}
	}
	for _, notWant := range []string{"rules[0]", "rules[1]"} {
		if strings.Contains(err.Error(), notWant) {
			t.Errorf("%s is valid: %v", notWant, err)
		}
	}
}

func TestCrawl(t *testing.T) {
	c, err := Parse([]byte(`
sites:
  - {name: a, base_url: https://a.example, crawl: {}}
  - {name: b, base_url: https://b.example, aliases: [https://www.b.example], crawl: {sitemap: "https://www.b.example/sitemap_index.xml.gz", interval: 6h, max_pages: 10, rate: 2.5}}
  - {name: c, base_url: https://c.example}
sources:
  - {name: cms, kind: signed, secret: s3cret, site: a}
providers:
  - {name: dry, kind: plain}
admin:
  tokens: [{name: ci, secret: s, scopes: [crawl]}]
`), testKinds)
	if err != nil {
		t.Fatal(err)
	}
	if got := *c.Sites[0].Crawl; got != (Crawl{Sitemap: "/sitemap.xml", Interval: 24 * time.Hour, MaxPages: 50_000, Rate: 10}) {
		t.Errorf("crawl defaults = %+v", got)
	}
	if got := *c.Sites[1].Crawl; got != (Crawl{Sitemap: "https://www.b.example/sitemap_index.xml.gz", Interval: 6 * time.Hour, MaxPages: 10, Rate: 2.5}) {
		t.Errorf("crawl = %+v", got)
	}
	// Without a block: on demand only (no interval), with the defaults.
	if c.Sites[2].Crawl != nil || c.Sites[2].CrawlOf() != (Crawl{Sitemap: "/sitemap.xml", MaxPages: 50_000, Rate: 10}) {
		t.Errorf("no crawl block: %+v %+v", c.Sites[2].Crawl, c.Sites[2].CrawlOf())
	}
	_, err = Parse([]byte(`
sites:
  - {name: a, base_url: https://a.example}
  - {name: b, base_url: https://b.example, crawl: {sitemap: "https://elsewhere.example/sitemap.xml", interval: 10s, max_pages: -1, rate: -2}}
  - {name: c, base_url: https://c.example, crawl: {sitemap: "sitemap.xml"}}
sources:
  - {name: cms, kind: signed, secret: s3cret, site: a}
providers:
  - {name: dry, kind: plain}
`), testKinds)
	for _, want := range []string{
		"sites[1].crawl.rate: must be > 0",
		"sites[1].crawl.max_pages: must be > 0",
		"sites[1].crawl.interval: must be at least 1m0s, got 10s",
		`sites[1].crawl.sitemap: want a site-relative path (/sitemap.xml) or a URL on the site's base_url or aliases, got "https://elsewhere.example/sitemap.xml"`,
		`sites[2].crawl.sitemap: want a site-relative path`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want %q", err, want)
		}
	}
}

// over_purge is a fraction: 0 (the default) to 1.
func TestOverPurge(t *testing.T) {
	c, err := Parse([]byte(strings.Replace(minimal, "kind: plain}", "kind: plain, over_purge: 0.1}", 1)), testKinds)
	if err != nil || c.Providers[0].OverPurge != 0.1 {
		t.Fatalf("over_purge 0.1: %v %+v", err, c.Providers)
	}
	for _, v := range []string{"-0.1", "1.5"} {
		_, err := Parse([]byte(strings.Replace(minimal, "kind: plain}", "kind: plain, over_purge: "+v+"}", 1)), testKinds)
		if err == nil || !strings.Contains(err.Error(), "providers[0].over_purge: want a fraction from 0 to 1, got "+v) {
			t.Errorf("over_purge %s: %v", v, err)
		}
	}
}

func TestWarmDefaultsAndVariants(t *testing.T) {
	in := minimal + `
warm:
  concurrency: 8
  variants:
    - {name: de, headers: {Accept-Language: de}}
    - {name: mobile, headers: {User-Agent: "Mozilla/5.0 (iPhone) Mobile"}}
`
	c, err := Parse([]byte(in), testKinds)
	if err != nil {
		t.Fatal(err)
	}
	w := c.Warm
	if w.Concurrency != 8 || w.PerOrigin != 8 || w.Backoff.Latency != DefaultWarmBackoffLatency ||
		w.Backoff.ErrorRate != DefaultWarmBackoffErrorRate || w.Backoff.MaxDelay != DefaultWarmBackoffMaxDelay {
		t.Errorf("warm %+v", w)
	}
	if len(w.Variants) != 2 || w.Variants[1].Headers["User-Agent"] == "" {
		t.Errorf("variants %+v", w.Variants)
	}
}

// covers names the kinds the cost model may use: absent is every kind,
// [] none, and anything but tag, prefix or host is an error at its path.
func TestCovers(t *testing.T) {
	c, err := Parse([]byte(minimal), testKinds)
	if err != nil || c.Providers[0].Covers != nil {
		t.Fatalf("absent: %v %+v", err, c.Providers[0].Covers)
	}
	c, err = Parse([]byte(strings.Replace(minimal, "kind: plain}", "kind: plain, covers: []}", 1)), testKinds)
	if err != nil || c.Providers[0].Covers == nil || len(*c.Providers[0].Covers) != 0 {
		t.Fatalf("covers []: %v %+v", err, c.Providers[0].Covers)
	}
	_, err = Parse([]byte(strings.Replace(minimal, "kind: plain}", "kind: plain, covers: [tag, url]}", 1)), testKinds)
	if err == nil || !strings.Contains(err.Error(), `providers[0].covers[1]: want tag, prefix or host, got "url"`) {
		t.Errorf("covers [tag, url]: %v", err)
	}
}
