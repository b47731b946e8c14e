package akamai_test

import (
	"testing"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/purger/akamai"
	"github.com/purgehook/purgehook/purger/purgertest"
)

func TestConfig(t *testing.T) {
	t.Parallel()
	creds := akamai.Config{Host: "akab-h.luna.akamaiapis.net", ClientToken: "ct", ClientSecret: "cs", AccessToken: "at"}
	with := func(edit func(*akamai.Config)) akamai.Config {
		c := creds
		edit(&c)
		return c
	}
	cases := []struct {
		name string
		c    akamai.Config
		want []string
	}{
		{"valid", creds, nil},
		{"empty", akamai.Config{}, []string{"host: required for kind akamai", "client_token: required for kind akamai", "client_secret: required for kind akamai", "access_token: required for kind akamai"}},
		{"host with a scheme", with(func(c *akamai.Config) { c.Host = "https://akab-h.luna.akamaiapis.net" }), []string{"host: want the bare API host name"}},
		{"network", with(func(c *akamai.Config) { c.Network = "prod" }), []string{`network: want production or staging, got "prod"`}},
		{"action", with(func(c *akamai.Config) { c.Action = "purge" }), []string{`action: want invalidate or delete, got "purge"`}},
		{"cp code", with(func(c *akamai.Config) { c.CPCodes = []string{"1", "abc"} }), []string{`cpcodes[1]: want a numeric CP code, got "abc"`}},
		{"api url", with(func(c *akamai.Config) { c.APIURL = "ftp://x" }), []string{`api_url: want an http(s) URL`}},
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
	var c akamai.Config
	c.SetDefaults()
	if c.Network != akamai.DefaultNetwork || c.Action != akamai.DefaultAction {
		t.Errorf("defaults: network %q action %q", c.Network, c.Action)
	}
	// CP codes make everything purges possible.
	if l := (akamai.Config{}).Limits(); l.Supports(change.Everything) || !l.Async {
		t.Errorf("without cp codes: %+v", l)
	}
	if l := (akamai.Config{CPCodes: []string{"12345"}}).Limits(); !l.Supports(change.Everything) {
		t.Errorf("with cp codes: %+v", l)
	}
}
