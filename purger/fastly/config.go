package fastly

import (
	"errors"
	"fmt"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/purger"
)

// Config is a fastly provider's own block of the config file.
type Config struct {
	// ServiceID scopes key purges and purge_all. URL purges are not scoped:
	// Fastly purges the URL in whatever service caches it.
	ServiceID string `yaml:"service_id"`
	// Token is an API token with the purge_select scope (URL and key
	// purges) and, for purge_all, the purge_all scope.
	Token string `yaml:"token"`
	// SoftPurge marks objects stale instead of removing them (URL and key
	// purges; purge_all is always hard).
	SoftPurge bool `yaml:"soft_purge"`
	// APIURL is the API base (default DefaultAPIURL); tests point it at a
	// fake.
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
	if c.ServiceID == "" {
		errs = append(errs, errors.New("service_id: required for kind fastly"))
	}
	if c.Token == "" {
		errs = append(errs, errors.New("token: required for kind fastly"))
	}
	if c.APIURL != "" {
		if !purger.IsHTTPURL(c.APIURL) {
			errs = append(errs, fmt.Errorf("api_url: want an http(s) URL, got %q", c.APIURL))
		}
	}
	return errors.Join(errs...)
}

// Limits declares URLs, surrogate keys (tags) and purge_all. Prefix and host
// targets have no Fastly purge, so the planner escalates them.
//
// URL calls carry one URL because Fastly purges one URL per request: one
// call is then one request, so retries, budgets and the audit trail count
// what Fastly saw, and a failure names the URL that failed. Key calls carry
// up to 256 keys, and BodyBytes asks the planner to keep their bytes within
// the 16,384-byte Surrogate-Key header. The planner's byte count is
// approximate (it counts a JSON envelope), so Purge re-chunks whatever
// arrives by both limits and never sends a header Fastly would truncate.
// Overrides from the file are applied by the caller.
func (c Config) Limits() change.Limits {
	return change.Limits{
		Kinds: []change.TargetKind{change.URL, change.Tag, change.Everything},
		PerCall: map[change.TargetKind]int{
			change.URL: URLsPerCall,
			change.Tag: MaxKeysPerRequest,
		},
		BodyBytes: MaxKeyHeaderBytes,
	}
}
