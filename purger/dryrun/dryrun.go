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
	limits change.Limits
	logger *slog.Logger
}

var _ purger.Purger = (*Purger)(nil)

// Options configure a log provider: its Config and what the process
// gives it.
type Options struct {
	// Name is the configured provider name.
	Name string
	Config
	// Limits are the effective limits, Config.Limits() with the file's
	// overrides applied; zero means Config.Limits().
	Limits change.Limits
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// New returns a log provider.
func New(o Options) *Purger {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	p := &Purger{name: o.Name, limits: o.Limits.Clone(), logger: o.Logger.With("component", "provider", "provider", o.Name)}
	if o.Limits.Kinds == nil {
		p.limits = o.Config.Limits()
	}
	return p
}

// Name is the configured name.
func (p *Purger) Name() string { return p.name }

// Limits are Config.Limits() with the file's overrides.
func (p *Purger) Limits() change.Limits { return p.limits.Clone() }

// Purge prints the call.
func (p *Purger) Purge(ctx context.Context, call change.Call) (purger.Result, error) {
	if err := ctx.Err(); err != nil {
		return purger.Result{}, err
	}
	p.logger.Info("would purge", "kind", call.Kind, "items", len(call.Items), "list", call.Items, "batch", call.Batch, "call", call.ID)
	return purger.Result{}, nil
}
