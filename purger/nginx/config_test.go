package nginx_test

import (
	"testing"

	"github.com/purgehook/purgehook/purger/nginx"
	"github.com/purgehook/purgehook/purger/purgertest"
)

func TestConfig(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		c    nginx.Config
		want []string
	}{
		{"valid", nginx.Config{Servers: []string{"http://10.0.0.5:8081", "https://10.0.0.6/purge"}}, nil},
		{"empty", nginx.Config{}, []string{"servers: required for kind nginx"}},
		{"credentials", nginx.Config{Servers: []string{"http://u:p@10.0.0.5"}}, []string{"servers[0]: want http(s)://host[:port][/prefix]"}},
		{"query", nginx.Config{Servers: []string{"http://a", "http://10.0.0.5/?x=1"}}, []string{"servers[1]: want http(s)://host[:port][/prefix]"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			purgertest.CheckProblems(t, tc.c.Validate(), tc.want)
		})
	}
}
