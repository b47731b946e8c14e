package akamai

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/purger"
)

// Config is an akamai provider's own block of the config file.
type Config struct {
	// Host is the API client's host (akab-….luna.akamaiapis.net); with
	// ClientToken, ClientSecret and AccessToken, the EdgeGrid credentials
	// of an API client with the CCU APIs grant.
	Host         string `yaml:"host"`
	ClientToken  string `yaml:"client_token"`
	ClientSecret string `yaml:"client_secret"`
	AccessToken  string `yaml:"access_token"`
	// Network is production or staging (default DefaultNetwork).
	Network string `yaml:"network"`
	// Action is invalidate (DefaultAction: the edge revalidates with the
	// origin and can serve stale if it is down) or delete (removes
	// objects; for legal and compliance removals).
	Action string `yaml:"action"`
	// CPCodes, when set, make everything calls possible: they purge these
	// CP codes. Without them a provider purges only urls and tags.
	CPCodes []string `yaml:"cpcodes"`
	// APIURL overrides https://{Host} (tests, proxies).
	APIURL string `yaml:"api_url"`
}

// SetDefaults fills the unset fields with their defaults.
func (c *Config) SetDefaults() {
	if c.Network == "" {
		c.Network = DefaultNetwork
	}
	if c.Action == "" {
		c.Action = DefaultAction
	}
}

// Validate returns every problem, each starting with its field name.
func (c Config) Validate() error {
	var errs []error
	for _, f := range []struct{ name, v string }{
		{"host", c.Host}, {"client_token", c.ClientToken}, {"client_secret", c.ClientSecret}, {"access_token", c.AccessToken},
	} {
		if f.v == "" {
			errs = append(errs, fmt.Errorf("%s: required for kind akamai", f.name))
		}
	}
	if strings.Contains(c.Host, "/") {
		errs = append(errs, fmt.Errorf("host: want the bare API host name (akab-….luna.akamaiapis.net), got %q", c.Host))
	}
	if c.Network != "" && c.Network != Production && c.Network != Staging {
		errs = append(errs, fmt.Errorf("network: want production or staging, got %q", c.Network))
	}
	if c.Action != "" && c.Action != Invalidate && c.Action != Delete {
		errs = append(errs, fmt.Errorf("action: want invalidate or delete, got %q", c.Action))
	}
	if _, err := c.cpcodes(); err != nil {
		errs = append(errs, err)
	}
	if c.APIURL != "" {
		if !purger.IsHTTPURL(c.APIURL) {
			errs = append(errs, fmt.Errorf("api_url: want an http(s) URL, got %q", c.APIURL))
		}
	}
	return errors.Join(errs...)
}

// cpcodes parses CPCodes.
func (c Config) cpcodes() ([]int, error) {
	var out []int
	for i, s := range c.CPCodes {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("cpcodes[%d]: want a numeric CP code, got %q", i, s)
		}
		out = append(out, n)
	}
	return out, nil
}

// Limits declares url and tag objects (everything when CP codes are
// configured), split by count and body bytes, asynchronous by
// estimatedSeconds; overrides from the file are applied by the caller.
func (c Config) Limits() change.Limits {
	l := change.Limits{
		Kinds:         []change.TargetKind{change.URL, change.Tag},
		PerCall:       map[change.TargetKind]int{change.URL: DefaultPerCall, change.Tag: DefaultPerCall},
		BodyBytes:     DefaultBodyBytes,
		RatePerSecond: DefaultRatePerSecond,
		Burst:         DefaultBurst,
		Async:         true,
	}
	if len(c.CPCodes) > 0 {
		l.Kinds = append(l.Kinds, change.Everything)
	}
	return l
}
