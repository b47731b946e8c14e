package cloudflare

import (
	"errors"
	"fmt"
	"strings"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/purger"
)

// Config is a cloudflare provider's own block of the config file.
type Config struct {
	// Zone is the zone id (32 hex characters in the dashboard's Overview).
	Zone string `yaml:"zone"`
	// Token is an API token with the Cache Purge permission on the zone.
	Token string `yaml:"token"`
	// Plan is free, pro, business or enterprise; "" declares the safe
	// defaults (DefaultPerCall, no pacing).
	Plan string `yaml:"plan"`
	// APIURL points the provider elsewhere than Cloudflare (tests,
	// proxies); default DefaultAPIURL.
	APIURL string `yaml:"api_url"`
	// Analytics, when present, reads the zone's cache hit ratio from the
	// GraphQL Analytics API (analytics.go); absent, off.
	Analytics *AnalyticsConfig `yaml:"analytics"`
}

// SetDefaults fills the unset fields with their defaults.
func (c *Config) SetDefaults() {
	if c.APIURL == "" {
		c.APIURL = DefaultAPIURL
	}
	if c.Analytics != nil {
		c.Analytics.setDefaults()
	}
}

// Validate returns every problem, each starting with its field name.
func (c Config) Validate() error {
	var errs []error
	if c.Zone == "" {
		errs = append(errs, errors.New("zone: required for kind cloudflare"))
	} else if !zoneID.MatchString(c.Zone) {
		errs = append(errs, errors.New("zone: want the zone id (letters and digits)"))
	}
	if c.Token == "" {
		errs = append(errs, errors.New("token: required for kind cloudflare"))
	}
	if _, ok := Plans[strings.ToLower(c.Plan)]; c.Plan != "" && !ok {
		errs = append(errs, fmt.Errorf("plan: want free, pro, business or enterprise, got %q", c.Plan))
	}
	if c.APIURL != "" {
		if !purger.IsHTTPURL(c.APIURL) {
			errs = append(errs, fmt.Errorf("api_url: want an http(s) URL, got %q", c.APIURL))
		}
	}
	if c.Analytics != nil {
		errs = append(errs, c.Analytics.validate()...)
	}
	return errors.Join(errs...)
}

// Limits declares what a zone on the configured plan accepts per call and
// how fast; overrides from the file are applied by the caller.
func (c Config) Limits() change.Limits {
	l := change.Limits{
		Kinds: []change.TargetKind{change.URL, change.Tag, change.Prefix, change.Host, change.Everything},
		PerCall: map[change.TargetKind]int{
			change.URL: DefaultPerCall, change.Tag: DefaultPerCall,
			change.Prefix: DefaultPerCall, change.Host: DefaultPerCall,
		},
	}
	if pl, ok := Plans[strings.ToLower(c.Plan)]; ok {
		l.PerCall = map[change.TargetKind]int{
			change.URL: pl.Files, change.Tag: pl.Flex, change.Prefix: pl.Flex, change.Host: pl.Flex,
		}
		l.RatePerSecond, l.Burst = pl.RatePerSecond, pl.Burst
	}
	return l
}
