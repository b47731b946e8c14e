package source

// Auth is how a kind of source authenticates its webhooks; each source
// package declares its own (const Auth), and config checks that a
// configured source has the credentials it needs.
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
