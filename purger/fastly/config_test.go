package fastly_test

import (
	"testing"

	"github.com/purgehook/purgehook/purger/fastly"
	"github.com/purgehook/purgehook/purger/purgertest"
)

func TestConfig(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		c    fastly.Config
		want []string
	}{
		{"valid", fastly.Config{ServiceID: "s", Token: "t", SoftPurge: true}, nil},
		{"empty", fastly.Config{}, []string{"service_id: required for kind fastly", "token: required for kind fastly"}},
		{"api url", fastly.Config{ServiceID: "s", Token: "t", APIURL: "ftp://api"}, []string{`api_url: want an http(s) URL, got "ftp://api"`}},
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
	var c fastly.Config
	c.SetDefaults()
	if c.APIURL != fastly.DefaultAPIURL {
		t.Errorf("api_url default %q", c.APIURL)
	}
}
