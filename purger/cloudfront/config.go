package cloudfront

import (
	"errors"
	"fmt"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/purger"
)

// Config is a cloudfront provider's own block of the config file.
type Config struct {
	// DistributionID is the distribution to invalidate.
	DistributionID string `yaml:"distribution_id"`
	// Region signs requests (default DefaultRegion) and is where the
	// standard credential chain looks for regional services such as STS.
	Region string `yaml:"region"`
	// Endpoint overrides the service endpoint (tests, proxies).
	Endpoint string `yaml:"endpoint"`
	// AccessKeyID and SecretAccessKey are static credentials; when both are
	// empty the SDK's standard chain is used (environment, shared files,
	// SSO, web identity, container and instance roles).
	AccessKeyID     string `yaml:"access_key_id"`
	SecretAccessKey string `yaml:"secret_access_key"`
}

// SetDefaults fills the unset fields with their defaults.
func (c *Config) SetDefaults() {
	if c.Region == "" {
		c.Region = DefaultRegion
	}
}

// Validate returns every problem, each starting with its field name.
func (c Config) Validate() error {
	var errs []error
	if c.DistributionID == "" {
		errs = append(errs, errors.New("distribution_id: required for kind cloudfront"))
	}
	if (c.AccessKeyID == "") != (c.SecretAccessKey == "") {
		field := "secret_access_key"
		if c.AccessKeyID == "" {
			field = "access_key_id"
		}
		errs = append(errs, fmt.Errorf("%s: access_key_id and secret_access_key go together: set both, or neither to use the standard AWS credential chain", field))
	}
	if c.Endpoint != "" {
		if !purger.IsHTTPURL(c.Endpoint) {
			errs = append(errs, fmt.Errorf("endpoint: want an http(s) URL, got %q", c.Endpoint))
		}
	}
	return errors.Join(errs...)
}

// Limits declares URL paths and wildcard prefixes, split to CloudFront's
// in-progress limits; everything is the one wildcard "/*". Asynchronous,
// and billed per path.
// CloudFront publishes no request rate for CreateInvalidation, so calls
// are not paced; throttling errors snooze. Overrides from the file are
// applied by the caller.
func (c Config) Limits() change.Limits {
	return change.Limits{
		Kinds: []change.TargetKind{change.URL, change.Prefix, change.Everything},
		PerCall: map[change.TargetKind]int{
			change.URL:    DefaultPathsPerCall,
			change.Prefix: DefaultPrefixesPerCall,
		},
		Async: true,
		// Invalidation paths are billed past the month's first 1,000;
		// a wildcard path is one path, whatever it matches.
		BilledPerItem: true,
	}
}
