package bunny

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/purger"
)

// Config is a bunny provider's own block of the config file.
type Config struct {
	// APIKey is the account API key, sent as the AccessKey header.
	APIKey string `yaml:"api_key"`
	// PullZone is the numeric pull zone id. Without it only url and prefix
	// purges are possible; with it tag and everything purges are too.
	PullZone string `yaml:"pull_zone"`
	// APIURL points the provider elsewhere than bunny.net (tests,
	// proxies); default DefaultAPIURL.
	APIURL string `yaml:"api_url"`
}

// SetDefaults fills the unset fields with their defaults.
func (c *Config) SetDefaults() {
	if c.APIURL == "" {
		c.APIURL = DefaultAPIURL
	}
}

// Validate returns every problem, each starting with its field name.
func (c Config) Validate() error {
	var errs []error
	if c.APIKey == "" {
		errs = append(errs, errors.New("api_key: required for kind bunny"))
	}
	if c.PullZone != "" {
		if _, err := strconv.ParseUint(c.PullZone, 10, 64); err != nil {
			errs = append(errs, fmt.Errorf("pull_zone: want the numeric pull zone id, got %q", c.PullZone))
		}
	}
	if c.APIURL != "" {
		if !purger.IsHTTPURL(c.APIURL) {
			errs = append(errs, fmt.Errorf("api_url: want an http(s) URL, got %q", c.APIURL))
		}
	}
	return errors.Join(errs...)
}

// Limits declares one item per call (Bunny's API shape), url and prefix
// always, tag and everything with a pull zone, paced to the exact-URL
// bucket; overrides from the file are applied by the caller.
func (c Config) Limits() change.Limits {
	l := change.Limits{
		Kinds:         []change.TargetKind{change.URL, change.Prefix},
		PerCall:       map[change.TargetKind]int{change.URL: 1, change.Prefix: 1},
		RatePerSecond: DefaultRatePerSecond,
		Burst:         DefaultBurst,
	}
	if c.PullZone != "" {
		l.Kinds = append(l.Kinds, change.Tag, change.Everything)
		l.PerCall[change.Tag] = 1
	}
	return l
}
