package bunny_test

import (
	"testing"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/purger/bunny"
	"github.com/purgehook/purgehook/purger/purgertest"
)

func TestConfig(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		c    bunny.Config
		want []string
	}{
		{"valid", bunny.Config{APIKey: "k", PullZone: "123"}, nil},
		{"empty", bunny.Config{}, []string{"api_key: required for kind bunny"}},
		{"pull zone", bunny.Config{APIKey: "k", PullZone: "my-zone"}, []string{`pull_zone: want the numeric pull zone id, got "my-zone"`}},
		{"api url", bunny.Config{APIKey: "k", APIURL: "ftp://x"}, []string{`api_url: want an http(s) URL`}},
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
	var c bunny.Config
	c.SetDefaults()
	if c.APIURL != bunny.DefaultAPIURL {
		t.Errorf("api_url default %q", c.APIURL)
	}
	// A pull zone makes tag and everything purges possible.
	if l := (bunny.Config{}).Limits(); l.Supports(change.Tag) || l.Supports(change.Everything) {
		t.Errorf("without a pull zone: %+v", l)
	}
	if l := (bunny.Config{PullZone: "123"}).Limits(); !l.Supports(change.Tag) || !l.Supports(change.Everything) {
		t.Errorf("with a pull zone: %+v", l)
	}
}
