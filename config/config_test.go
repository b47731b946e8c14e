package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const minimal = `
sites:
  - {name: a, base_url: https://a.example}
sources:
  - {name: cms, kind: generic, secret: s3cret}
providers:
  - {name: dry, kind: log}
`

func TestParseDefaults(t *testing.T) {
	c, err := Parse([]byte(minimal))
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
	if c.Warm.Concurrency != 5 || c.Warm.Delay != 200*time.Millisecond || c.Warm.Header["X-Warmup"] != "true" {
		t.Errorf("warm defaults = %+v", c.Warm)
	}
}

func TestUnknownFieldNamesItsPath(t *testing.T) {
	in := minimal + `
  - {name: cf, kind: log, limts: {files_per_call: 3}}
rules:
  - when: {content_type: x}
    purge: [{url: /, wram: false}]
warm: {concurency: 3}
`
	_, err := Parse([]byte(in))
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
	c, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Sources[0].Secrets; !slices.Equal(got, []string{"from-env", "from-file", "fallback"}) {
		t.Errorf("secrets = %q", got)
	}

	in = strings.Replace(minimal, "secret: s3cret", "secret: ${PH_SURELY_UNSET}", 1)
	_, err = Parse([]byte(in))
	if err == nil || !strings.Contains(err.Error(), "sources[0].secret: environment variable PH_SURELY_UNSET is not set") {
		t.Errorf("err = %v", err)
	}
}

func TestExpansionCannotChangeStructure(t *testing.T) {
	t.Setenv("PH_TEST_EVIL", "x\nlisten: 0.0.0.0:1")
	in := strings.Replace(minimal, "secret: s3cret", "secret: ${PH_TEST_EVIL}", 1)
	c, err := Parse([]byte(in))
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
sites:
  - {name: a, base_url: "a.example/x"}
  - {name: a, base_url: https://b.example, warm: [nope]}
sources:
  - {name: cms, kind: wordpress}
  - {name: gen, kind: generic, allow_ips: [300.1.1.1/8], site: zz}
providers:
  - {name: cf, kind: cloudflare, layer: middle, on_budget_exhausted: panic}
rules:
  - when: {}
    purge: [{url: relative}, {everything_on: galaxy}, {url: /a, tag: b}]
queue: {job_timeout: 5m, rescue_after: 1m}
`
	_, err := Parse([]byte(in))
	if err == nil {
		t.Fatal("want problems")
	}
	for _, want := range []string{
		`store.driver: unknown driver "mysql"`,
		`sites[0].base_url: want scheme and host`,
		`sites[1].name: duplicate site "a"`,
		`sites[1].warm[0]: want a site-relative path`,
		`sources[0].kind: unknown kind "wordpress"`,
		`sources[1].secret: required for kind generic`,
		`sources[1].allow_ips[0]: invalid address or CIDR`,
		`sources[1].site: unknown site "zz"`,
		`providers[0].layer: unknown layer "middle"`,
		`providers[0].zone: required for kind cloudflare`,
		`providers[0].token: required for kind cloudflare`,
		`providers[0].on_budget_exhausted: want purge_everything or wait`,
		`rules[0].when: empty`,
		`rules[0].purge[0].url: want a site-relative path`,
		`rules[0].purge[1].everything_on: want this_site or all_sites`,
		`rules[0].purge[2]: want exactly one of`,
		`queue.rescue_after: must exceed queue.job_timeout`,
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
