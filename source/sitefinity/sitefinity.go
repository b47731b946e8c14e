// Package sitefinity accepts Progress Sitefinity service hooks (14.0+) and
// the payloads of the legacy Webhook module they replaced. A service hook
// POSTs JSON with Name (the trigger's title), Item (null for deletes),
// OriginalEvent (Action, ItemType, ItemId, Language, …) and
// OriginalEventType. Authentication is Basic, a bearer token in a custom
// header, or HMAC: Sf-Signature is base64(HMAC-SHA256(secret,
// body + "_" + Sf-Signature-Timestamp)) with the timestamp in Unix
// milliseconds — the algorithm of Sitefinity's own sender
// (Telerik.Sitefinity.Webhooks.WebhookDataSender); docs/sources/sitefinity.md
// says where that comes from and what is not confirmed.
package sitefinity

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/source"
)

// Header names of the HMAC scheme.
const (
	SignatureHeader = "Sf-Signature"
	TimestampHeader = "Sf-Signature-Timestamp"
)

// Source verifies and parses Sitefinity service hooks.
type Source struct {
	opts source.Options
}

var _ source.Source = (*Source)(nil)

// Auth: Sitefinity either signs or sends configured headers.
const Auth = source.AuthAny

// New returns a Sitefinity source; it needs a secret, a token or Basic
// credentials, or several of them.
func New(opts source.Options) (*Source, error) { return &Source{opts: opts}, nil }

// Sign returns the Sf-Signature value for body at the millisecond
// timestamp ts (the Sf-Signature-Timestamp value).
func Sign(secret string, body []byte, ts string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	m.Write([]byte{'_'})
	m.Write([]byte(ts))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Verify checks every configured mechanism: the HMAC with its timestamp
// window when secrets are set, the token or Basic credentials when those
// are.
func (s *Source) Verify(r *http.Request, body []byte) error {
	return source.Authenticate(s.opts, r, func() error {
		sig := strings.TrimSpace(r.Header.Get(SignatureHeader))
		ts := strings.TrimSpace(r.Header.Get(TimestampHeader))
		if sig == "" || ts == "" {
			return source.Unauthorized("missing %s or %s header", SignatureHeader, TimestampHeader)
		}
		t, err := source.ParseMillis(ts)
		if err != nil {
			return source.Unauthorized("%s is not Unix milliseconds", TimestampHeader)
		}
		if err := source.CheckTimestamp(t, s.opts.Clock(), s.opts.Tolerance); err != nil {
			return err
		}
		if !source.MatchAny(s.opts.Secrets, sig, func(k []byte) string { return Sign(string(k), body, ts) }) {
			return source.Unauthorized("%s does not match the body", SignatureHeader)
		}
		return nil
	})
}

// zeroGUID is what pages send as OriginalContentId: no id at all.
const zeroGUID = "00000000-0000-0000-0000-000000000000"

// SignedAt is the Sf-Signature-Timestamp value for t.
func SignedAt(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

type item struct {
	ID              source.Loose   `json:"Id"`
	UrlName         source.Loose   `json:"UrlName"`
	Title           source.Loose   `json:"Title"`
	ViewURL         source.Loose   `json:"ViewUrl"`
	RelativeURLPath source.Loose   `json:"RelativeUrlPath"`
	URL             source.Loose   `json:"Url"` // media items
	Provider        source.Loose   `json:"Provider"`
	IsHomePage      source.Loose   `json:"IsHomePage"`
	Languages       []source.Loose `json:"AvailableLanguages"`
}

type payload struct {
	Name          string `json:"Name"`
	Item          *item  `json:"Item"`
	OriginalEvent *struct {
		Action            string         `json:"Action"`
		ItemType          string         `json:"ItemType"`
		ItemID            source.Loose   `json:"ItemId"`
		OriginalContentID source.Loose   `json:"OriginalContentId"`
		ProviderName      string         `json:"ProviderName"`
		Language          source.Loose   `json:"Language"`
		AffectedLanguages []source.Loose `json:"AffectedLanguages"`
		Status            string         `json:"Status"`
		WorkflowState     string         `json:"ApprovalWorkflowState"`
	} `json:"OriginalEvent"`
	OriginalEventType string `json:"OriginalEventType"`
}

// Parse reads a service hook payload. The content id is Item.Id (the
// master item), else OriginalEvent.OriginalContentId or ItemId (deletes
// send Item: null). The URL is Item.RelativeUrlPath, else Item.ViewUrl;
// a media item adds its file Url. The content type is the short name of
// OriginalEvent.ItemType (PageNode, NewsItem, …), the slug Item.UrlName.
// The cultures are OriginalEvent.Language and AffectedLanguages, then the
// item's other Item.AvailableLanguages.
func (s *Source) Parse(body []byte, hdr http.Header) ([]change.Change, error) {
	var p payload
	if err := source.DecodeJSON(body, &p); err != nil {
		return nil, err
	}
	ev := p.OriginalEvent
	if ev == nil && p.Item == nil {
		return nil, source.Malformed("missing Item and OriginalEvent")
	}
	var action, itemType string
	if ev != nil {
		action, itemType = ev.Action, ev.ItemType
	}
	event := strings.TrimSpace(p.Name)
	if event == "" {
		event = action
	}
	if event == "" {
		return nil, source.Malformed("missing Name and OriginalEvent.Action")
	}
	c := change.Change{Source: s.opts.Name, Event: event, Kind: Kind(p.Name, action, itemType)}
	f := map[string]string{"action": action, "item_type": itemType, "event_type": p.OriginalEventType}
	if it := p.Item; it != nil {
		c.ContentID = string(it.ID)
		c.Slug = string(it.UrlName)
		c.URLs = source.Distinct(string(it.RelativeURLPath))
		if len(c.URLs) == 0 {
			c.URLs = source.Distinct(string(it.ViewURL))
		}
		c.URLs = source.Distinct(append(c.URLs, string(it.URL))...)
		f["view_url"], f["title"], f["provider"] = string(it.ViewURL), string(it.Title), string(it.Provider)
	}
	if ev != nil {
		if c.ContentID == "" && string(ev.OriginalContentID) != zeroGUID {
			c.ContentID = string(ev.OriginalContentID)
		}
		if c.ContentID == "" {
			c.ContentID = string(ev.ItemID)
		}
		langs := []string{string(ev.Language)}
		for _, l := range ev.AffectedLanguages {
			langs = append(langs, string(l))
		}
		c.Cultures = source.Distinct(langs...)
		f["language"] = string(ev.Language)
		f["item_id"], f["status"], f["workflow_state"] = string(ev.ItemID), ev.Status, ev.WorkflowState
		if f["provider"] == "" {
			f["provider"] = ev.ProviderName
		}
	}
	if it := p.Item; it != nil {
		// The item's other languages come after the event's: a page
		// changed in one language is shown in the others too (shared
		// fields, its place in the navigation), so a {culture} template
		// fills once for each, while {culture} alone stays the event's.
		langs := slices.Clone(c.Cultures)
		for _, l := range it.Languages {
			langs = append(langs, string(l))
		}
		c.Cultures = source.Distinct(langs...)
	}
	if c.ContentID == "" {
		return nil, source.Malformed("missing Item.Id and OriginalEvent.ItemId")
	}
	if itemType != "" {
		c.ContentType = itemType[strings.LastIndexByte(itemType, '.')+1:]
	}
	c.Fields = source.Compact(f)
	return []change.Change{c}, nil
}

// Kind maps a service hook. The trigger's title says what happened most
// plainly ("News item is unpublished"); OriginalEvent.Action (New,
// Updated, Deleted; Published / Unpublished in some versions) decides when
// the title does not. Library items (images, documents, videos) are media.
func Kind(name, action, itemType string) change.Kind {
	if strings.Contains(itemType, ".Libraries.Model.") {
		return change.Media
	}
	n := strings.ToLower(name)
	switch {
	case strings.Contains(n, "unpublished"):
		return change.Unpublish
	case strings.Contains(n, "deleted"):
		return change.Delete
	case strings.Contains(n, "published"):
		return change.Publish
	}
	switch strings.ToLower(action) {
	case "deleted":
		return change.Delete
	case "unpublished":
		return change.Unpublish
	case "published", "new":
		return change.Publish
	case "updated":
		return change.Update
	}
	return change.Other
}
