// Package sanity accepts Sanity GROQ-powered webhooks. The body is the
// webhook's projection of the document (the whole document when the
// projection is empty); the operation is in sanity-operation, the delivery
// id in idempotency-key. With a secret set, Sanity signs
// "<timestamp>.<body>" with HMAC-SHA256, base64url without padding, in
// sanity-webhook-signature: t=<ms>,v1=<sig>. Sanity can also send custom
// headers, so a token works as well.
package sanity

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/source"
)

// Header names Sanity sends.
const (
	SignatureHeader   = "sanity-webhook-signature"
	IdempotencyHeader = "idempotency-key"
	OperationHeader   = "sanity-operation"
	DocumentIDHeader  = "sanity-document-id"
	DatasetHeader     = "sanity-dataset"
	ProjectIDHeader   = "sanity-project-id"
	TransactionHeader = "sanity-transaction-id"
	WebhookIDHeader   = "sanity-webhook-id"
)

// minTimestamp is where Sanity's toolkit draws the line: earlier values are
// seconds, not milliseconds, or garbage (2021-01-01T00:00:00Z).
const minTimestamp = 1609459200000

// Source verifies and parses Sanity webhooks.
type Source struct {
	opts source.Options
}

var (
	_ source.Source       = (*Source)(nil)
	_ source.DeliveryIDer = (*Source)(nil)
)

// Auth: Sanity either signs or sends configured headers.
const Auth = source.AuthAny

// New returns a Sanity source; it needs a secret, a token or both.
func New(opts source.Options) (*Source, error) { return &Source{opts: opts}, nil }

// Sign returns the sanity-webhook-signature value for body at ts; tests
// and the docs' curl example use it.
func Sign(secret string, ts time.Time, body []byte) string {
	t := strconv.FormatInt(ts.UnixMilli(), 10)
	return "t=" + t + ",v1=" + sig([]byte(secret), t, body)
}

func sig(key []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// The toolkit's parse rule.
var signatureRe = regexp.MustCompile(`^t=(\d+)[, ]+v1=([^, ]+)$`)

// Verify checks sanity-webhook-signature when a secret is configured (and
// the token when one is). Sanity's toolkit enforces no replay window; this
// one does, on the signed millisecond timestamp.
func (s *Source) Verify(r *http.Request, body []byte) error {
	return source.Authenticate(s.opts, r, func() error {
		h := strings.TrimSpace(r.Header.Get(SignatureHeader))
		if h == "" {
			return source.Unauthorized("missing %s header", SignatureHeader)
		}
		m := signatureRe.FindStringSubmatch(h)
		if m == nil {
			return source.Unauthorized("%s is not t=<ms>,v1=<signature>", SignatureHeader)
		}
		ts, err := source.ParseMillis(m[1])
		if err != nil || ts.UnixMilli() < minTimestamp {
			return source.Unauthorized("%s timestamp is not Unix milliseconds after 2021", SignatureHeader)
		}
		if err := source.CheckTimestamp(ts, s.opts.Clock(), s.opts.Tolerance); err != nil {
			return err
		}
		if !source.MatchAny(s.opts.Secrets, m[2], func(k []byte) string { return sig(k, m[1], body) }) {
			return source.Unauthorized("%s does not match the body", SignatureHeader)
		}
		return nil
	})
}

// DeliveryID is idempotency-key: the same across retries of one delivery.
func (s *Source) DeliveryID(hdr http.Header, _ []byte) string {
	return strings.TrimSpace(hdr.Get(IdempotencyHeader))
}

type payload struct {
	ID   source.Loose `json:"_id"`
	Type source.Loose `json:"_type"`
	Rev  source.Loose `json:"_rev"`
	// Slug is Sanity's slug object ({current}) or, in a projection like
	// "slug": slug.current, a string.
	Slug     slug         `json:"slug"`
	Language source.Loose `json:"language"`
	I18nLang source.Loose `json:"__i18n_lang"`
	Locale   source.Loose `json:"locale"`
}

type slug string

func (s *slug) UnmarshalJSON(b []byte) error {
	var obj struct {
		Current source.Loose `json:"current"`
	}
	if len(b) > 0 && b[0] == '{' {
		if json.Unmarshal(b, &obj) == nil {
			*s = slug(obj.Current)
		}
		return nil
	}
	var v source.Loose
	_ = v.UnmarshalJSON(b)
	*s = slug(v)
	return nil
}

// Parse reads the operation from sanity-operation (create, update, delete)
// and the document from the projection: _id (else sanity-document-id),
// _type, slug (an object with current, or a string) and a language field
// (language, __i18n_lang or locale) when the projection includes them.
// Drafts and release versions (ids drafts.… and versions.…) change no
// published page and give no change.
func (s *Source) Parse(body []byte, hdr http.Header) ([]change.Change, error) {
	var p payload
	if err := source.DecodeJSON(body, &p); err != nil {
		return nil, err
	}
	id := string(p.ID)
	if id == "" {
		id = strings.TrimSpace(hdr.Get(DocumentIDHeader))
	}
	if id == "" {
		return nil, source.Malformed("missing _id (project it, or keep the %s header)", DocumentIDHeader)
	}
	if strings.HasPrefix(id, "drafts.") || strings.HasPrefix(id, "versions.") {
		return nil, nil
	}
	op := strings.ToLower(strings.TrimSpace(hdr.Get(OperationHeader)))
	event := op
	if event == "" {
		event = "update" // a body without the header: the document changed
	}
	c := change.Change{
		Source:      s.opts.Name,
		Event:       event,
		Kind:        Kind(op),
		ContentID:   id,
		ContentType: string(p.Type),
		Slug:        string(p.Slug),
		Cultures:    source.Distinct(string(p.Language), string(p.I18nLang), string(p.Locale)),
	}
	f := map[string]string{}
	for k, h := range map[string]string{
		"dataset":        DatasetHeader,
		"project_id":     ProjectIDHeader,
		"transaction_id": TransactionHeader,
		"webhook_id":     WebhookIDHeader,
	} {
		if v := strings.TrimSpace(hdr.Get(h)); v != "" {
			f[k] = v
		}
	}
	if p.Rev != "" {
		f["rev"] = string(p.Rev)
	}
	if len(f) > 0 {
		c.Fields = f
	}
	return []change.Change{c}, nil
}

// Kind maps sanity-operation. Drafts are excluded by default, so create
// means a document was published for the first time.
func Kind(op string) change.Kind {
	switch op {
	case "create":
		return change.Publish
	case "delete":
		return change.Delete
	}
	return change.Update
}
