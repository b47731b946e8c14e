package app_test

import (
	"strings"
	"testing"

	"github.com/purgehook/purgehook/purger/app"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		c       app.Config
		problem string // "" means valid
	}{
		{"instances and secret", app.Config{Instances: []string{"http://10.0.0.5:8080/_purgehook/invalidate"}, Secret: "s"}, ""},
		{"stream only", app.Config{Stream: true}, ""},
		{"stream and instances", app.Config{Stream: true, Instances: []string{"http://10.0.0.5/x"}, Secret: "s"}, ""},
		{"nothing", app.Config{}, "instances: required for kind app"},
		{"no secret", app.Config{Instances: []string{"http://10.0.0.5/x"}}, "secret: required for kind app"},
		{"stream and instances without secret", app.Config{Stream: true, Instances: []string{"http://10.0.0.5/x"}}, "secret: required"},
		{"bad instance", app.Config{Instances: []string{"10.0.0.5:8080"}, Secret: "s"}, "instances[0]: want an http(s) URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.c.Validate()
			if tc.problem == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tc.problem) {
				t.Fatalf("got %v, want a problem starting %q", err, tc.problem)
			}
		})
	}
}
