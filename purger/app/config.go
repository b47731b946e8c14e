package app

import (
	"errors"
	"fmt"
	"slices"

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
}

// Validate returns every problem, each starting with its field name.
func (c Config) Validate() error {
	var errs []error
	if len(c.Instances) == 0 && !c.Stream {
		errs = append(errs, errors.New("instances: required for kind app (or stream: true)"))
	}
	if len(c.Instances) > 0 && c.Secret == "" {
		errs = append(errs, errors.New("secret: required for kind app to sign calls to instances"))
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
