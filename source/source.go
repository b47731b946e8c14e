// Package source is the seam every CMS adapter sits behind. A Source checks
// that a webhook is authentic and turns its body into Changes; the ingest
// handler does the rest. This package also holds what adapters share: the
// typed rejection errors that become 401 / 400, constant-time secret checks,
// HMAC helpers and the replay window.
package source

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"strings"
	"time"

	"github.com/purgehook/purgehook/change"
)

// Source verifies and parses one CMS's webhooks.
type Source interface {
	// Verify checks authenticity (signature, token, timestamp window). It
	// returns an *Error of status 401 on failure.
	Verify(r *http.Request, body []byte) error
	// Parse turns a verified body into changes. It returns an *Error of
	// status 400 when the body is malformed or lacks required fields.
	Parse(body []byte, hdr http.Header) ([]change.Change, error)
}

// DeliveryIDer is implemented by sources whose CMS sends a delivery id
// (webhook-id, X-Contentful-Idempotency-Key, …). Without one, or when it
// returns "", the ingest handler uses the SHA-256 of the body.
type DeliveryIDer interface {
	DeliveryID(hdr http.Header, body []byte) string
}

// Options are the settings every source kind shares, already resolved from
// config (secrets read from env or files).
type Options struct {
	// Name is the source's configured name, the {source} in /hooks/{source}.
	Name string
	// Secrets are HMAC keys; several during rotation, any one may match.
	Secrets []string
	// Token is the expected value of AuthHeader (default Authorization,
	// where "Bearer <token>" and the bare token are both accepted).
	Token      string
	AuthHeader string
	// BasicUser and BasicPassword, when set, are checked against Basic auth.
	BasicUser     string
	BasicPassword string
	// Tolerance is the replay window for schemes that sign a timestamp; 0
	// disables the check.
	Tolerance time.Duration
	// Now is the clock (tests set it); nil means time.Now.
	Now func() time.Time
}

// Clock returns o.Now or time.Now.
func (o Options) Clock() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// DefaultTolerance is the default replay window.
const DefaultTolerance = 5 * time.Minute

// Error is a rejection. Public is what the client is told; Detail is what
// the server log and the delivery trace say (which check failed). Neither
// may contain a secret.
type Error struct {
	Status int
	Public string
	Detail string
}

func (e *Error) Error() string {
	if e.Detail != "" {
		return e.Public + ": " + e.Detail
	}
	return e.Public
}

// Unauthorized is a 401: the client learns only that authentication failed.
func Unauthorized(format string, args ...any) error {
	return &Error{Status: http.StatusUnauthorized, Public: "authentication failed", Detail: fmt.Sprintf(format, args...)}
}

// Malformed is a 400 whose one-line reason the client sees.
func Malformed(format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	return &Error{Status: http.StatusBadRequest, Public: "malformed payload: " + msg}
}

// StatusOf returns the HTTP status for a Verify or Parse error: the
// *Error's status, else 400.
func StatusOf(err error) int {
	var se *Error
	if errors.As(err, &se) {
		return se.Status
	}
	return http.StatusBadRequest
}

// Equal compares two secrets in constant time.
func Equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// MAC returns HMAC(key, parts...) with the given hash.
func MAC(h func() hash.Hash, key []byte, parts ...[]byte) []byte {
	m := hmac.New(h, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// HexSHA256 is hex(HMAC-SHA256(key, msg)).
func HexSHA256(key, msg []byte) string { return hex.EncodeToString(MAC(sha256.New, key, msg)) }

// Base64SHA256 is base64(HMAC-SHA256(key, msg)).
func Base64SHA256(key, msg []byte) string {
	return base64.StdEncoding.EncodeToString(MAC(sha256.New, key, msg))
}

// HexSHA1 is hex(HMAC-SHA1(key, msg)).
func HexSHA1(key, msg []byte) string { return hex.EncodeToString(MAC(sha1.New, key, msg)) }

// MatchAny reports whether got equals sign(secret) for any configured
// secret, comparing in constant time. An empty got never matches.
func MatchAny(secrets []string, got string, sign func(secret []byte) string) bool {
	if got == "" {
		return false
	}
	ok := false
	for _, s := range secrets {
		if s == "" {
			continue
		}
		if hmac.Equal([]byte(sign([]byte(s))), []byte(got)) {
			ok = true
		}
	}
	return ok
}

// CheckToken verifies the configured token in o.AuthHeader (default
// Authorization, "Bearer " prefix optional) and, when configured, Basic
// credentials. It returns nil when the source has neither configured; kinds
// that must be authenticated reject such a config at start instead.
func CheckToken(o Options, r *http.Request) error {
	if o.Token != "" {
		name := o.AuthHeader
		if name == "" {
			name = "Authorization"
		}
		got := strings.TrimSpace(r.Header.Get(name))
		if got == "" {
			return Unauthorized("missing %s header", name)
		}
		if len(got) > 7 && strings.EqualFold(got[:7], "bearer ") {
			got = strings.TrimSpace(got[7:])
		}
		if !Equal(got, o.Token) {
			return Unauthorized("wrong token in %s header", name)
		}
	}
	if o.BasicUser != "" || o.BasicPassword != "" {
		u, p, ok := r.BasicAuth()
		if !ok {
			return Unauthorized("missing basic credentials")
		}
		// Both compared, always, so that timing says nothing about which
		// half was wrong.
		uok, pok := Equal(u, o.BasicUser), Equal(p, o.BasicPassword)
		if !uok || !pok {
			return Unauthorized("wrong basic credentials")
		}
	}
	return nil
}

// CheckTimestamp enforces the replay window around now: a timestamp older
// or newer than tolerance is rejected. A zero tolerance disables the check.
func CheckTimestamp(ts, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		return nil
	}
	if d := now.Sub(ts); d > tolerance {
		return Unauthorized("timestamp too old (%s)", d.Round(time.Second))
	} else if -d > tolerance {
		return Unauthorized("timestamp too new (%s ahead)", (-d).Round(time.Second))
	}
	return nil
}

// BodyHash is the delivery id used when a CMS sends none: the hex SHA-256
// of the body, so that an identical redelivery is recognised.
func BodyHash(body []byte) string {
	h := sha256.Sum256(body)
	return hex.EncodeToString(h[:])
}
