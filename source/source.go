// Package source is the seam every CMS adapter sits behind. A Source checks
// that a webhook is authentic and turns its body into Changes; the ingest
// handler does the rest. This package also holds what adapters share: the
// typed rejection errors that become 401 / 400, constant-time secret checks,
// HMAC helpers and the replay window.
package source

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

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

// MaxDeliveryID is the longest delivery id a CMS may send (UUIDs, ULIDs and
// the ids of every supported CMS are far shorter); a longer one is a 400,
// never journaled.
const MaxDeliveryID = 200

// BodyHash is the delivery id used when a CMS sends none: the hex SHA-256
// of the body, so that an identical redelivery is recognised.
func BodyHash(body []byte) string {
	h := sha256.Sum256(body)
	return hex.EncodeToString(h[:])
}

// HasSecret reports whether at least one non-empty secret is configured.
func (o Options) HasSecret() bool {
	for _, s := range o.Secrets {
		if s != "" {
			return true
		}
	}
	return false
}

// HasToken reports whether a token or Basic credentials are configured.
func (o Options) HasToken() bool {
	return o.Token != "" || o.BasicUser != "" || o.BasicPassword != ""
}

// Authenticate runs every check a source has configured: signed (the
// kind's signature check) when it has secrets, CheckToken when it has a
// token or Basic credentials. Both must pass when both are configured. A
// source with neither rejects every request, so that a config mistake fails
// closed; kinds that cannot sign pass signed == nil.
func Authenticate(o Options, r *http.Request, signed func() error) error {
	checked := false
	if signed != nil && o.HasSecret() {
		if err := signed(); err != nil {
			return err
		}
		checked = true
	}
	if o.HasToken() {
		if err := CheckToken(o, r); err != nil {
			return err
		}
		checked = true
	}
	if !checked {
		return Unauthorized("no credentials configured for this source")
	}
	return nil
}

// Limits on the shape of a webhook body. Bodies are at most 1 MiB (the
// ingest handler enforces that), but a small body can still nest deeply or
// hold a huge array of tiny values; parsers reject both before decoding.
const (
	MaxDepth      = 64
	MaxArrayItems = 10000
)

// CheckShape rejects JSON nested deeper than MaxDepth or with more than
// MaxArrayItems items in one array. It does not validate the JSON (the
// decoder does); it only bounds what decoding would allocate, in one pass
// without allocating itself.
func CheckShape(body []byte) error {
	var isArray [MaxDepth]bool
	var commas [MaxDepth]int
	depth := 0
	inString, escaped := false, false
	for _, c := range body {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			if depth == MaxDepth {
				return Malformed("JSON nested deeper than %d levels", MaxDepth)
			}
			isArray[depth], commas[depth] = c == '[', 0
			depth++
		case '}', ']':
			if depth > 0 {
				depth--
			}
		case ',':
			if depth > 0 && isArray[depth-1] {
				commas[depth-1]++
				// n commas separate n+1 items.
				if commas[depth-1] >= MaxArrayItems {
					return Malformed("JSON array with more than %d items", MaxArrayItems)
				}
			}
		}
	}
	return nil
}

// DecodeJSON checks the body's shape, then decodes exactly one JSON object
// into v. Every failure is Malformed with a one-line reason.
func DecodeJSON(body []byte, v any) error {
	if err := CheckShape(body); err != nil {
		return err
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return Malformed("empty body")
	}
	if trimmed[0] != '{' {
		return Malformed("want a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if err := dec.Decode(v); err != nil {
		return Malformed("invalid JSON: %s", oneLine(err.Error()))
	}
	if _, err := dec.Token(); err != io.EOF {
		return Malformed("trailing data after the JSON object")
	}
	return nil
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// RequireJSON is the one Content-Type rule, which ingest applies to every
// source kind: every supported CMS sends JSON, as application/json (with
// or without a charset, which must then be UTF-8) or an application/*+json
// type (Contentful's application/vnd.contentful.management.v1+json). Any
// other type is a 415. A missing header is accepted: a hand-written sender
// may omit it, and the body must still be a JSON object to be parsed.
func RequireJSON(hdr http.Header) error {
	ct := hdr.Get("Content-Type")
	if ct == "" {
		return nil
	}
	unsupported := func(format string, args ...any) error {
		return &Error{Status: http.StatusUnsupportedMediaType, Public: oneLine(fmt.Sprintf(format, args...))}
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return unsupported("unreadable Content-Type, want application/json")
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return unsupported("Content-Type charset %s, want utf-8", cs)
	}
	if mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")) {
		return nil
	}
	return unsupported("Content-Type %s, want application/json", mt)
}

// CheckURLs rejects (400) a change whose URLs or dependencies are not
// clean text. JSON decoding turns invalid UTF-8 (and an unpaired \u
// surrogate) into U+FFFD, so a URL that held it would silently become
// another URL, and that one would be purged; a control character (CR, LF,
// NUL, …) has no place in a URL and could split a purge request's header.
// The ingest handler runs it on what every kind's Parse returns.
func CheckURLs(changes []change.Change) error {
	for _, c := range changes {
		for _, list := range [][]string{c.URLs, c.Dependencies} {
			for _, u := range list {
				if err := checkURL(u); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func checkURL(u string) error {
	for _, r := range u {
		switch {
		case r == utf8.RuneError:
			return Malformed("a URL is not valid UTF-8")
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			return Malformed("a URL holds a control character")
		}
	}
	return nil
}

// Scalar is a JSON string, number or boolean read as text: CMSs send ids
// as strings in one version and numbers in the next. null reads as "".
type Scalar string

// UnmarshalJSON implements json.Unmarshaler.
func (s *Scalar) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) == 0:
		return errors.New("empty value")
	case string(b) == "null":
		*s = ""
	case b[0] == '"':
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
		*s = Scalar(str)
	case b[0] == '-' || (b[0] >= '0' && b[0] <= '9') || string(b) == "true" || string(b) == "false":
		*s = Scalar(b)
	default:
		return errors.New("want a string or a number")
	}
	return nil
}

// Distinct returns the non-empty values in their first order, without
// repeats; nil when there are none.
func Distinct(values ...string) []string {
	var out []string
	for _, v := range values {
		if v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// Compact drops the empty values from a change's fields, in place, and
// returns fields; nil when none is left, so that a change without fields
// carries none.
func Compact(fields map[string]string) map[string]string {
	maps.DeleteFunc(fields, func(_, v string) bool { return v == "" })
	if len(fields) == 0 {
		return nil
	}
	return fields
}

// ParseMillis reads a Unix timestamp in milliseconds (Contentful, Sanity,
// Sitefinity sign those).
func ParseMillis(s string) (time.Time, error) {
	ms, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || ms <= 0 {
		return time.Time{}, fmt.Errorf("not a Unix time in milliseconds: %q", oneLine(s))
	}
	return time.UnixMilli(ms), nil
}

// Loose is an optional value from a payload the user shapes (a Sanity
// projection, a Strapi entry, Contentful fields): a string, number or
// boolean reads as text, anything else (an object, an array, null) as "".
// A field of an unexpected type must not fail a delivery the CMS would
// never retry.
type Loose string

// UnmarshalJSON implements json.Unmarshaler.
func (l *Loose) UnmarshalJSON(b []byte) error {
	var s Scalar
	if s.UnmarshalJSON(b) != nil {
		*l = ""
		return nil
	}
	*l = Loose(s)
	return nil
}
