// Package strapi accepts Strapi (v4 and v5) webhooks: a JSON body with
// event, createdAt, model, uid (v5) and the entry (or media) concerned, and
// the event again in X-Strapi-Event. Strapi does not sign; its docs
// recommend a shared token in a default header (Authorization: Bearer …),
// which the source checks in constant time.
package strapi

import (
	"errors"
	"net/http"
	"strings"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/source"
)

// EventHeader repeats the body's event.
const EventHeader = "X-Strapi-Event"

// Source verifies and parses Strapi webhooks.
type Source struct {
	opts source.Options
}

var _ source.Source = (*Source)(nil)

// Auth: Strapi does not sign; it sends configured headers.
const Auth = source.AuthToken

// New returns a Strapi source. It needs a token or Basic credentials;
// Strapi cannot sign, so a configured secret is a mistake.
func New(opts source.Options) (*Source, error) {
	if opts.HasSecret() {
		return nil, errors.New("strapi: Strapi does not sign webhooks; configure token (sent in a default header) or basic instead of secret")
	}
	return &Source{opts: opts}, nil
}

// Verify checks the configured token or Basic credentials.
func (s *Source) Verify(r *http.Request, _ []byte) error {
	return source.Authenticate(s.opts, r, nil)
}

// entry is the sanitized entry. Attributes are the user's own, so the
// optional ones are read loosely.
type entry struct {
	ID          source.Scalar `json:"id"`
	DocumentID  source.Loose  `json:"documentId"`
	Locale      source.Loose  `json:"locale"`
	Slug        source.Loose  `json:"slug"`
	PublishedAt source.Loose  `json:"publishedAt"`
	URL         source.Loose  `json:"url"` // media
	Name        source.Loose  `json:"name"`
}

type payload struct {
	Event     string `json:"event"`
	CreatedAt string `json:"createdAt"`
	Model     string `json:"model"`
	UID       string `json:"uid"`
	Entry     *entry `json:"entry"`
	Media     *entry `json:"media"`
}

// kinds maps Strapi's events. Events that change no published page (a
// discarded draft, a review-workflow stage, the admin's test button) are
// absent and give no change; unknown events are kept as other.
var kinds = map[string]change.Kind{
	"entry.create":                      change.Update,
	"entry.update":                      change.Update,
	"entry.delete":                      change.Delete,
	"entry.publish":                     change.Publish,
	"entry.unpublish":                   change.Unpublish,
	"media.create":                      change.Media,
	"media.update":                      change.Media,
	"media.delete":                      change.Media,
	"releases.publish":                  change.Deploy,
	"entry.draft-discard":               "",
	"review-workflows.updateEntryStage": "",
	"trigger-test":                      "",
}

// Parse reads the event (the body's, else the header's) and the entry:
// documentId (v5) or id, model as content type, locale and slug.
func (s *Source) Parse(body []byte, hdr http.Header) ([]change.Change, error) {
	var p payload
	if err := source.DecodeJSON(body, &p); err != nil {
		return nil, err
	}
	event := strings.TrimSpace(p.Event)
	if event == "" {
		event = strings.TrimSpace(hdr.Get(EventHeader))
	}
	if event == "" {
		return nil, source.Malformed("missing field event")
	}
	kind, known := kinds[event]
	if known && kind == "" {
		return nil, nil
	}
	if !known {
		kind = change.Other
	}
	e := p.Entry
	if strings.HasPrefix(event, "media.") {
		e = p.Media
		if e == nil {
			return nil, source.Malformed("missing field media")
		}
	} else if strings.HasPrefix(event, "entry.") && e == nil {
		return nil, source.Malformed("missing field entry")
	}
	c := change.Change{Source: s.opts.Name, Event: event, Kind: kind, ContentType: p.Model}
	f := map[string]string{"uid": p.UID}
	if e != nil {
		c.ContentID = string(e.DocumentID)
		if c.ContentID == "" {
			c.ContentID = string(e.ID)
		}
		c.Cultures = source.Distinct(string(e.Locale))
		c.Slug = string(e.Slug)
		f["id"], f["document_id"] = string(e.ID), string(e.DocumentID)
		if p.Media != nil {
			// The file's URL is Strapi's (or its upload provider's), not
			// a page of the site: a field for rules, not a URL to purge.
			f["url"], f["name"] = string(e.URL), string(e.Name)
		}
	}
	c.Fields = source.Compact(f)
	return []change.Change{c}, nil
}
