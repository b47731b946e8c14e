// Package httpinvalidate brings purgehook's invalidations to depcache
// caches in an application, in one of two ways:
//
//   - Handler, an http.Handler for purgehook's `app` provider, which POSTs
//     every purge call to every configured instance, signed with a shared
//     secret;
//   - Client, for instances that cannot accept inbound calls, which follows
//     purgehook's /v1/stream (server-sent events) with a read-scoped token,
//     reconnecting with backoff and resuming from the last event id.
//
// Both decode the same message,
//
//	{"id": "<call key>", "kind": "url|tag|prefix|host|everything", "items": [...]}
//
// drop duplicates by id (purgehook retries a call when any instance failed)
// and invalidate every cache: url and tag items are dependency names as
// they are, prefix items drop every dependency that starts with one, host
// items every dependency that is a URL on that host, and everything drops
// all.
//
// The request signature is X-Purgehook-Timestamp: <unix seconds> and
// X-Purgehook-Signature: v1=<hex HMAC-SHA256(secret, timestamp + "." +
// body)>, checked in constant time against every configured secret, within
// a five-minute window.
package httpinvalidate

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strconv"
	"strings"
	"sync"
)

// Wire format.
const (
	TimestampHeader = "X-Purgehook-Timestamp"
	SignatureHeader = "X-Purgehook-Signature"
	// SignatureVersion prefixes each signature in SignatureHeader.
	SignatureVersion = "v1"
)

// The kinds of Message.Kind.
const (
	KindURL        = "url"
	KindTag        = "tag"
	KindPrefix     = "prefix"
	KindHost       = "host"
	KindEverything = "everything"
)

// Message is one invalidation: purgehook's purge call.
type Message struct {
	// ID is the call's idempotency key; a retried call repeats it.
	ID    string   `json:"id"`
	Kind  string   `json:"kind"`
	Items []string `json:"items"`
}

// Invalidator is a cache the messages are applied to; every
// *depcache.Cache is one.
type Invalidator interface {
	Invalidate(deps ...string) int
	InvalidateMatching(match func(dep string) bool) int
	InvalidateAll() int
}

// Sign returns the SignatureHeader value for body sent at unix time ts.
func Sign(secret string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strconv.FormatInt(ts, 10)))
	m.Write([]byte("."))
	m.Write(body)
	return SignatureVersion + "=" + hex.EncodeToString(m.Sum(nil))
}

// validKind reports whether k is one of the five kinds.
func validKind(k string) bool {
	switch k {
	case KindURL, KindTag, KindPrefix, KindHost, KindEverything:
		return true
	}
	return false
}

// Apply invalidates m on every cache and returns the number of entries
// dropped. An unknown kind invalidates everything: a message that cannot be
// understood must not leave stale content behind.
func Apply(m Message, caches ...Invalidator) int {
	n := 0
	for _, c := range caches {
		switch m.Kind {
		case KindURL, KindTag:
			n += c.Invalidate(m.Items...)
		case KindPrefix:
			n += c.InvalidateMatching(func(dep string) bool {
				for _, p := range m.Items {
					if p != "" && strings.HasPrefix(dep, p) {
						return true
					}
				}
				return false
			})
		case KindHost:
			n += c.InvalidateMatching(func(dep string) bool { return onHost(dep, m.Items) })
		default:
			n += c.InvalidateAll()
		}
	}
	return n
}

// onHost reports whether dep is an absolute http(s) URL on one of hosts.
func onHost(dep string, hosts []string) bool {
	if !strings.HasPrefix(dep, "http://") && !strings.HasPrefix(dep, "https://") {
		return false
	}
	u, err := url.Parse(dep)
	if err != nil {
		return false
	}
	for _, h := range hosts {
		if strings.EqualFold(u.Host, h) || strings.EqualFold(u.Hostname(), h) {
			return true
		}
	}
	return false
}

// DefaultDedupe is how many message ids are remembered by default.
const DefaultDedupe = 10_000

// seen remembers the last n message ids, first in first out.
type seen struct {
	mu   sync.Mutex
	ids  map[string]struct{}
	ring []string
	next int
}

func newSeen(n int) *seen {
	if n <= 0 {
		n = DefaultDedupe
	}
	return &seen{ids: make(map[string]struct{}, n), ring: make([]string, n)}
}

func (s *seen) has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.ids[id]
	return ok
}

func (s *seen) add(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.ids[id]; ok {
		return
	}
	if old := s.ring[s.next]; old != "" {
		delete(s.ids, old)
	}
	s.ring[s.next] = id
	s.ids[id] = struct{}{}
	s.next = (s.next + 1) % len(s.ring)
}

// redactURL drops credentials from a URL for logs and errors.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "[invalid URL]"
	}
	u.User = nil
	return u.String()
}
