// Package generic is the signed webhook contract for CMSs that a project
// customises itself (the Umbraco guide's custom handler, a publishing
// pipeline): a JSON body with the event, the content and the pages that
// depend on it, signed with hex HMAC-SHA256 in X-Webhook-Signature.
//
// Only the body is signed. X-Webhook-Id is not, so it cannot tell a new
// delivery from a captured one re-sent under a fresh id: a delivery is
// identified by the hash of the signed body (a duplicate within the
// source's dedupe_window), and a signed timestamp in the body is held to
// the replay window.
package generic

import (
	"net/http"
	"strings"
	"time"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/source"
)

// Header names of the contract.
const (
	SignatureHeader = "X-Webhook-Signature"
	IDHeader        = "X-Webhook-Id"
)

// Source verifies and parses generic webhooks.
type Source struct {
	opts source.Options
}

var _ source.Source = (*Source)(nil)

// Auth: the generic scheme signs its webhooks and checks nothing else, so
// a token or basic credentials configured on it are a config error.
const Auth = source.AuthSigned

// New returns a generic source; it needs at least one secret.
func New(opts source.Options) *Source { return &Source{opts: opts} }

// Sign returns the X-Webhook-Signature value for body; tests and the
// README's curl example use it.
func Sign(secret string, body []byte) string {
	return source.HexSHA256([]byte(secret), body)
}

// Verify checks the hex HMAC-SHA256 of the raw body against every
// configured secret, accepting an optional "sha256=" prefix.
func (s *Source) Verify(r *http.Request, body []byte) error {
	got := strings.TrimSpace(r.Header.Get(SignatureHeader))
	if got == "" {
		return source.Unauthorized("missing %s header", SignatureHeader)
	}
	got = strings.ToLower(strings.TrimPrefix(got, "sha256="))
	if !source.MatchAny(s.opts.Secrets, got, func(k []byte) string { return source.HexSHA256(k, body) }) {
		return source.Unauthorized("%s does not match the body", SignatureHeader)
	}
	return nil
}

type payload struct {
	Event     *string `json:"event"`
	Timestamp string  `json:"timestamp"`
	Content   *struct {
		ID          string   `json:"id"`
		ContentType string   `json:"contentType"`
		Cultures    []string `json:"cultures"`
		URLs        []string `json:"urls"`
		Tags        []string `json:"tags"`
		Site        string   `json:"site"`
		Slug        string   `json:"slug"`
	} `json:"content"`
	Dependencies []string `json:"dependencies"`
}

// Parse reads the body. event and content.id are required; urls,
// dependencies, cultures and tags are optional. A timestamp, when present,
// must be RFC 3339 (else 400) and inside the replay window (else 401).
func (s *Source) Parse(body []byte, _ http.Header) ([]change.Change, error) {
	var p payload
	if err := source.DecodeJSON(body, &p); err != nil {
		return nil, err
	}
	switch {
	case p.Event == nil || *p.Event == "":
		return nil, source.Malformed("missing field event")
	case p.Content == nil:
		return nil, source.Malformed("missing field content")
	case p.Content.ID == "":
		return nil, source.Malformed("missing field content.id")
	}
	if p.Timestamp != "" {
		ts, err := time.Parse(time.RFC3339, p.Timestamp)
		if err != nil {
			return nil, source.Malformed("timestamp is not RFC 3339")
		}
		// The body is signed, so the timestamp is: an old one is a replay.
		if err := source.CheckTimestamp(ts, s.opts.Clock(), s.opts.Tolerance); err != nil {
			return nil, err
		}
	}
	for i, u := range append(append([]string{}, p.Content.URLs...), p.Dependencies...) {
		if u == "" {
			return nil, source.Malformed("empty URL at position %d", i)
		}
	}
	return []change.Change{{
		Source:       s.opts.Name,
		Event:        *p.Event,
		Kind:         Kind(*p.Event),
		ContentID:    p.Content.ID,
		ContentType:  p.Content.ContentType,
		Cultures:     p.Content.Cultures,
		Site:         p.Content.Site,
		Slug:         p.Content.Slug,
		URLs:         p.Content.URLs,
		Dependencies: p.Dependencies,
		Tags:         p.Content.Tags,
	}}, nil
}

// Kind maps the contract's events; any other event string is still a
// change (an update).
func Kind(event string) change.Kind {
	switch event {
	case "ContentPublished":
		return change.Publish
	case "ContentUnpublished":
		return change.Unpublish
	case "ContentDeleted":
		return change.Delete
	case "MediaSaved", "MediaDeleted":
		return change.Media
	}
	return change.Update
}
