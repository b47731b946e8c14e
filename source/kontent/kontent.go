// Package kontent accepts Kontent.ai (formerly Kentico Kontent / Kentico
// Cloud) webhooks in both formats: the current notifications format
// (X-Kontent-ai-Signature, notifications[] with data.system and message
// object_type / action / delivery_slot) and the legacy format (X-KC-Signature,
// message.type / operation, data.items). Both are signed with base64
// HMAC-SHA256 of the raw body, the secret used as text. Only notifications
// for the configured delivery slots (default: published) become changes.
package kontent

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/source"
)

// Signature headers: the current name first, then the legacy one.
const (
	SignatureHeader       = "X-Kontent-ai-Signature"
	LegacySignatureHeader = "X-KC-Signature"
)

// Delivery slots. Legacy webhooks name the API instead; delivery_production
// and delivery_preview map to these, content_management (workflow changes)
// to no slot, so it never purges.
const (
	SlotPublished = "published"
	SlotPreview   = "preview"
)

// Source verifies and parses Kontent.ai webhooks.
type Source struct {
	opts  source.Options
	slots []string
}

var (
	_ source.Source       = (*Source)(nil)
	_ source.DeliveryIDer = (*Source)(nil)
)

// Auth: Kontent.ai signs its webhooks.
const Auth = source.AuthHMAC

// New returns a Kontent.ai source. It needs at least one secret (checked by
// config).
func New(opts source.Options, c Config) (*Source, error) {
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("kontent %s: %w", opts.Name, err)
	}
	return &Source{opts: opts, slots: c.DeliverySlots}, nil
}

// Sign returns the signature header value for body; tests and the docs'
// curl example use it.
func Sign(secret string, body []byte) string {
	return source.Base64SHA256([]byte(secret), body)
}

var lineBreaks = regexp.MustCompile(`[\r\n]+`)

// Verify checks X-Kontent-ai-Signature, else X-KC-Signature, against the
// raw body. Kontent.ai sends pretty-printed JSON with CRLF line breaks; a
// proxy that rewrites them to LF breaks the HMAC, so on a mismatch the
// check is repeated once over the body with every run of line breaks made
// CRLF, which is what Kontent.ai's own JavaScript helper does.
func (s *Source) Verify(r *http.Request, body []byte) error {
	return source.Authenticate(s.opts, r, func() error {
		got, name := r.Header.Get(SignatureHeader), SignatureHeader
		if got == "" {
			got, name = r.Header.Get(LegacySignatureHeader), LegacySignatureHeader
		}
		// .NET's middleware trims quotes a proxy may have added.
		got = strings.Trim(strings.TrimSpace(got), `"`)
		if got == "" {
			return source.Unauthorized("missing %s or %s header", SignatureHeader, LegacySignatureHeader)
		}
		if source.MatchAny(s.opts.Secrets, got, func(k []byte) string { return source.Base64SHA256(k, body) }) {
			return nil
		}
		crlf := lineBreaks.ReplaceAll(body, []byte("\r\n"))
		if source.MatchAny(s.opts.Secrets, got, func(k []byte) string { return source.Base64SHA256(k, crlf) }) {
			return nil
		}
		return source.Unauthorized("%s does not match the body", name)
	})
}

// DeliveryID is the legacy format's message.id; the notifications format
// has none, so the handler falls back to the body hash.
func (s *Source) DeliveryID(_ http.Header, body []byte) string {
	var p struct {
		Message *struct {
			ID string `json:"id"`
		} `json:"message"`
	}
	if source.CheckShape(body) != nil || json.Unmarshal(body, &p) != nil || p.Message == nil {
		return ""
	}
	return strings.TrimSpace(p.Message.ID)
}

// system is data.system of a notification.
type system struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	Codename      string `json:"codename"`
	Collection    string `json:"collection"`
	Workflow      string `json:"workflow"`
	WorkflowStep  string `json:"workflow_step"`
	Language      string `json:"language"`
	Type          string `json:"type"`
	TaxonomyGroup string `json:"taxonomy_group"`
	LastModified  string `json:"last_modified"`
}

type notification struct {
	Data *struct {
		System *system `json:"system"`
	} `json:"data"`
	Message *struct {
		EnvironmentID string `json:"environment_id"`
		ObjectType    string `json:"object_type"`
		Action        string `json:"action"`
		DeliverySlot  string `json:"delivery_slot"`
	} `json:"message"`
}

type legacyItem struct {
	ID         string `json:"id"`
	Codename   string `json:"codename"`
	Collection string `json:"collection"`
	Language   string `json:"language"`
	Type       string `json:"type"`
}

type payload struct {
	// Notifications is the current format.
	Notifications *[]notification `json:"notifications"`
	// Data and Message are the legacy format.
	Data *struct {
		// Items are decoded only for the delivery APIs: the management
		// API's workflow items have another shape.
		Items      []json.RawMessage `json:"items"`
		Taxonomies []struct {
			ID       string `json:"id"`
			Codename string `json:"codename"`
		} `json:"taxonomies"`
	} `json:"data"`
	Message *struct {
		ID        string `json:"id"`
		ProjectID string `json:"project_id"`
		Type      string `json:"type"`
		Operation string `json:"operation"`
		APIName   string `json:"api_name"`
	} `json:"message"`
}

// Parse reads either format; a batched notifications body gives one change
// per notification. Notifications from other slots than the configured
// ones are dropped, so a body may give no change at all.
func (s *Source) Parse(body []byte, _ http.Header) ([]change.Change, error) {
	var p payload
	if err := source.DecodeJSON(body, &p); err != nil {
		return nil, err
	}
	switch {
	case p.Notifications != nil:
		return s.notifications(*p.Notifications)
	case p.Message != nil:
		return s.legacy(p)
	}
	return nil, source.Malformed("neither notifications (current format) nor message (legacy format)")
}

func (s *Source) notifications(ns []notification) ([]change.Change, error) {
	var out []change.Change
	for i, n := range ns {
		if n.Message == nil || n.Message.ObjectType == "" || n.Message.Action == "" {
			return nil, source.Malformed("notifications[%d]: missing message.object_type or message.action", i)
		}
		if n.Data == nil || n.Data.System == nil || (n.Data.System.ID == "" && n.Data.System.Codename == "") {
			return nil, source.Malformed("notifications[%d]: missing data.system.id and codename", i)
		}
		m, sys := n.Message, n.Data.System
		if m.DeliverySlot != "" && !slices.Contains(s.slots, m.DeliverySlot) {
			continue
		}
		c := change.Change{
			Source:    s.opts.Name,
			Event:     m.ObjectType + "." + m.Action,
			Kind:      kindOf(m.ObjectType, m.Action),
			ContentID: sys.ID,
			Codename:  sys.Codename,
			Fields: fields(map[string]string{
				"environment_id": m.EnvironmentID,
				"delivery_slot":  m.DeliverySlot,
				"object_type":    m.ObjectType,
				"name":           sys.Name,
				"collection":     sys.Collection,
				"workflow":       sys.Workflow,
				"workflow_step":  sys.WorkflowStep,
				"taxonomy_group": sys.TaxonomyGroup,
				"last_modified":  sys.LastModified,
			}),
		}
		switch m.ObjectType {
		case "content_item":
			c.ContentType = sys.Type
			c.Cultures = source.Distinct(sys.Language)
		case "content_type":
			// Every item of this type: the resolver (or a rule on
			// kind type_changed) decides what that means for URLs.
			c.ContentType = sys.Codename
		case "language":
			c.Cultures = source.Distinct(sys.Codename)
		}
		out = append(out, c)
	}
	return out, nil
}

// kindOf maps the current format's object_type and action.
func kindOf(objectType, action string) change.Kind {
	switch objectType {
	case "content_item":
		switch action {
		case "published":
			return change.Publish
		case "unpublished":
			return change.Unpublish
		case "deleted":
			return change.Delete
		}
		return change.Update // metadata_changed, created, workflow_step_changed
	case "asset":
		return change.Media
	case "content_type":
		return change.TypeChanged
	case "taxonomy":
		return change.Update
	case "language":
		return change.Deploy // a whole language's pages
	}
	return change.Other
}

func (s *Source) legacy(p payload) ([]change.Change, error) {
	m := p.Message
	if m.Type == "" || m.Operation == "" {
		return nil, source.Malformed("missing message.type or message.operation")
	}
	slot := ""
	switch m.APIName {
	case "delivery_production":
		slot = SlotPublished
	case "delivery_preview":
		slot = SlotPreview
	case "":
		slot = SlotPublished // older legacy bodies have no api_name
	}
	if !slices.Contains(s.slots, slot) {
		return nil, nil
	}
	event := m.Type + "." + m.Operation
	kind := legacyKind(m.Type, m.Operation)
	common := map[string]string{
		"environment_id": m.ProjectID,
		"delivery_slot":  slot,
		"object_type":    m.Type,
		"api_name":       m.APIName,
	}
	var out []change.Change
	if p.Data != nil {
		for i, raw := range p.Data.Items {
			var it legacyItem
			if err := json.Unmarshal(raw, &it); err != nil {
				return nil, source.Malformed("data.items[%d]: %s", i, strings.TrimPrefix(err.Error(), "json: "))
			}
			f := fields(common)
			if it.Collection != "" {
				if f == nil {
					f = map[string]string{}
				}
				f["collection"] = it.Collection
			}
			c := change.Change{
				Source:    s.opts.Name,
				Event:     event,
				Kind:      kind,
				ContentID: it.ID,
				Codename:  it.Codename,
				Cultures:  source.Distinct(it.Language),
				Fields:    f,
			}
			c.ContentType = it.Type
			if m.Type == "content_type" {
				c.ContentType = it.Codename
			}
			out = append(out, c)
		}
		for _, tx := range p.Data.Taxonomies {
			f := fields(common)
			if f == nil {
				f = map[string]string{}
			}
			f["object_type"] = "taxonomy"
			out = append(out, change.Change{
				Source:    s.opts.Name,
				Event:     event,
				Kind:      change.Update,
				ContentID: tx.ID,
				Codename:  tx.Codename,
				Fields:    f,
			})
		}
	}
	return out, nil
}

// legacyKind maps the legacy format's message.type and operation.
func legacyKind(typ, op string) change.Kind {
	switch typ {
	case "content_item", "content_item_variant":
		switch op {
		case "publish":
			return change.Publish
		case "unpublish":
			return change.Unpublish
		case "archive":
			return change.Delete
		}
		return change.Update // upsert, restore, change_workflow_step
	case "asset":
		return change.Media
	case "content_type":
		return change.TypeChanged
	case "taxonomy":
		return change.Update
	case "language_settings", "project", "sitemap":
		return change.Deploy
	}
	return change.Other
}

// fields copies the non-empty values; nil when there are none.
func fields(m map[string]string) map[string]string {
	var out map[string]string
	for k, v := range m {
		if v == "" {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[k] = v
	}
	return out
}
