// Package change holds the nouns every stage of purgehook's pipeline shares:
// a Change as a CMS reported it, the Targets it resolves to, the Calls a
// provider is asked to make, and the Limits a provider declares. It imports
// only the standard library so that every adapter can depend on it.
package change

import (
	"slices"
	"strings"
)

// Kind says what happened to a piece of content.
type Kind string

// The kinds every source normalises its events into.
const (
	Publish     Kind = "publish"
	Unpublish   Kind = "unpublish"
	Delete      Kind = "delete"
	Update      Kind = "update"
	Media       Kind = "media"
	TypeChanged Kind = "type_changed"
	Deploy      Kind = "deploy"
	Other       Kind = "other"
)

// Change is one content change as the CMS reported it. Sources fill what
// their CMS sends and leave the rest empty; the resolver does not care which
// CMS a change came from.
type Change struct {
	Source   string `json:"source"`
	Delivery string `json:"delivery"`
	// Event is the CMS's own name for what happened (ContentPublished,
	// Umbraco.ContentPublish, entry.publish, …); Kind is its normalised form.
	Event       string   `json:"event"`
	Kind        Kind     `json:"kind"`
	ContentID   string   `json:"content_id,omitempty"`
	Codename    string   `json:"codename,omitempty"`
	ContentType string   `json:"content_type,omitempty"`
	Cultures    []string `json:"cultures,omitempty"`
	Site        string   `json:"site,omitempty"`
	Slug        string   `json:"slug,omitempty"`
	// URLs are the pages that show the content itself, as the CMS knows them
	// (absolute or site-relative paths).
	URLs []string `json:"urls,omitempty"`
	// Dependencies are further pages the CMS says display the content (list
	// pages, the homepage), absolute or site-relative.
	Dependencies []string `json:"dependencies,omitempty"`
	Tags         []string `json:"tags,omitempty"`
	// Fields carries any further values a source extracted (environment,
	// collection, …); URL templates in rules may refer to them by name.
	Fields map[string]string `json:"fields,omitempty"`
}

// Field returns the named value of the change for URL templates in rules:
// the well-known names first, then Fields.
func (c Change) Field(name string) (string, bool) {
	switch name {
	case "id", "content_id":
		return c.ContentID, c.ContentID != ""
	case "codename":
		return c.Codename, c.Codename != ""
	case "content_type", "type":
		return c.ContentType, c.ContentType != ""
	case "culture", "language", "locale":
		if len(c.Cultures) > 0 {
			return c.Cultures[0], true
		}
		return "", false
	case "site":
		return c.Site, c.Site != ""
	case "slug":
		return c.Slug, c.Slug != ""
	case "event":
		return c.Event, c.Event != ""
	case "kind":
		return string(c.Kind), c.Kind != ""
	}
	v, ok := c.Fields[name]
	return v, ok && v != ""
}

// TargetKind is what a Target names.
type TargetKind string

// The target kinds. Prefix values are absolute URLs that end where the
// prefix ends (https://host/news); host values are bare host names.
const (
	URL        TargetKind = "url"
	Tag        TargetKind = "tag"
	Prefix     TargetKind = "prefix"
	Host       TargetKind = "host"
	Everything TargetKind = "everything"
)

// AllKinds lists every target kind, narrowest first.
var AllKinds = []TargetKind{URL, Tag, Prefix, Host, Everything}

// Target is one thing to invalidate.
type Target struct {
	Kind  TargetKind `json:"kind"`
	Value string     `json:"value,omitempty"`
	// Site is the configured site the target belongs to ("" for an
	// everything target that spans every site).
	Site string `json:"site,omitempty"`
	// Warm marks URL targets to fetch again after the purge.
	Warm bool `json:"warm,omitempty"`
	// Reason says where the target came from (payload, dependency, rule 2, …)
	// so that explain and the audit trail can answer "why".
	Reason string `json:"reason,omitempty"`
	// Overdraft marks an emergency purge of everything (an admin's): it
	// goes at once even past the day's budget, and the excess is recorded.
	Overdraft bool `json:"overdraft,omitempty"`
}

// Key identifies a target for deduplication.
func (t Target) Key() string { return string(t.Kind) + " " + t.Value }

// Layer orders cache layers from the inside out: a layer is purged only
// after every layer inside it completed, so an outer cache never refetches a
// stale copy from an inner one.
type Layer int

// The layers, innermost first.
const (
	LayerApp Layer = iota
	LayerOrigin
	LayerEdge
)

// Layers lists the layers in purge order.
var Layers = []Layer{LayerApp, LayerOrigin, LayerEdge}

func (l Layer) String() string {
	switch l {
	case LayerApp:
		return "app"
	case LayerOrigin:
		return "origin"
	case LayerEdge:
		return "edge"
	}
	return "unknown"
}

// ParseLayer reads a layer name from config.
func ParseLayer(s string) (Layer, bool) {
	for _, l := range Layers {
		if l.String() == strings.ToLower(s) {
			return l, true
		}
	}
	return 0, false
}

// Call is one provider API call: all items are of one kind and fit the
// provider's limits. Key is stable across retries of the same call, so a
// provider with idempotency handles (CloudFront's CallerReference) never
// creates a second invalidation for a retried call.
type Call struct {
	ID       int64      `json:"id"`
	Batch    int64      `json:"batch"`
	Provider string     `json:"provider"`
	Layer    Layer      `json:"layer"`
	Kind     TargetKind `json:"kind"`
	Items    []string   `json:"items,omitempty"`
	Key      string     `json:"key"`
	// Ref is what the provider returned for an asynchronous call (an
	// invalidation id) so that completion can be polled after a restart.
	Ref string `json:"ref,omitempty"`
}

// Limits is what a provider declares about itself; the planner reads it and
// config may override every number, since providers change them.
type Limits struct {
	// Kinds the provider can purge. A target of another kind is escalated
	// to the narrowest supported kind that covers it (host → everything).
	Kinds []TargetKind
	// PerCall is the most items of a kind one call may carry; 0 means no
	// limit. Everything calls always carry no items.
	PerCall map[TargetKind]int
	// BodyBytes bounds a call's encoded item bytes (0: no limit); the
	// planner splits calls so that the sum of item lengths stays under it.
	BodyBytes int
	// RatePerSecond and Burst pace calls in-process; 0 means unpaced.
	RatePerSecond float64
	Burst         int
	// Async providers acknowledge a call before it takes effect and must be
	// polled for completion (purger.Completer).
	Async bool
	// BilledPerItem providers charge for each item purged, not for each
	// call (CloudFront: each invalidation path past the month's first
	// 1,000, a wildcard path counting as one), so the planner's cost model
	// counts items for them, calls for the others.
	BilledPerItem bool
}

// Clone returns a copy that shares no slice or map with l, so a provider
// can hand out its limits without callers changing them.
func (l Limits) Clone() Limits {
	c := l
	c.Kinds = slices.Clone(l.Kinds)
	c.PerCall = make(map[TargetKind]int, len(l.PerCall))
	for k, n := range l.PerCall {
		c.PerCall[k] = n
	}
	return c
}

// Supports reports whether the provider can purge targets of kind k.
func (l Limits) Supports(k TargetKind) bool { return slices.Contains(l.Kinds, k) }

// Max returns the per-call item limit for kind k (0: unlimited).
func (l Limits) Max(k TargetKind) int { return l.PerCall[k] }
