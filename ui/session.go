package ui

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/purgehook/purgehook/admin"
	"github.com/purgehook/purgehook/config"
)

// cookieName is the session cookie.
const cookieName = "purgehook_session"

// session is a signed-in admin token. The cookie carries the token's name,
// an expiry and a random nonce, signed with a key derived from the token's
// own secret: every replica with the same config accepts it (no session
// store, no sticky load balancing), and rotating or removing the token in
// config ends its sessions. The secret itself never leaves the server.
type session struct {
	Token   string
	Expires time.Time
	nonce   string
	key     []byte
}

// sessionKey derives a token's signing key from its secret.
func sessionKey(t config.Token) []byte {
	m := hmac.New(sha256.New, []byte(t.Secret))
	m.Write([]byte("purgehook ui session v1"))
	return m.Sum(nil)
}

func sign(key []byte, parts ...string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(strings.Join(parts, "|")))
	return hex.EncodeToString(m.Sum(nil))
}

// newSession starts a session for t, valid for ttl.
func newSession(t config.Token, now time.Time, ttl time.Duration) session {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return session{Token: t.Name, Expires: now.Add(ttl), nonce: hex.EncodeToString(b), key: sessionKey(t)}
}

// value is the cookie's value: name.expiry.nonce.signature.
func (s session) value() string {
	name := base64.RawURLEncoding.EncodeToString([]byte(s.Token))
	exp := strconv.FormatInt(s.Expires.Unix(), 10)
	return name + "." + exp + "." + s.nonce + "." + sign(s.key, name, exp, s.nonce)
}

// CSRF is the session's form token: bound to its nonce, so a form from
// one session is refused in another.
func (s session) CSRF() string { return sign(s.key, "csrf", s.nonce) }

// checkCSRF compares a form's token with the session's in constant time.
func (s session) checkCSRF(got string) bool {
	return got != "" && hmac.Equal([]byte(got), []byte(s.CSRF()))
}

// readSession returns the request's session when its cookie is signed by
// a token that still exists, still has the admin scope, and has not
// expired.
func readSession(r *http.Request, tokens admin.Tokens, now time.Time) (session, bool) {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return session{}, false
	}
	parts := strings.Split(c.Value, ".")
	if len(parts) != 4 {
		return session{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return session{}, false
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || !now.Before(time.Unix(exp, 0)) {
		return session{}, false
	}
	for _, t := range tokens {
		if t.Name != string(raw) || t.Secret == "" || !admin.HasScope(t, admin.ScopeAdmin) {
			continue
		}
		key := sessionKey(t)
		if hmac.Equal([]byte(parts[3]), []byte(sign(key, parts[0], parts[1], parts[2]))) {
			return session{Token: t.Name, Expires: time.Unix(exp, 0), nonce: parts[2], key: key}, true
		}
	}
	return session{}, false
}

// setCookie sends the session cookie: HttpOnly (no script reads it),
// SameSite=Strict (no other site's page sends it), Secure under TLS.
func setCookie(w http.ResponseWriter, r *http.Request, value string, expires time.Time) {
	c := &http.Cookie{Name: cookieName, Value: value, Path: "/ui/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil}
	if value == "" {
		c.MaxAge = -1
	} else {
		c.Expires = expires
	}
	http.SetCookie(w, c)
}
