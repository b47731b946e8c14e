package app

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/config"
	"github.com/purgehook/purgehook/purger"
	"github.com/purgehook/purgehook/purger/akamai"
	appprovider "github.com/purgehook/purgehook/purger/app"
	"github.com/purgehook/purgehook/purger/bunny"
	"github.com/purgehook/purgehook/purger/cloudflare"
	"github.com/purgehook/purgehook/purger/cloudfront"
	"github.com/purgehook/purgehook/purger/dryrun"
	"github.com/purgehook/purgehook/purger/fastly"
	"github.com/purgehook/purgehook/purger/httpcall"
	"github.com/purgehook/purgehook/purger/nginx"
	"github.com/purgehook/purgehook/purger/varnish"
	"github.com/purgehook/purgehook/source"
	"github.com/purgehook/purgehook/source/contentful"
	"github.com/purgehook/purgehook/source/generic"
	"github.com/purgehook/purgehook/source/kontent"
	"github.com/purgehook/purgehook/source/sanity"
	"github.com/purgehook/purgehook/source/sitefinity"
	"github.com/purgehook/purgehook/source/standard"
	"github.com/purgehook/purgehook/source/storyblok"
	"github.com/purgehook/purgehook/source/strapi"
	"github.com/purgehook/purgehook/source/umbraco"
	"github.com/purgehook/purgehook/stream"
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
	// An unset window is the default, not "disabled": only an explicit 0
	// turns the check off.
	o.Tolerance = source.DefaultTolerance
	if cfg.ReplayWindow != nil {
		o.Tolerance = *cfg.ReplayWindow
	}
	o.DeliverySlots = cfg.DeliverySlots
	return o
}

// NewSource builds the adapter for a configured source.
func NewSource(cfg config.Source) (source.Source, error) {
	opts := SourceOptions(cfg)
	switch cfg.Kind {
	case "generic":
		return generic.New(opts), nil
	case "umbraco":
		return sourceBuilt(umbraco.New(opts))
	case "sitefinity":
		return sourceBuilt(sitefinity.New(opts))
	case "kontent":
		return sourceBuilt(kontent.New(opts))
	case "contentful":
		return sourceBuilt(contentful.New(opts))
	case "strapi":
		return sourceBuilt(strapi.New(opts))
	case "sanity":
		return sourceBuilt(sanity.New(opts))
	case "storyblok":
		return sourceBuilt(storyblok.New(opts))
	case "standard":
		return sourceBuilt(standard.New(opts))
	}
	return nil, fmt.Errorf("sources: kind %q is not built into this purgehook", cfg.Kind)
}

// ProviderDeps are what adapters get from the process.
type ProviderDeps struct {
	// Client is the HTTP client for provider APIs (its Timeout is the
	// provider's configured timeout).
	Client *http.Client
	Logger *slog.Logger
	// Hub is where the app provider publishes when stream is true (nil
	// for commands that only plan).
	Hub *stream.Hub
}

// NewPurger builds the adapter for a configured provider.
func NewPurger(cfg config.Provider, d ProviderDeps) (purger.Purger, error) {
	switch cfg.Kind {
	case "log":
		return dryrun.New(cfg.Name, d.Logger), nil
	case "cloudflare":
		// The per-call overrides go to the adapter too: it refuses calls
		// above its limits, so it must know the configured ones.
		return built(cloudflare.New(cloudflare.Options{Name: cfg.Name, Zone: cfg.Zone, Token: cfg.Token,
			APIURL: cfg.APIURL, Plan: cfg.Plan, PerCall: map[change.TargetKind]int{
				change.URL: cfg.Limits.FilesPerCall, change.Tag: cfg.Limits.TagsPerCall,
				change.Host: cfg.Limits.HostsPerCall, change.Prefix: cfg.Limits.PrefixesPerCall},
			RatePerSecond: cfg.Limits.RatePerSecond, Burst: cfg.Limits.Burst,
			Client: d.Client, Logger: d.Logger}))
	case "cloudfront":
		// The AWS SDK keeps its own HTTP client, which applies
		// AWS_CA_BUNDLE and the AWS proxy settings; only the timeout
		// comes from config.
		return built(cloudfront.New(cloudfront.Options{Name: cfg.Name, DistributionID: cfg.DistributionID, Region: cfg.Region,
			Endpoint: cfg.Endpoint, AccessKeyID: cfg.AccessKeyID, SecretAccessKey: cfg.SecretAccessKey,
			Timeout: cfg.Timeout, Logger: d.Logger}))
	case "akamai":
		return built(akamai.New(akamai.Options{Name: cfg.Name, Host: cfg.Host, ClientToken: cfg.ClientToken,
			ClientSecret: cfg.ClientSecret, AccessToken: cfg.AccessToken, Network: cfg.Network, Action: cfg.Action,
			CPCodes: cfg.CPCodes, APIURL: cfg.APIURL, Client: d.Client, Logger: d.Logger}))
	case "bunny":
		return built(bunny.New(bunny.Options{Name: cfg.Name, APIKey: cfg.APIKey, PullZone: cfg.PullZone,
			APIURL: cfg.APIURL, Client: d.Client, Logger: d.Logger}))
	case "fastly":
		return built(fastly.New(fastly.Options{Name: cfg.Name, APIURL: cfg.APIURL, ServiceID: cfg.ServiceID,
			Token: cfg.Token, SoftPurge: cfg.SoftPurge, Client: d.Client, Logger: d.Logger}))
	case "varnish":
		return built(varnish.New(varnish.Options{Name: cfg.Name, Servers: cfg.Servers, XkeyHeader: cfg.XkeyHeader,
			SoftPurge: cfg.SoftPurge, PerCall: map[change.TargetKind]int{
				change.URL: cfg.Limits.FilesPerCall, change.Tag: cfg.Limits.TagsPerCall,
				change.Host: cfg.Limits.HostsPerCall, change.Prefix: cfg.Limits.PrefixesPerCall},
			Client: d.Client, Logger: d.Logger}))
	case "app":
		o := appprovider.Options{Name: cfg.Name, Instances: cfg.Instances, Secret: cfg.Secret,
			PerCall: map[change.TargetKind]int{
				change.URL: cfg.Limits.FilesPerCall, change.Tag: cfg.Limits.TagsPerCall,
				change.Host: cfg.Limits.HostsPerCall, change.Prefix: cfg.Limits.PrefixesPerCall},
			BodyBytes: cfg.Limits.BodyBytes, Client: d.Client, Logger: d.Logger}
		if cfg.Stream {
			o.Stream = appprovider.NoStream
			if d.Hub != nil {
				o.Stream = d.Hub
			}
		}
		return built(appprovider.New(o))
	case "nginx":
		return built(nginx.New(nginx.Options{Name: cfg.Name, Servers: cfg.Servers, Client: d.Client, Logger: d.Logger}))
	case "http":
		if cfg.Request == nil {
			return nil, fmt.Errorf("providers: %s: request is required for kind http", cfg.Name)
		}
		r := cfg.Request
		kinds := make([]change.TargetKind, len(r.Kinds))
		for i, k := range r.Kinds {
			kinds[i] = change.TargetKind(k)
		}
		return built(httpcall.New(httpcall.Options{Name: cfg.Name, Method: r.Method, URL: r.URL, Headers: r.Headers,
			Body: r.Body, Per: r.Per, Kinds: kinds, Client: d.Client, Logger: d.Logger}))
	}
	return nil, fmt.Errorf("providers: kind %q is not built into this purgehook", cfg.Kind)
}

// sourceBuilt is built for sources.
func sourceBuilt[S source.Source](s S, err error) (source.Source, error) {
	if err != nil {
		return nil, err
	}
	return s, nil
}

// built turns an adapter constructor's result into the seam, so that a
// failed constructor yields a nil interface rather than a typed nil.
func built[P purger.Purger](p P, err error) (purger.Purger, error) {
	if err != nil {
		return nil, err
	}
	return p, nil
}
