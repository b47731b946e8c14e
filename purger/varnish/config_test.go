package varnish_test

import (
	"strings"
	"testing"

	"github.com/purgehook/purgehook/purger/varnish"
)

func TestConfig(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		c    varnish.Config
		want []string
	}{
		{"valid", varnish.Config{Servers: []string{"http://10.0.0.5:6081"}, XkeyHeader: "xkey", SoftPurge: true}, nil},
		{"empty", varnish.Config{}, []string{"servers: required for kind varnish"}},
		{"server without a scheme", varnish.Config{Servers: []string{"http://a", "10.0.0.5:6081"}}, []string{`servers[1]: want an http(s) URL, got "10.0.0.5:6081"`}},
		{"xkey header", varnish.Config{Servers: []string{"http://a"}, XkeyHeader: "bad header"}, []string{`xkey_header: "bad header" is not a header name`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			checkProblems(t, tc.c.Validate(), tc.want)
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	var c varnish.Config
	c.SetDefaults()
	if c.XkeyHeader != varnish.DefaultXkeyHeader {
		t.Errorf("xkey_header default %q", c.XkeyHeader)
	}
}

// problems returns the lines of a Validate error, one per problem.
func problems(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

// checkProblems fails unless each problem starts with the wanted text, in
// order.
func checkProblems(t *testing.T, err error, want []string) {
	t.Helper()
	got := problems(err)
	if len(got) != len(want) {
		t.Fatalf("problems %q, want %d starting %q", got, len(want), want)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("problem %q, want it to start %q", got[i], want[i])
		}
	}
}
