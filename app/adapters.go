package app

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

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
// set of sources and providers is closed, so one table each is enough:
// config learns the kinds from it (Kinds), and the adapters are built from
// it (NewPurger, NewSource).

// providerSettings is what every provider adapter's Config is: the block
// config decodes and validates, and the limits that configuration
// declares.
type providerSettings interface {
	config.Settings
	Limits() change.Limits
}

// providerBuild is what a provider adapter is built from.
type providerBuild struct {
	name     string
	settings providerSettings
	// limits are the effective limits: the adapter's declared limits with
	// the file's overrides, computed once by EffectiveLimits.
	limits  change.Limits
	timeout time.Duration
	deps    ProviderDeps
}

type providerKind struct {
	layer    change.Layer
	settings func() providerSettings
	build    func(b providerBuild) (purger.Purger, error)
}

var providerKinds = map[string]providerKind{
	"log": {change.LayerEdge, func() providerSettings { return new(dryrun.Config) }, func(b providerBuild) (purger.Purger, error) {
		return dryrun.New(dryrun.Options{Name: b.name, Limits: b.limits, Logger: b.deps.Logger}), nil
	}},
	"cloudflare": {change.LayerEdge, func() providerSettings { return new(cloudflare.Config) }, func(b providerBuild) (purger.Purger, error) {
		return built(cloudflare.New(cloudflare.Options{Name: b.name, Config: *b.settings.(*cloudflare.Config), Limits: b.limits,
			Client: b.deps.Client, Logger: b.deps.Logger}))
	}},
	"cloudfront": {change.LayerEdge, func() providerSettings { return new(cloudfront.Config) }, func(b providerBuild) (purger.Purger, error) {
		// The AWS SDK keeps its own HTTP client, which applies
		// AWS_CA_BUNDLE and the AWS proxy settings; only the timeout
		// comes from config.
		return built(cloudfront.New(cloudfront.Options{Name: b.name, Config: *b.settings.(*cloudfront.Config), Limits: b.limits,
			Timeout: b.timeout, Logger: b.deps.Logger}))
	}},
	"akamai": {change.LayerEdge, func() providerSettings { return new(akamai.Config) }, func(b providerBuild) (purger.Purger, error) {
		return built(akamai.New(akamai.Options{Name: b.name, Config: *b.settings.(*akamai.Config), Limits: b.limits,
			Client: b.deps.Client, Logger: b.deps.Logger}))
	}},
	"bunny": {change.LayerEdge, func() providerSettings { return new(bunny.Config) }, func(b providerBuild) (purger.Purger, error) {
		return built(bunny.New(bunny.Options{Name: b.name, Config: *b.settings.(*bunny.Config), Limits: b.limits,
			Client: b.deps.Client, Logger: b.deps.Logger}))
	}},
	"fastly": {change.LayerEdge, func() providerSettings { return new(fastly.Config) }, func(b providerBuild) (purger.Purger, error) {
		return built(fastly.New(fastly.Options{Name: b.name, Config: *b.settings.(*fastly.Config), Limits: b.limits,
			Client: b.deps.Client, Logger: b.deps.Logger}))
	}},
	"varnish": {change.LayerOrigin, func() providerSettings { return new(varnish.Config) }, func(b providerBuild) (purger.Purger, error) {
		return built(varnish.New(varnish.Options{Name: b.name, Config: *b.settings.(*varnish.Config), Limits: b.limits,
			Client: b.deps.Client, Logger: b.deps.Logger}))
	}},
	"nginx": {change.LayerOrigin, func() providerSettings { return new(nginx.Config) }, func(b providerBuild) (purger.Purger, error) {
		return built(nginx.New(nginx.Options{Name: b.name, Config: *b.settings.(*nginx.Config), Limits: b.limits,
			Client: b.deps.Client, Logger: b.deps.Logger}))
	}},
	"app": {change.LayerApp, func() providerSettings { return new(appprovider.Config) }, func(b providerBuild) (purger.Purger, error) {
		o := appprovider.Options{Name: b.name, Config: *b.settings.(*appprovider.Config), Limits: b.limits,
			Client: b.deps.Client, Logger: b.deps.Logger}
		// A nil *stream.Hub in the interface would not be nil.
		if b.deps.Hub != nil {
			o.Publisher = b.deps.Hub
		}
		return built(appprovider.New(o))
	}},
	"http": {change.LayerEdge, func() providerSettings { return new(httpcall.Config) }, func(b providerBuild) (purger.Purger, error) {
		return built(httpcall.New(httpcall.Options{Name: b.name, Config: *b.settings.(*httpcall.Config), Limits: b.limits,
			Client: b.deps.Client, Logger: b.deps.Logger}))
	}},
}

type sourceKind struct {
	auth source.Auth
	// settings is nil for kinds without fields of their own.
	settings func() config.Settings
	build    func(o source.Options, s config.Settings) (source.Source, error)
}

var sourceKinds = map[string]sourceKind{
	"generic": {generic.Auth, nil, func(o source.Options, _ config.Settings) (source.Source, error) {
		return generic.New(o), nil
	}},
	"umbraco": {umbraco.Auth, nil, func(o source.Options, _ config.Settings) (source.Source, error) {
		return sourceBuilt(umbraco.New(o))
	}},
	"sitefinity": {sitefinity.Auth, nil, func(o source.Options, _ config.Settings) (source.Source, error) {
		return sourceBuilt(sitefinity.New(o))
	}},
	"kontent": {kontent.Auth, func() config.Settings { return new(kontent.Config) }, func(o source.Options, s config.Settings) (source.Source, error) {
		return sourceBuilt(kontent.New(o, *s.(*kontent.Config)))
	}},
	"contentful": {contentful.Auth, nil, func(o source.Options, _ config.Settings) (source.Source, error) {
		return sourceBuilt(contentful.New(o))
	}},
	"strapi": {strapi.Auth, nil, func(o source.Options, _ config.Settings) (source.Source, error) {
		return sourceBuilt(strapi.New(o))
	}},
	"sanity": {sanity.Auth, nil, func(o source.Options, _ config.Settings) (source.Source, error) {
		return sourceBuilt(sanity.New(o))
	}},
	"storyblok": {storyblok.Auth, nil, func(o source.Options, _ config.Settings) (source.Source, error) {
		return sourceBuilt(storyblok.New(o))
	}},
	"standard": {standard.Auth, nil, func(o source.Options, _ config.Settings) (source.Source, error) {
		return sourceBuilt(standard.New(o))
	}},
}

// Kinds is the table of provider and source kinds that config decodes the
// file with.
func Kinds() config.Kinds {
	k := config.Kinds{Providers: map[string]config.ProviderKind{}, Sources: map[string]config.SourceKind{}}
	for name, p := range providerKinds {
		k.Providers[name] = config.ProviderKind{Layer: p.layer.String(), Settings: func() config.Settings { return p.settings() }}
	}
	for name, s := range sourceKinds {
		k.Sources[name] = config.SourceKind{Auth: config.Auth(s.auth), Settings: s.settings}
	}
	return k
}

// LoadConfig loads a config file with purgehook's kinds.
func LoadConfig(path string) (*config.Config, error) { return config.Load(path, Kinds()) }

// ParseConfig is LoadConfig for bytes already read.
func ParseConfig(data []byte) (*config.Config, error) { return config.Parse(data, Kinds()) }

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
	return o
}

// NewSource builds the adapter for a configured source.
func NewSource(cfg config.Source) (source.Source, error) {
	k, ok := sourceKinds[cfg.Kind]
	if !ok {
		return nil, fmt.Errorf("sources: kind %q is not built into this purgehook", cfg.Kind)
	}
	s := cfg.Settings
	if s == nil && k.settings != nil {
		// Built without Parse (tests, tools): the kind's defaults.
		s = k.settings()
		if d, ok := s.(interface{ SetDefaults() }); ok {
			d.SetDefaults()
		}
	}
	return k.build(SourceOptions(cfg), s)
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

// NewPurger builds the adapter for a configured provider, handing it the
// effective limits.
func NewPurger(cfg config.Provider, d ProviderDeps) (purger.Purger, error) {
	k, ok := providerKinds[cfg.Kind]
	if !ok {
		return nil, fmt.Errorf("providers: kind %q is not built into this purgehook", cfg.Kind)
	}
	s, ok := cfg.Settings.(providerSettings)
	if !ok {
		return nil, fmt.Errorf("providers: %s: the %s block was not decoded (load the file with app.LoadConfig)", cfg.Name, cfg.Kind)
	}
	return k.build(providerBuild{name: cfg.Name, settings: s, limits: EffectiveLimits(s.Limits(), cfg), timeout: cfg.Timeout, deps: d})
}

// EffectiveLimits applies a provider's overrides from the file to the
// limits its configuration declares. It is the one place overrides are
// applied: the adapter gets the result (cloudflare, varnish and app refuse
// calls above it) and the planner reads it back from the adapter.
func EffectiveLimits(declared change.Limits, pc config.Provider) change.Limits {
	l := declared.Clone()
	set := func(k change.TargetKind, v int) {
		if v > 0 {
			l.PerCall[k] = v
		}
	}
	set(change.URL, pc.Limits.FilesPerCall)
	set(change.Tag, pc.Limits.TagsPerCall)
	set(change.Host, pc.Limits.HostsPerCall)
	set(change.Prefix, pc.Limits.PrefixesPerCall)
	if pc.Limits.BodyBytes > 0 {
		l.BodyBytes = pc.Limits.BodyBytes
	}
	if pc.Limits.RatePerSecond > 0 {
		l.RatePerSecond = pc.Limits.RatePerSecond
	}
	if pc.Limits.Burst > 0 {
		l.Burst = pc.Limits.Burst
	}
	return l
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
