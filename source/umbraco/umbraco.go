// Package umbraco accepts Umbraco 13+ built-in webhooks. Umbraco names the
// event in the Umb-Webhook-Event header and sends the item in the body:
// the Content Delivery API model on publish (PascalCase in 13, camelCase
// from 14), only the id on unpublish and delete. Umbraco does not sign its
// webhooks, so the source checks a configured header token (or Basic
// credentials) in constant time; allow_ips narrows it further.
package umbraco

import (
	"errors"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/source"
)

// Header names Umbraco sends.
const (
	EventHeader = "Umb-Webhook-Event"
	RetryHeader = "Umb-Webhook-RetryCount"
)

// Source verifies and parses Umbraco webhooks.
type Source struct {
	opts source.Options
}

var _ source.Source = (*Source)(nil)

// Auth: Umbraco does not sign; it sends configured headers.
const Auth = source.AuthToken

// New returns an Umbraco source. It needs a token or Basic credentials;
// Umbraco cannot sign, so a configured secret is a mistake.
func New(opts source.Options) (*Source, error) {
	if opts.HasSecret() {
		return nil, errNoSigning
	}
	return &Source{opts: opts}, nil
}

var errNoSigning = errors.New("umbraco: Umbraco does not sign webhooks; configure token (sent as a custom header) or basic instead of secret")

// Verify checks the configured token or Basic credentials. Umbraco sends
// neither a signature nor a timestamp, so there is no replay window; a
// replayed body is caught by the body-hash dedupe.
func (s *Source) Verify(r *http.Request, _ []byte) error {
	return source.Authenticate(s.opts, r, nil)
}

// route is the Delivery API route of an item.
type route struct {
	Path      string `json:"path"`
	StartItem *struct {
		ID   source.Scalar `json:"id"`
		Path string        `json:"path"`
	} `json:"startItem"`
}

// payload covers the legacy (Delivery API), minimal and extended payloads.
// encoding/json matches keys case-insensitively, which is what lets one
// struct read both v13's PascalCase and v14's camelCase.
type payload struct {
	ID          source.Scalar     `json:"id"`
	Name        string            `json:"name"`
	ContentType string            `json:"contentType"`
	MediaType   string            `json:"mediaType"`
	Alias       source.Loose      `json:"alias"` // document and media type events
	URL         string            `json:"url"`
	Route       *route            `json:"route"`
	Cultures    map[string]*route `json:"cultures"`
}

// kinds maps Umbraco's event aliases. The five default events come first;
// the rest are optional events an editor may enable. Events that change
// nothing visitors see (a saved draft, a copy, a blueprint) are absent and
// produce no change.
var kinds = map[string]change.Kind{
	"Umbraco.ContentPublish":   change.Publish,
	"Umbraco.ContentPublished": change.Publish, // the v17 docs' spelling
	"Umbraco.ContentUnpublish": change.Unpublish,
	"Umbraco.ContentDelete":    change.Delete,
	"Umbraco.MediaSave":        change.Media,
	"Umbraco.MediaDelete":      change.Media,

	"Umbraco.ContentMoved":             change.Update,
	"Umbraco.ContentMovedToRecycleBin": change.Unpublish,
	"Umbraco.ContentSorted":            change.Update,
	"Umbraco.ContentRolledBack":        change.Update,
	"mediaMoved":                       change.Media,
	"mediaMovedToRecycleBin":           change.Media,
	"documentTypeSaved":                change.TypeChanged,
	"documentTypeDeleted":              change.TypeChanged,
	"mediaTypeSaved":                   change.TypeChanged,
	"mediaTypeDeleted":                 change.TypeChanged,
	"domainSaved":                      change.Deploy,
	"domainDeleted":                    change.Deploy,
	"languageSaved":                    change.Deploy,
	"languageDeleted":                  change.Deploy,
}

// ignored events change no published page.
var ignored = []string{
	"Umbraco.ContentSaved",
	"Umbraco.ContentCopied",
	"Umbraco.ContentEmptiedRecycleBin", // its items were unpublished when trashed
	"Umbraco.ContentDeletedVersions",
	"Umbraco.ContentDeletedBlueprint",
	"Umbraco.ContentSavedBlueprint",
}

// needsID are the events whose payload must carry the item's id.
var needsID = []string{
	"Umbraco.ContentPublish", "Umbraco.ContentPublished", "Umbraco.ContentUnpublish",
	"Umbraco.ContentDelete", "Umbraco.MediaSave", "Umbraco.MediaDelete",
}

// Parse reads the event from Umb-Webhook-Event and the item from the body.
// The route path becomes the change's URL and its last segment the slug; a
// payload with per-culture routes (variant items, the extended payload)
// gives one change per culture.
func (s *Source) Parse(body []byte, hdr http.Header) ([]change.Change, error) {
	event := strings.TrimSpace(hdr.Get(EventHeader))
	if event == "" {
		return nil, source.Malformed("missing %s header", EventHeader)
	}
	var p payload
	if err := source.DecodeJSON(body, &p); err != nil {
		return nil, err
	}
	if slices.Contains(ignored, event) {
		return nil, nil
	}
	if p.ID == "" && slices.Contains(needsID, event) {
		return nil, source.Malformed("missing field id")
	}
	kind, ok := kinds[event]
	if !ok {
		kind = change.Other
	}

	base := change.Change{
		Source:      s.opts.Name,
		Event:       event,
		Kind:        kind,
		ContentID:   string(p.ID),
		ContentType: p.ContentType,
	}
	if base.ContentType == "" {
		base.ContentType = p.MediaType
	}
	if kind == change.TypeChanged && p.Alias != "" {
		base.ContentType = string(p.Alias)
	}
	fields := map[string]string{"name": p.Name, "retry_count": strings.TrimSpace(hdr.Get(RetryHeader))}
	var routePath string
	if p.Route != nil {
		routePath = p.Route.Path
		startItem(fields, p.Route)
	}

	// A variant item carries one route per culture: one change each, so
	// that a rule template's {culture} and {slug} belong together.
	cultures := make([]string, 0, len(p.Cultures))
	for k, r := range p.Cultures {
		if r != nil {
			cultures = append(cultures, k)
		}
	}
	slices.Sort(cultures)
	if len(cultures) == 0 {
		c := base
		c.URLs = source.Distinct(routePath, p.URL) // p.URL: a media file
		if routePath != "" {
			c.Slug = lastSegment(routePath)
		}
		c.Fields = source.Compact(fields)
		return []change.Change{c}, nil
	}
	out := make([]change.Change, 0, len(cultures))
	covered := false
	for _, k := range cultures {
		r := p.Cultures[k]
		covered = covered || r.Path == routePath
		f := maps.Clone(fields)
		startItem(f, r)
		c := base
		c.Cultures = []string{k}
		c.URLs = source.Distinct(r.Path)
		if r.Path != "" {
			c.Slug = lastSegment(r.Path)
		}
		c.Fields = source.Compact(f)
		out = append(out, c)
	}
	if !covered && routePath != "" {
		out[0].URLs = source.Distinct(append(out[0].URLs, routePath)...)
	}
	return out, nil
}

func startItem(fields map[string]string, r *route) {
	if si := r.StartItem; si != nil {
		fields["start_item"], fields["start_item_id"] = si.Path, string(si.ID)
	}
}

// lastSegment is the last non-empty path segment: /news/my-article/ →
// my-article; "" for the root.
func lastSegment(path string) string {
	path = strings.Trim(path, "/")
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		return path[i+1:]
	}
	return path
}
