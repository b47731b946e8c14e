package varnish

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/purger"
)

// Config is a varnish provider's own block of the config file.
type Config struct {
	// Servers are the Varnish base URLs (http://10.0.0.5:6081).
	Servers []string `yaml:"servers"`
	// XkeyHeader is the request header the VCL reads tag purges from
	// (default DefaultXkeyHeader).
	XkeyHeader string `yaml:"xkey_header"`
	// SoftPurge asks the VCL to expire objects instead of removing them.
	SoftPurge bool `yaml:"soft_purge"`
}

// SetDefaults fills the unset fields with their defaults.
func (c *Config) SetDefaults() {
	if c.XkeyHeader == "" {
		c.XkeyHeader = DefaultXkeyHeader
	}
}

// Validate returns every problem, each starting with its field name.
func (c Config) Validate() error {
	var errs []error
	if len(c.Servers) == 0 {
		errs = append(errs, errors.New("servers: required for kind varnish"))
	}
	for i, s := range c.Servers {
		if !purger.IsHTTPURL(s) {
			errs = append(errs, fmt.Errorf("servers[%d]: want an http(s) URL, got %q", i, s))
		}
	}
	if c.XkeyHeader != "" && (http.CanonicalHeaderKey(c.XkeyHeader) == "" || strings.ContainsAny(c.XkeyHeader, " :\t\r\n")) {
		errs = append(errs, fmt.Errorf("xkey_header: %q is not a header name", c.XkeyHeader))
	}
	return errors.Join(errs...)
}

// Limits declares what a call may carry; overrides from the file are
// applied by the caller.
func (c Config) Limits() change.Limits {
	return change.Limits{
		Kinds: []change.TargetKind{change.URL, change.Tag, change.Prefix, change.Host, change.Everything},
		PerCall: map[change.TargetKind]int{
			change.URL: DefaultURLsPerCall, change.Tag: DefaultTagsPerCall,
			change.Prefix: DefaultBansPerCall, change.Host: DefaultBansPerCall,
		},
	}
}
