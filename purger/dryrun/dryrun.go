// Package dryrun is the "log" provider: it prints every call it would make
// and makes none. The quickstart uses it so that purgehook runs without a
// CDN account, and it shows what a real provider would be asked to do.
package dryrun

import (
	"context"
	"log/slog"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/purger"
)

// Purger logs calls.
type Purger struct {
	name   string
	logger *slog.Logger
}

var _ purger.Purger = (*Purger)(nil)

// New returns a log provider; a nil logger means slog.Default().
func New(name string, logger *slog.Logger) *Purger {
	if logger == nil {
		logger = slog.Default()
	}
	return &Purger{name: name, logger: logger.With("component", "provider", "provider", name)}
}

// Name is the configured name.
func (p *Purger) Name() string { return p.name }

// Limits: every kind, 100 items per call, no budget.
func (p *Purger) Limits() change.Limits {
	return change.Limits{
		Kinds:   change.AllKinds,
		PerCall: map[change.TargetKind]int{change.URL: 100, change.Tag: 100, change.Prefix: 100, change.Host: 100},
	}
}

// Purge prints the call.
func (p *Purger) Purge(ctx context.Context, call change.Call) (purger.Result, error) {
	if err := ctx.Err(); err != nil {
		return purger.Result{}, err
	}
	p.logger.Info("would purge", "kind", call.Kind, "items", len(call.Items), "list", call.Items, "batch", call.Batch, "call", call.ID)
	return purger.Result{}, nil
}
