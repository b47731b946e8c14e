package varnish_test

import (
	"testing"

	"github.com/purgehook/purgehook/purger/purgertest"
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
			purgertest.CheckProblems(t, tc.c.Validate(), tc.want)
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
