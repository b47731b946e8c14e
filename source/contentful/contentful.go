// Package contentful accepts Contentful webhooks. The topic
// (ContentManagement.<Type>.<action>) is in X-Contentful-Topic, the entity
// in the body in its Management API shape, the delivery id in
// X-Contentful-Idempotency-Key. With request verification enabled (a
// signing secret in the space), Contentful signs a canonical request —
// method, path, the headers named in x-contentful-signed-headers and the
// body — with hex HMAC-SHA256 and a millisecond timestamp. Contentful can
// also send custom headers or Basic credentials, so a token works too.
package contentful

import (
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/source"
)

// Header names Contentful sends.
const (
	TopicHeader         = "X-Contentful-Topic"
	WebhookNameHeader   = "X-Contentful-Webhook-Name"
	IdempotencyHeader   = "X-Contentful-Idempotency-Key"
	SignatureHeader     = "x-contentful-signature"
	SignedHeadersHeader = "x-contentful-signed-headers"
	TimestampHeader     = "x-contentful-timestamp"
)

// minTimestamp is the earliest timestamp Contentful's toolkit accepts
// (2020-01-01T00:00:00Z); anything before is not milliseconds.
const minTimestamp = 1577836800000

// Source verifies and parses Contentful webhooks.
type Source struct {
	opts source.Options
}

var (
	_ source.Source       = (*Source)(nil)
	_ source.DeliveryIDer = (*Source)(nil)
)

// Auth: Contentful either signs or sends configured headers.
const Auth = source.AuthAny

// New returns a Contentful source; it needs a signing secret, a token (or
// Basic credentials) or both.
func New(opts source.Options) (*Source, error) { return &Source{opts: opts}, nil }

// Verify checks the request signature when a secret is configured (and the
// token when one is). Contentful's toolkit defaults to a 30-second TTL and
// no future check; here the configured window applies both ways.
func (s *Source) Verify(r *http.Request, body []byte) error {
	return source.Authenticate(s.opts, r, func() error {
		for _, h := range []string{SignatureHeader, SignedHeadersHeader, TimestampHeader} {
			if strings.TrimSpace(r.Header.Get(h)) == "" {
				return source.Unauthorized("missing %s header", h)
			}
		}
		ts, err := source.ParseMillis(r.Header.Get(TimestampHeader))
		if err != nil || ts.UnixMilli() < minTimestamp {
			return source.Unauthorized("%s is not Unix milliseconds after 2020", TimestampHeader)
		}
		if err := source.CheckTimestamp(ts, s.opts.Clock(), s.opts.Tolerance); err != nil {
			return err
		}
		canonical := Canonical(r.Method, requestURI(r), r.Header, body)
		got := strings.ToLower(strings.TrimSpace(r.Header.Get(SignatureHeader)))
		if !source.MatchAny(s.opts.Secrets, got, func(k []byte) string { return source.HexSHA256(k, canonical) }) {
			return source.Unauthorized("%s does not match the canonical request", SignatureHeader)
		}
		return nil
	})
}

// requestURI is the path and query as the client sent them.
func requestURI(r *http.Request) string {
	if r.RequestURI != "" {
		return r.RequestURI
	}
	return r.URL.RequestURI()
}

// Canonical is the string Contentful signs: method, normalised path, the
// signed headers sorted by name as name:value joined with ";", and the
// body, joined with newlines. It follows @contentful/node-apps-toolkit:
// headers are those named in x-contentful-signed-headers that the request
// carries, plus that header and x-contentful-timestamp themselves; names
// are lower-cased, values trimmed, and the signed-headers value is the
// sorted list of names.
func Canonical(method, uri string, hdr http.Header, body []byte) []byte {
	set := map[string]string{}
	for name := range strings.SplitSeq(hdr.Get(SignedHeadersHeader), ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		if vs, ok := hdr[http.CanonicalHeaderKey(name)]; ok && name != "" {
			set[name] = strings.TrimSpace(strings.Join(vs, ", "))
		}
	}
	set[SignedHeadersHeader], set[TimestampHeader] = "", ""
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	set[SignedHeadersHeader] = strings.Join(names, ",")
	if ms, err := strconv.ParseInt(strings.TrimSpace(hdr.Get(TimestampHeader)), 10, 64); err == nil {
		set[TimestampHeader] = strconv.FormatInt(ms, 10)
	}
	pairs := make([]string, len(names))
	for i, n := range names {
		pairs[i] = n + ":" + set[n]
	}
	var b strings.Builder
	b.Grow(len(method) + len(uri) + 256 + len(body))
	b.WriteString(method)
	b.WriteByte('\n')
	b.WriteString(NormalizePath(uri))
	b.WriteByte('\n')
	b.WriteString(strings.Join(pairs, ";"))
	b.WriteByte('\n')
	b.Write(body)
	return []byte(b.String())
}

// NormalizePath is the toolkit's getNormalizedEncodedURI: the query (the
// text between the first and second "?") is escaped like
// encodeURIComponent, then the whole is escaped like encodeURI.
func NormalizePath(uri string) string {
	parts := strings.Split(uri, "?")
	out := parts[0]
	if len(parts) > 1 && parts[1] != "" {
		out += "?" + escape(parts[1], componentSafe)
	}
	return escape(out, uriSafe)
}

const (
	componentSafe = "-_.!~*'()"
	uriSafe       = componentSafe + ";,/?:@&=+$#"
)

func escape(s, safe string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') || strings.IndexByte(safe, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// Sign returns the headers Contentful would add to a request with this
// method, URI, headers and body at ms: the signature, the signed-headers
// list and the timestamp. Tests and the docs' example use it.
func Sign(secret, method, uri string, hdr http.Header, body []byte, ms int64) http.Header {
	h := hdr.Clone()
	names := []string{}
	for k := range hdr {
		names = append(names, strings.ToLower(k))
	}
	names = append(names, SignedHeadersHeader, TimestampHeader)
	sort.Strings(names)
	h.Set(SignedHeadersHeader, strings.Join(slices.Compact(names), ","))
	h.Set(TimestampHeader, strconv.FormatInt(ms, 10))
	h.Set(SignatureHeader, source.HexSHA256([]byte(secret), Canonical(method, uri, h, body)))
	return h
}

// DeliveryID is X-Contentful-Idempotency-Key.
func (s *Source) DeliveryID(hdr http.Header, _ []byte) string {
	return strings.TrimSpace(hdr.Get(IdempotencyHeader))
}

type link struct {
	Sys struct {
		ID string `json:"id"`
	} `json:"sys"`
}

type payload struct {
	Sys *struct {
		ID          string `json:"id"`
		Type        string `json:"type"`
		Space       *link  `json:"space"`
		Environment *link  `json:"environment"`
		ContentType *link  `json:"contentType"`
	} `json:"sys"`
	// Fields of entries and assets are keyed by field, then locale, and
	// their values are the user's; a content type's fields are an array.
	Fields   json.RawMessage `json:"fields"`
	Metadata *struct {
		Tags []link `json:"tags"`
	} `json:"metadata"`
}

// kinds maps "<Type>.<action>". Drafts (create, save, auto_save,
// unarchive) change nothing visitors see and are absent: they give no
// change. Unknown topics are kept as other.
var kinds = map[string]change.Kind{
	"Entry.publish":         change.Publish,
	"Entry.unpublish":       change.Unpublish,
	"Entry.delete":          change.Delete,
	"Entry.archive":         change.Unpublish,
	"Asset.publish":         change.Media,
	"Asset.unpublish":       change.Media,
	"Asset.delete":          change.Media,
	"Asset.archive":         change.Media,
	"ContentType.publish":   change.TypeChanged,
	"ContentType.unpublish": change.TypeChanged,
	"ContentType.delete":    change.TypeChanged,
}

var drafts = []string{"create", "save", "auto_save", "unarchive"}

// maxFieldText bounds the field values copied into Fields: short values
// (a category, a slug) are what URL templates use.
const maxFieldText = 256

// Parse reads the topic and the entity: sys.id, the content type, the
// locales of its fields, a slug field, its tags, space and environment.
// An entry whose slug differs per locale gives one change per locale, so
// that a rule template's {culture} and {slug} belong together.
func (s *Source) Parse(body []byte, hdr http.Header) ([]change.Change, error) {
	topic := strings.TrimSpace(hdr.Get(TopicHeader))
	if topic == "" {
		return nil, source.Malformed("missing %s header", TopicHeader)
	}
	parts := strings.Split(topic, ".")
	if len(parts) != 3 || parts[1] == "" || parts[2] == "" {
		return nil, source.Malformed("%s %q is not ContentManagement.<Type>.<action>", TopicHeader, topic)
	}
	var p payload
	if err := source.DecodeJSON(body, &p); err != nil {
		return nil, err
	}
	if slices.Contains(drafts, parts[2]) {
		return nil, nil
	}
	if p.Sys == nil || p.Sys.ID == "" {
		return nil, source.Malformed("missing field sys.id")
	}
	kind, ok := kinds[parts[1]+"."+parts[2]]
	if !ok {
		kind = change.Other
	}
	base := change.Change{Source: s.opts.Name, Event: topic, Kind: kind, ContentID: p.Sys.ID}
	switch {
	case parts[1] == "ContentType":
		base.ContentType = p.Sys.ID
	case p.Sys.ContentType != nil:
		base.ContentType = p.Sys.ContentType.Sys.ID
	}
	if p.Metadata != nil {
		for _, t := range p.Metadata.Tags {
			base.Tags = append(base.Tags, t.Sys.ID)
		}
		base.Tags = source.Distinct(base.Tags...)
	}
	common := map[string]string{
		"sys_type":     p.Sys.Type,
		"webhook_name": strings.TrimSpace(hdr.Get(WebhookNameHeader)),
	}
	if p.Sys.Space != nil {
		common["space"] = p.Sys.Space.Sys.ID
	}
	if p.Sys.Environment != nil {
		common["environment"] = p.Sys.Environment.Sys.ID
	}

	// Field values by field, then locale; only short scalars are kept.
	values := map[string]map[string]string{}
	localeSet := map[string]bool{}
	var fieldMap map[string]json.RawMessage
	if len(p.Fields) > 0 && p.Fields[0] == '{' {
		_ = json.Unmarshal(p.Fields, &fieldMap) // the decoder already validated it
	}
	for name, raw := range fieldMap {
		var byLocale map[string]source.Loose
		if json.Unmarshal(raw, &byLocale) != nil {
			continue // not locale-keyed: a payload transformation
		}
		for loc, v := range byLocale {
			localeSet[loc] = true
			if v != "" && len(v) <= maxFieldText {
				if values[name] == nil {
					values[name] = map[string]string{}
				}
				values[name][loc] = string(v)
			}
		}
	}
	locales := make([]string, 0, len(localeSet))
	for l := range localeSet {
		locales = append(locales, l)
	}
	sort.Strings(locales)

	build := func(cultures []string, loc string) change.Change {
		c := base
		c.Tags = slices.Clone(base.Tags)
		c.Cultures = cultures
		f := map[string]string{}
		for k, v := range common {
			if v != "" {
				f[k] = v
			}
		}
		for name, byLocale := range values {
			if v, ok := byLocale[loc]; ok {
				f["fields."+name] = v
			}
		}
		c.Slug = f["fields.slug"]
		if len(f) > 0 {
			c.Fields = f
		}
		return c
	}
	if slugs := values["slug"]; len(slugs) > 1 {
		out := make([]change.Change, 0, len(locales))
		for _, loc := range locales {
			out = append(out, build([]string{loc}, loc))
		}
		return out, nil
	}
	loc := ""
	if len(locales) > 0 {
		loc = locales[0]
		if slugs := values["slug"]; len(slugs) == 1 {
			for l := range slugs {
				loc = l
			}
		}
	}
	return []change.Change{build(source.Distinct(locales...), loc)}, nil
}
