package config

// Settings is the block of a provider or source that belongs to its kind:
// the adapter's own Config, decoded strictly from the same YAML mapping as
// the common fields. Validate returns every problem (errors.Join), each
// starting with the field's yaml name ("zone: required for kind
// cloudflare"), which config prefixes with the block's path. A Config with
// defaults also has a SetDefaults() method, which Parse calls.
type Settings interface {
	Validate() error
}

// Kinds tells config which provider and source kinds exist and what each
// kind's own block is. app.Kinds is the table; config only reads it.
type Kinds struct {
	Providers map[string]ProviderKind
	Sources   map[string]SourceKind
}

// ProviderKind describes one provider kind.
type ProviderKind struct {
	// Layer is where a provider of this kind sits unless the file says:
	// app, origin or edge.
	Layer string
	// Settings returns a new, empty value of the kind's own block (a
	// pointer, which the decoder fills); nil means the kind has no fields
	// of its own.
	Settings func() Settings
}

// SourceKind describes one source kind.
type SourceKind struct {
	// Auth is how the kind's webhooks authenticate.
	Auth Auth
	// Settings is as in ProviderKind.
	Settings func() Settings
}

// Auth is how a source kind authenticates its webhooks, and so which of
// secret, token and basic it needs.
type Auth string

const (
	// AuthHMAC kinds sign their webhooks: they need a secret.
	AuthHMAC Auth = "hmac"
	// AuthToken kinds only send configured headers: they need a token or
	// basic credentials.
	AuthToken Auth = "token"
	// AuthAny kinds do either.
	AuthAny Auth = "any"
	// AuthSigned kinds are authenticated by their signature alone: they
	// need a secret, and a token or basic credentials, which they would
	// never check, are a config error.
	AuthSigned Auth = "signed"
)
