package app

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/purgehook/purgehook/config"
	"github.com/purgehook/purgehook/purger"
	"github.com/purgehook/purgehook/purger/dryrun"
	"github.com/purgehook/purgehook/source"
	"github.com/purgehook/purgehook/source/generic"
)

// This file is the one place that maps config kind strings to adapters. The
// set of sources and providers is closed, so one switch each is enough.

// SourceOptions resolves the settings every source kind shares.
func SourceOptions(cfg config.Source) source.Options {
	o := source.Options{
		Name:       cfg.Name,
		Token:      cfg.Token,
		AuthHeader: cfg.AuthHeader,
	}
	if cfg.Secret != "" {
		o.Secrets = append(o.Secrets, cfg.Secret)
	}
	o.Secrets = append(o.Secrets, cfg.Secrets...)
	if cfg.Basic != nil {
		o.BasicUser, o.BasicPassword = cfg.Basic.Username, cfg.Basic.Password
	}
	if cfg.ReplayWindow != nil {
		o.Tolerance = *cfg.ReplayWindow
	}
	return o
}

// NewSource builds the adapter for a configured source.
func NewSource(cfg config.Source) (source.Source, error) {
	opts := SourceOptions(cfg)
	switch cfg.Kind {
	case "generic":
		return generic.New(opts), nil
	}
	return nil, fmt.Errorf("sources: kind %q is not built into this purgehook", cfg.Kind)
}

// ProviderDeps are what adapters get from the process.
type ProviderDeps struct {
	// Client is the HTTP client for provider APIs (its Timeout is the
	// provider's configured timeout).
	Client *http.Client
	Logger *slog.Logger
}

// NewPurger builds the adapter for a configured provider.
func NewPurger(cfg config.Provider, d ProviderDeps) (purger.Purger, error) {
	switch cfg.Kind {
	case "log":
		return dryrun.New(cfg.Name, d.Logger), nil
	}
	return nil, fmt.Errorf("providers: kind %q is not built into this purgehook", cfg.Kind)
}
