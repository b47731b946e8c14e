package dryrun

import (
	"slices"

	"github.com/purgehook/purgehook/change"
)

// DefaultPerCall is the item limit of every kind but everything.
const DefaultPerCall = 100

// Config is a log provider's own block of the config file: it has no
// fields, so any key beside the common ones is unknown.
type Config struct{}

// Validate has nothing to check.
func (Config) Validate() error { return nil }

// Limits declares every kind, DefaultPerCall items per call, no budget;
// overrides from the file are applied by the caller.
func (Config) Limits() change.Limits {
	l := change.Limits{Kinds: slices.Clone(change.AllKinds), PerCall: map[change.TargetKind]int{}}
	for _, k := range change.AllKinds {
		if k != change.Everything {
			l.PerCall[k] = DefaultPerCall
		}
	}
	return l
}
