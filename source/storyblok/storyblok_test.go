package storyblok

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

func newSource(opts source.Options) (source.Source, error) { return New(opts) }

// The example payload from Storyblok's docs (shared/docs/sources.md §8).
var docBody = []byte(`{"action":"published","text":"The user test@domain.com published the Story XYZ (xyz)","story_id":123,"space_id":123}`)

func request(body []byte, sig string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/hooks/test", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	if sig != "" {
		r.Header.Set(SignatureHeader, sig)
	}
	return r
}

func TestSign(t *testing.T) {
	t.Parallel()
	// Reference: printf '%s' hello | openssl dgst -sha1 -hmac secret
	if got := Sign("secret", []byte("hello")); got != "5112055c05f944f85755efc5cd8970e194e9f45b" {
		t.Fatalf("Sign = %q", got)
	}
	s, _ := New(sourcetest.Options("secret"))
	if err := s.Verify(request(docBody, strings.ToUpper(Sign("secret", docBody))), docBody); err != nil {
		t.Errorf("upper-case hex rejected: %v", err)
	}
}

func TestVerifyRejections(t *testing.T) {
	t.Parallel()
	sourcetest.VerifyRejections(t, sourcetest.Scheme{
		New:      newSource,
		Sign:     func(body []byte, secret string, _ time.Time) *http.Request { return request(body, Sign(secret, body)) },
		Secret:   "storyblok-secret",
		Other:    "other-secret",
		Required: []string{SignatureHeader},
		Body:     docBody,
	})
}

func TestGolden(t *testing.T) {
	t.Parallel()
	s, _ := New(sourcetest.Options("k"))
	sourcetest.Golden(t, s)
}

func TestParseRejections(t *testing.T) {
	t.Parallel()
	s, _ := New(sourcetest.Options("k"))
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	sourcetest.ParseRejections(t, s, h, docBody)
}

func FuzzParse(f *testing.F) {
	f.Add(docBody)
	f.Add([]byte(`{"action":"deleted","asset_id":"9","space_id":1}`))
	f.Add([]byte(`{"action":"moved","story_id":"5","full_slug":"/"}`))
	f.Add([]byte(`{"action":"release_merged","release_id":3}`))
	s, _ := New(sourcetest.Options("k"))
	f.Fuzz(func(t *testing.T, body []byte) {
		changes, err := s.Parse(body, nil)
		sourcetest.CheckChanges(t, changes, err)
	})
}

// FuzzVerify: a request passes only if its signature is the hex
// HMAC-SHA1 of the body.
func FuzzVerify(f *testing.F) {
	const secret = "storyblok-secret"
	f.Add(docBody, Sign(secret, docBody))
	f.Add(docBody, Sign("other", docBody))
	f.Add([]byte{}, "")
	s, _ := New(sourcetest.Options(secret))
	f.Fuzz(func(t *testing.T, body []byte, sig string) {
		r := request(body, "")
		r.Header.Set(SignatureHeader, sig)
		if s.Verify(r, body) != nil {
			return
		}
		if strings.ToLower(strings.TrimSpace(r.Header.Get(SignatureHeader))) != Sign(secret, body) {
			t.Fatalf("accepted %q for %q", sig, body)
		}
	})
}
