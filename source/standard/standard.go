// Package standard accepts Standard Webhooks (standardwebhooks.com): a
// webhook-id, a webhook-timestamp in Unix seconds and a webhook-signature
// list of "v1,<base64 HMAC-SHA256 of id.timestamp.body>" entries, verified
// by the spec's own Go library. The body is the spec's recommended envelope
// (type, timestamp, data); data carries the content in purgehook's terms.
package standard

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/source"
)

// Header names of the spec.
const (
	IDHeader        = standardwebhooks.HeaderWebhookID
	TimestampHeader = standardwebhooks.HeaderWebhookTimestamp
	SignatureHeader = standardwebhooks.HeaderWebhookSignature
)

// Source verifies and parses Standard Webhooks.
type Source struct {
	opts  source.Options
	hooks []*standardwebhooks.Webhook
}

var (
	_ source.Source       = (*Source)(nil)
	_ source.DeliveryIDer = (*Source)(nil)
)

// Auth: Standard Webhooks are signed.
const Auth = source.AuthHMAC

// New returns a Standard Webhooks source. Each secret is the spec's
// presentation: "whsec_" and base64 of the key (the prefix is optional).
// Several secrets are tried in turn during rotation.
func New(opts source.Options) (*Source, error) {
	s := &Source{opts: opts}
	for i, secret := range opts.Secrets {
		if strings.TrimPrefix(secret, "whsec_") == "" {
			return nil, fmt.Errorf("standard %s: secret %d is empty", opts.Name, i+1)
		}
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			// The library's error quotes nothing of the secret, but say
			// only which one is wrong to be sure.
			return nil, fmt.Errorf("standard %s: secret %d is not whsec_ followed by base64", opts.Name, i+1)
		}
		s.hooks = append(s.hooks, wh)
	}
	return s, nil
}

// Verify checks the three headers with the spec's library. The library's
// own 5-minute window reads the wall clock, so the window is checked here
// with the source's clock and configured tolerance, and the library is
// asked for the signature only.
func (s *Source) Verify(r *http.Request, body []byte) error {
	return source.Authenticate(s.opts, r, func() error {
		for _, h := range []string{IDHeader, TimestampHeader, SignatureHeader} {
			if r.Header.Get(h) == "" {
				return source.Unauthorized("missing %s header", h)
			}
		}
		sec, err := strconv.ParseInt(r.Header.Get(TimestampHeader), 10, 64)
		if err != nil {
			return source.Unauthorized("%s is not Unix seconds", TimestampHeader)
		}
		if err := source.CheckTimestamp(time.Unix(sec, 0), s.opts.Clock(), s.opts.Tolerance); err != nil {
			return err
		}
		for _, wh := range s.hooks {
			if wh.VerifyIgnoringTimestamp(body, r.Header) == nil {
				return nil
			}
		}
		return source.Unauthorized("no %s entry matches", SignatureHeader)
	})
}

// DeliveryID is webhook-id: it stays the same across retries.
func (s *Source) DeliveryID(hdr http.Header, _ []byte) string {
	return strings.TrimSpace(hdr.Get(IDHeader))
}

// Sign returns the webhook-signature value for a delivery; tests and the
// docs' curl example use it.
func Sign(secret, id string, ts time.Time, body []byte) (string, error) {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return "", err
	}
	return wh.Sign(id, ts, body)
}

// content is data in purgehook's terms. Every field is optional; snake_case
// and camelCase spellings are both read.
type content struct {
	ID           source.Scalar `json:"id"`
	Codename     string        `json:"codename"`
	ContentType  string        `json:"content_type"`
	ContentType2 string        `json:"contentType"`
	Type         string        `json:"type"`
	Culture      string        `json:"culture"`
	Locale       string        `json:"locale"`
	Language     string        `json:"language"`
	Cultures     []string      `json:"cultures"`
	Site         string        `json:"site"`
	Slug         string        `json:"slug"`
	URL          string        `json:"url"`
	URLs         []string      `json:"urls"`
	Dependencies []string      `json:"dependencies"`
	Tags         []string      `json:"tags"`
}

type payload struct {
	Type      string   `json:"type"`
	Timestamp string   `json:"timestamp"`
	Data      *content `json:"data"`
}

// Parse reads the envelope: type (required, e.g. "content.published") and
// data. The kind comes from the type's last dot-separated word.
func (s *Source) Parse(body []byte, _ http.Header) ([]change.Change, error) {
	var p payload
	if err := source.DecodeJSON(body, &p); err != nil {
		return nil, err
	}
	if strings.TrimSpace(p.Type) == "" {
		return nil, source.Malformed("missing field type")
	}
	c := change.Change{Source: s.opts.Name, Event: p.Type, Kind: Kind(p.Type)}
	if d := p.Data; d != nil {
		if slices.Contains(d.URLs, "") || slices.Contains(d.Dependencies, "") {
			return nil, source.Malformed("empty URL in data.urls or data.dependencies")
		}
		c.ContentID = string(d.ID)
		c.Codename = d.Codename
		c.ContentType = first(d.ContentType, d.ContentType2, d.Type)
		c.Cultures = source.Distinct(append([]string{d.Culture, d.Locale, d.Language}, d.Cultures...)...)
		c.Site = d.Site
		c.Slug = d.Slug
		c.URLs = source.Distinct(append([]string{d.URL}, d.URLs...)...)
		c.Dependencies = source.Distinct(d.Dependencies...)
		c.Tags = source.Distinct(d.Tags...)
	}
	return []change.Change{c}, nil
}

func first(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

// Kind maps a dot-delimited event type: media.* and asset.* are media
// changes; otherwise the last word decides (content.published,
// page.deleted, …) and anything else is an update.
func Kind(eventType string) change.Kind {
	lower := strings.ToLower(eventType)
	if strings.HasPrefix(lower, "media.") || strings.HasPrefix(lower, "asset.") {
		return change.Media
	}
	switch lower[strings.LastIndexByte(lower, '.')+1:] {
	case "published", "publish":
		return change.Publish
	case "unpublished", "unpublish", "archived", "archive":
		return change.Unpublish
	case "deleted", "delete", "removed", "remove":
		return change.Delete
	case "deployed", "deploy":
		return change.Deploy
	}
	return change.Update
}
