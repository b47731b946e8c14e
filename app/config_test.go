package app_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/purgehook/purgehook/app"
	"github.com/purgehook/purgehook/budget"
	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/purger/cloudflare"
	"github.com/purgehook/purgehook/stream"
)

const sites = `
sites:
  - {name: a, base_url: https://a.example}
sources:
  - {name: cms, kind: generic, secret: s3cret}
`

// TestConfigKindBlocks checks that each provider and source block is
// decoded into its adapter's Config, and that problems inside it are named
// by their path in the file.
func TestConfigKindBlocks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, yaml string
		problems   []string // none: valid
	}{
		{"cloudflare", `providers: [{name: cf, kind: cloudflare, zone: z1, token: t, plan: pro}]`, nil},
		{"unknown key in a provider block", `providers: [{name: dry, kind: log}, {name: cf, kind: cloudflare, zonee: z1, token: t}]`,
			[]string{"providers[1].zonee: unknown field"}},
		{"another kind's key", `providers: [{name: cf, kind: cloudflare, zone: z1, token: t, servers: [http://v]}]`,
			[]string{"providers[0].servers: unknown field"}},
		{"a key of a kind without own fields", `providers: [{name: dry, kind: log, zone: z1}]`,
			[]string{"providers[0].zone: unknown field"}},
		{"unknown key in a nested block", `providers: [{name: h, kind: http, request: {url: "http://x", metod: GET}}]`,
			[]string{"providers[0].request.metod: unknown field"}},
		{"missing required fields", `providers: [{name: cf, kind: cloudflare}]`,
			[]string{"providers[0].zone: required for kind cloudflare", "providers[0].token: required for kind cloudflare"}},
		{"a bad value", `providers: [{name: cf, kind: cloudflare, zone: z1, token: t, plan: gold}]`,
			[]string{`providers[0].plan: want free, pro, business or enterprise, got "gold"`}},
		{"cloudflare analytics", `providers: [{name: cf, kind: cloudflare, zone: z1, token: t, analytics: {interval: 5m, window: 2h}}]`, nil},
		{"cloudflare analytics too often", `providers: [{name: cf, kind: cloudflare, zone: z1, token: t, analytics: {interval: 10s, windo: 1h}}]`,
			[]string{"providers[0].analytics.windo: unknown field"}},
		{"cloudflare analytics interval", `providers: [{name: cf, kind: cloudflare, zone: z1, token: t, analytics: {interval: 10s}}]`,
			[]string{"providers[0].analytics.interval: at least 1m0s, got 10s"}},
		{"nested field", `providers: [{name: h, kind: http, request: {url: "http://x", per: each}}]`,
			[]string{`providers[0].request.per: want item or batch, got "each"`}},
		{"unknown provider kind", `providers: [{name: x, kind: cloudflair, zone: z1}]`,
			[]string{`providers[0].kind: unknown kind "cloudflair" (want one of akamai, app, bunny, cloudflare, cloudfront, fastly, http, log, nginx, varnish)`}},
		{"unknown source kind", "providers: [{name: dry, kind: log}]\n" + `sources: [{name: x, kind: wordpress}]`,
			[]string{`sources[0].kind: unknown kind "wordpress" (want one of contentful, generic, kontent, sanity, sitefinity, standard, storyblok, strapi, umbraco)`}},
		{"source auth", "providers: [{name: dry, kind: log}]\n" + `sources: [{name: u, kind: umbraco}, {name: s, kind: sanity}, {name: k, kind: kontent}]`,
			[]string{"sources[0].token: required for kind umbraco", "sources[1]: kind sanity needs secret, token or basic", "sources[2].secret: required for kind kontent"}},
		{"source block", "providers: [{name: dry, kind: log}]\n" + `sources: [{name: k, kind: kontent, secret: s, delivery_slots: [preview, production]}]`,
			[]string{`sources[0].delivery_slots[1]: unknown delivery slot "production"`}},
		{"unknown key in a source block", "providers: [{name: dry, kind: log}]\n" + `sources: [{name: k, kind: generic, secret: s, delivery_slots: [preview]}]`,
			[]string{"sources[0].delivery_slots: unknown field"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := tc.yaml
			if !strings.Contains(in, "sources:") {
				in = sites + in
			}
			_, err := app.ParseConfig([]byte(in))
			if len(tc.problems) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no problems, want %q", tc.problems)
			}
			for _, want := range tc.problems {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("problems lack %q:\n%v", want, err)
				}
			}
		})
	}
}

// TestConfigDecodesIntoTheAdapter checks the decoded values, the kind's
// defaults and the common fields' kind-dependent default (layer).
func TestConfigDecodesIntoTheAdapter(t *testing.T) {
	t.Parallel()
	cfg, err := app.ParseConfig([]byte(sites + `
providers:
  - {name: cf, kind: cloudflare, zone: z1, token: t, plan: enterprise, limits: {files_per_call: 200}, budget: {calls_per_day: 9}}
  - {name: v, kind: varnish, servers: [http://10.0.0.5:6081]}
`))
	if err != nil {
		t.Fatal(err)
	}
	cf, ok := cfg.Providers[0].Settings.(*cloudflare.Config)
	if !ok {
		t.Fatalf("settings %T, want *cloudflare.Config", cfg.Providers[0].Settings)
	}
	if want := (cloudflare.Config{Zone: "z1", Token: "t", Plan: "enterprise", APIURL: cloudflare.DefaultAPIURL}); *cf != want {
		t.Errorf("cloudflare config %+v, want %+v", *cf, want)
	}
	if cfg.Providers[0].Layer != "edge" || cfg.Providers[1].Layer != "origin" {
		t.Errorf("layers %q, %q; want the kinds' defaults edge, origin", cfg.Providers[0].Layer, cfg.Providers[1].Layer)
	}

	// The overrides are applied once, and the planner and the adapter see
	// the same numbers.
	ps, err := app.Providers(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	l := ps[0].Provider.Limits
	if l.Max(change.URL) != 200 || l.Max(change.Tag) != cloudflare.Plans["enterprise"].Flex || l.RatePerSecond != cloudflare.Plans["enterprise"].RatePerSecond {
		t.Errorf("planner limits %+v", l)
	}
	if al := ps[0].Purger.Limits(); al.Max(change.URL) != 200 {
		t.Errorf("adapter limits %+v, planner %+v", al, l)
	}
	// The budget is the planner's, from the file.
	if b := ps[0].Provider.Budget; b.PerDay != 9 || b.Policy != budget.PurgeEverything {
		t.Errorf("budget %+v", b)
	}
}

// TestAppProviderConfig checks the app kind's rules and that it builds with
// and without a stream hub.
func TestAppProviderConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, provider string
		problem        string // "" means valid
	}{
		{"instances and secret", `{name: apps, kind: app, instances: [http://10.0.0.5:8080/_purgehook/invalidate], secret: s}`, ""},
		{"stream only", `{name: apps, kind: app, stream: true}`, ""},
		{"stream and instances", `{name: apps, kind: app, stream: true, instances: [http://10.0.0.5/x], secret: s}`, ""},
		{"nothing", `{name: apps, kind: app}`, "providers[0].instances: required for kind app"},
		{"no secret", `{name: apps, kind: app, instances: [http://10.0.0.5/x]}`, "providers[0].secret: required for kind app"},
		{"stream and instances without secret", `{name: apps, kind: app, stream: true, instances: [http://10.0.0.5/x]}`, "providers[0].secret: required"},
		{"bad instance", `{name: apps, kind: app, instances: ["10.0.0.5:8080"], secret: s}`, "providers[0].instances[0]: want an http(s) URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := app.ParseConfig([]byte("providers:\n  - " + tc.provider + "\n"))
			if tc.problem != "" {
				if err == nil || !strings.Contains(err.Error(), tc.problem) {
					t.Fatalf("got %v, want a problem %q", err, tc.problem)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			pc := cfg.Providers[0]
			if pc.Layer != "app" {
				t.Errorf("layer %q, want app by default", pc.Layer)
			}
			hub, _ := stream.NewHub(stream.Options{})
			p, err := app.NewPurger(pc, app.ProviderDeps{Hub: hub})
			if err != nil || p.Name() != "apps" {
				t.Fatalf("NewPurger: %v, %v", p, err)
			}
			// Without a hub (commands that only plan) it still builds.
			if _, err := app.NewPurger(pc, app.ProviderDeps{}); err != nil {
				t.Errorf("NewPurger without a hub: %v", err)
			}
		})
	}
}

// TestExamplesLoad loads every example config.
func TestExamplesLoad(t *testing.T) {
	for k, v := range map[string]string{"PUBLISH_SECRET": "s", "CF_ZONE": "023e105f4ecef8ad9ca31a8372d0c353", "CF_TOKEN": "t", "FASTLY_TOKEN": "t", "AWS_DISTRIBUTION_ID": "E1", "APP_SECRET": "s"} {
		t.Setenv(k, v)
	}
	files, _ := filepath.Glob("../examples/*.yaml")
	if len(files) < 3 {
		t.Fatalf("found %d example configs", len(files))
	}
	for _, f := range files {
		cfg, err := app.LoadConfig(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if _, err := app.Providers(cfg, nil, nil); err != nil {
			t.Errorf("%s: %v", f, err)
		}
		if _, err := app.Endpoints(cfg); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// TestDocsSnippetsUseKnownKeys decodes the YAML snippets of the README and
// of each provider's and source's page: a key the docs show must be one
// config knows, in the block of the kind it is shown with. Snippets are
// fragments (a provider without sites, a source without its site), so only
// unknown keys and kinds count here.
func TestDocsSnippetsUseKnownKeys(t *testing.T) {
	files, _ := filepath.Glob("../docs/*/*.md")
	files = append(files, "../README.md")
	block := regexp.MustCompile("(?s)```yaml\n(.*?)```")
	ref := regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)`)
	n := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range block.FindAllSubmatch(data, -1) {
			for _, r := range ref.FindAllSubmatch(m[1], -1) {
				t.Setenv(string(r[1]), "x1")
			}
			n++
			_, err := app.ParseConfig(m[1])
			if err == nil {
				continue
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if strings.Contains(line, "unknown field") || strings.Contains(line, "unknown kind") {
					t.Errorf("%s: %s", f, strings.TrimSpace(line))
				}
			}
		}
	}
	if n < 10 {
		t.Errorf("found %d snippets", n)
	}
}
