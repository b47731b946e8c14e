package nginx

import (
	"errors"
	"fmt"
	"net/url"

	"github.com/purgehook/purgehook/change"
)

// Config is an nginx provider's own block of the config file.
type Config struct {
	// Servers are the nginx instances to purge, as http(s) URLs. A URL's
	// path is the purge location's prefix: http://10.0.0.5:8081 for a
	// listener that only purges, http://10.0.0.5/purge for a
	// location ~ ^/purge(/.*)$ on the public server.
	Servers []string `yaml:"servers"`
}

// Validate returns every problem, each starting with its field name.
func (c Config) Validate() error {
	var errs []error
	if len(c.Servers) == 0 {
		errs = append(errs, errors.New("servers: required for kind nginx"))
	}
	for i, s := range c.Servers {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.User != nil {
			errs = append(errs, fmt.Errorf("servers[%d]: want http(s)://host[:port][/prefix], got %q", i, s))
		}
	}
	return errors.Join(errs...)
}

// Limits declares URLs only: ngx_cache_purge 2.3 has no tags, no wildcard
// and no purge-all, so every other kind is left to the planner. Overrides
// from the file are applied by the caller.
func (c Config) Limits() change.Limits {
	return change.Limits{
		Kinds:   []change.TargetKind{change.URL},
		PerCall: map[change.TargetKind]int{change.URL: URLsPerCall},
	}
}
