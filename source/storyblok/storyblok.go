// Package storyblok accepts Storyblok webhooks: a JSON body with action,
// text and space_id, plus story_id (story events), asset_id (asset events)
// or datasource_slug (datasource events). With a webhook secret set (paid
// plans), webhook-signature is the hex HMAC-SHA1 of the raw body. Storyblok
// signs no timestamp and sends no delivery id, so there is no replay window
// and the handler dedupes on the body hash.
package storyblok

import (
	"net/http"
	"slices"
	"strings"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/source"
)

// SignatureHeader carries the hex HMAC-SHA1 of the body.
const SignatureHeader = "webhook-signature"

// Source verifies and parses Storyblok webhooks.
type Source struct {
	opts source.Options
}

var _ source.Source = (*Source)(nil)

// Auth: Storyblok signs its webhooks.
const Auth = source.AuthHMAC

// New returns a Storyblok source; it needs a secret (checked by config).
func New(opts source.Options) (*Source, error) { return &Source{opts: opts}, nil }

// Sign returns the webhook-signature value for body.
func Sign(secret string, body []byte) string { return source.HexSHA1([]byte(secret), body) }

// Verify checks webhook-signature against every configured secret.
func (s *Source) Verify(r *http.Request, body []byte) error {
	return source.Authenticate(s.opts, r, func() error {
		got := strings.ToLower(strings.TrimSpace(r.Header.Get(SignatureHeader)))
		if got == "" {
			return source.Unauthorized("missing %s header", SignatureHeader)
		}
		if !source.MatchAny(s.opts.Secrets, got, func(k []byte) string { return source.HexSHA1(k, body) }) {
			return source.Unauthorized("%s does not match the body", SignatureHeader)
		}
		return nil
	})
}

type payload struct {
	Action         string        `json:"action"`
	Text           string        `json:"text"`
	SpaceID        source.Scalar `json:"space_id"`
	StoryID        source.Scalar `json:"story_id"`
	FullSlug       source.Loose  `json:"full_slug"`
	AssetID        source.Scalar `json:"asset_id"`
	DatasourceSlug source.Loose  `json:"datasource_slug"`
	ReleaseID      source.Loose  `json:"release_id"`
	BranchID       source.Loose  `json:"branch_id"`
	Language       source.Loose  `json:"language"`
}

// ignored actions change nothing visitors see: user management and
// workflow stages of drafts.
var ignored = []string{"added", "removed", "roles_updated", "stage.changed", "workflow_stage_changed"}

// Parse reads the action and the id it concerns. Storyblok's documented
// payload carries no slug or language; full_slug, when present, gives the
// slug (its last segment) and the full_slug field.
func (s *Source) Parse(body []byte, hdr http.Header) ([]change.Change, error) {
	var p payload
	if err := source.DecodeJSON(body, &p); err != nil {
		return nil, err
	}
	action := strings.TrimSpace(p.Action)
	if action == "" {
		return nil, source.Malformed("missing field action")
	}
	if slices.Contains(ignored, action) {
		return nil, nil
	}
	c := change.Change{Source: s.opts.Name, Event: action, Cultures: source.Distinct(string(p.Language))}
	f := map[string]string{"space_id": string(p.SpaceID)}
	switch {
	case p.StoryID != "":
		c.ContentID = string(p.StoryID)
		c.Kind = storyKind(action)
		if full := strings.Trim(string(p.FullSlug), "/"); full != "" {
			f["full_slug"] = full
			c.Slug = full[strings.LastIndexByte(full, '/')+1:]
		}
	case p.AssetID != "":
		c.ContentID, c.Kind = string(p.AssetID), change.Media
	case p.DatasourceSlug != "":
		c.ContentID, c.Kind = string(p.DatasourceSlug), change.Update
		f["datasource_slug"] = string(p.DatasourceSlug)
	default:
		c.Kind = otherKind(action)
		f["release_id"], f["branch_id"] = string(p.ReleaseID), string(p.BranchID)
	}
	c.Fields = source.Compact(f)
	return []change.Change{c}, nil
}

func storyKind(action string) change.Kind {
	switch action {
	case "published":
		return change.Publish
	case "unpublished":
		return change.Unpublish
	case "deleted":
		return change.Delete
	}
	return change.Update // moved
}

// otherKind maps actions that name no story, asset or datasource.
func otherKind(action string) change.Kind {
	switch action {
	case "release_merged", "release.merged", "merged", "branch_deployed", "pipeline.deployed", "deployed":
		return change.Deploy
	case "entries_updated":
		return change.Update
	}
	return change.Other
}
