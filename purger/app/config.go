package app

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/purger"
)

// Config is an app provider's own block of the config file.
type Config struct {
	// Instances are the full URLs of the application instances' handlers
	// (http://10.0.0.5:8080/_purgehook/invalidate). Optional when Stream
	// is set.
	Instances []string `yaml:"instances"`
	// Secret signs the requests; required with Instances.
	Secret string `yaml:"secret"`
	// Stream also publishes every call on /v1/stream, for instances that
	// cannot accept inbound calls.
	Stream bool `yaml:"stream"`
	// Discover is an instance URL whose host is a DNS name that resolves
	// to every instance (a Kubernetes headless service:
	// http://shop-headless.default.svc:8080/_purgehook/invalidate). Each
	// call looks it up again and goes to every address it resolves to
	// then, with the URL's port and path.
	Discover string `yaml:"discover"`
	// UnreachableAfter is how long an instance may fail every call (no
	// answer, 5xx) before it is reported and skipped, so that one dead
	// instance does not fail every batch (default 5m). An instance skipped
	// is sent an invalidate-everything when it answers again: it missed
	// invalidations, so it starts cold.
	UnreachableAfter time.Duration `yaml:"unreachable_after"`
}

// DefaultUnreachableAfter is UnreachableAfter's default.
const DefaultUnreachableAfter = 5 * time.Minute

// Validate returns every problem, each starting with its field name.
func (c Config) Validate() error {
	var errs []error
	if len(c.Instances) == 0 && c.Discover == "" && !c.Stream {
		errs = append(errs, errors.New("instances: required for kind app (or discover, or stream: true)"))
	}
	if (len(c.Instances) > 0 || c.Discover != "") && c.Secret == "" {
		errs = append(errs, errors.New("secret: required for kind app to sign calls to instances"))
	}
	if c.Discover != "" {
		if !purger.IsHTTPURL(c.Discover) {
			errs = append(errs, errors.New("discover: want an http(s) URL whose host is the DNS name of every instance"))
		}
	}
	if c.UnreachableAfter < 0 {
		errs = append(errs, errors.New("unreachable_after: must not be negative"))
	}
	for i, raw := range c.Instances {
		if !purger.IsHTTPURL(raw) {
			errs = append(errs, fmt.Errorf("instances[%d]: want an http(s) URL", i))
		}
	}
	return errors.Join(errs...)
}

// Limits declares what a call may carry; overrides from the file are
// applied by the caller.
func (c Config) Limits() change.Limits {
	l := change.Limits{
		Kinds:     slices.Clone(change.AllKinds),
		PerCall:   map[change.TargetKind]int{},
		BodyBytes: DefaultBodyBytes,
	}
	for _, k := range change.AllKinds {
		if k != change.Everything {
			l.PerCall[k] = DefaultPerCall
		}
	}
	return l
}
