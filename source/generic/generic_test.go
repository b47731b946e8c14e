package generic

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/purgehook/purgehook/source"
	"github.com/purgehook/purgehook/source/sourcetest"
)

func newSource(opts source.Options) (source.Source, error) { return New(opts), nil }

// The Umbraco guide's contract (shared/seeds/umbraco-cloudflare-purge-guide.txt §4.3).
var validBody = []byte(`{ "event": "ContentPublished", "timestamp": "2026-03-05T14:30:00Z", "content": { "id": "guid-here", "contentType": "roomDetailPage", "cultures": ["pt", "en"], "urls": [ "/pt/alojamento/quarto-deluxe", "/en/accommodation/deluxe-room" ] }, "dependencies": [ "/pt/alojamento", "/en/accommodation", "/pt/", "/en/" ]}`)

func request(body []byte, secret string, _ time.Time) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/hooks/test", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set(SignatureHeader, Sign(secret, body))
	return r
}

func TestSign(t *testing.T) {
	t.Parallel()
	// printf '%s' hello | openssl dgst -sha256 -hmac secret
	if got := Sign("secret", []byte("hello")); got != "88aab3ede8d3adf94d26ab90d3bafd4a2083070c3bcce9c014ee04a443847c0b" {
		t.Fatalf("Sign = %s", got)
	}
	s := New(sourcetest.Options("secret"))
	for _, v := range []string{"sha256=" + Sign("secret", validBody), strings.ToUpper(Sign("secret", validBody))} {
		r := request(validBody, "x", sourcetest.Now)
		r.Header.Set(SignatureHeader, v)
		if err := s.Verify(r, validBody); err != nil {
			t.Errorf("%q rejected: %v", v, err)
		}
	}
}

func TestVerifyRejections(t *testing.T) {
	t.Parallel()
	sourcetest.VerifyRejections(t, sourcetest.Scheme{
		New:      newSource,
		Sign:     request,
		Secret:   "publish-secret",
		Other:    "other-secret",
		Required: []string{SignatureHeader},
		Body:     validBody,
	})
}

func TestGolden(t *testing.T) {
	t.Parallel()
	sourcetest.Golden(t, New(sourcetest.Options("k")))
}

func TestParseRejections(t *testing.T) {
	t.Parallel()
	sourcetest.ParseRejections(t, New(sourcetest.Options("k")), http.Header{}, validBody, false)
}

func TestDeliveryID(t *testing.T) {
	t.Parallel()
	h := http.Header{}
	h.Set(IDHeader, " d-1 ")
	if got := New(sourcetest.Options("k")).DeliveryID(h, nil); got != "d-1" {
		t.Fatalf("got %q", got)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(validBody)
	f.Add([]byte(`{"event":"MediaSaved","content":{"id":"m","urls":[""]}}`))
	f.Add([]byte(`{"event":"","content":null}`))
	s := New(sourcetest.Options("k"))
	f.Fuzz(func(t *testing.T, body []byte) {
		changes, err := s.Parse(body, nil)
		sourcetest.CheckChanges(t, changes, err)
	})
}

// FuzzVerify: a request passes only if its signature is the hex
// HMAC-SHA256 of the body (optionally prefixed sha256=, any case).
func FuzzVerify(f *testing.F) {
	f.Add(validBody, Sign("publish-secret", validBody))
	f.Add(validBody, "sha256="+Sign("publish-secret", validBody))
	f.Add([]byte{}, "")
	s := New(sourcetest.Options("publish-secret"))
	f.Fuzz(func(t *testing.T, body []byte, sig string) {
		r := httptest.NewRequest(http.MethodPost, "/hooks/test", bytes.NewReader(body))
		r.Header.Set(SignatureHeader, sig)
		if s.Verify(r, body) != nil {
			return
		}
		got := strings.ToLower(strings.TrimPrefix(strings.TrimSpace(r.Header.Get(SignatureHeader)), "sha256="))
		if got != Sign("publish-secret", body) {
			t.Fatalf("accepted %q for %q", sig, body)
		}
	})
}
