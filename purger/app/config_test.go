package app_test

import (
	"strings"
	"testing"

	"github.com/purgehook/purgehook/app"
	"github.com/purgehook/purgehook/config"
	"github.com/purgehook/purgehook/stream"
)

// TestConfig checks the app kind's entry in config validation and its case
// in app.NewPurger.
func TestConfig(t *testing.T) {
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
			cfg, err := config.Parse([]byte("providers:\n  - " + tc.provider + "\n"))
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
			if pc.Stream {
				// Without a hub (commands that only plan) it still builds.
				if _, err := app.NewPurger(pc, app.ProviderDeps{}); err != nil {
					t.Errorf("NewPurger without a hub: %v", err)
				}
			}
		})
	}
}
