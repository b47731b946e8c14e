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
	sourcetest.ParseRejections(t, New(sourcetest.Options("k")), http.Header{}, validBody)
}

// Only the body is signed: X-Webhook-Id must not identify a delivery, or
// a captured body re-sent under a fresh id would be purged every time.
func TestNoUnsignedDeliveryID(t *testing.T) {
	t.Parallel()
	if _, ok := any(New(sourcetest.Options("k"))).(source.DeliveryIDer); ok {
		t.Fatal("the generic source takes its delivery id from an unsigned header")
	}
}

func TestTimestampInsideTheReplayWindow(t *testing.T) {
	t.Parallel()
	at := func(ts string) []byte {
		return []byte(`{"event":"ContentPublished","timestamp":"` + ts + `","content":{"id":"1"}}`)
	}
	s := New(sourcetest.Options("k")) // the clock is sourcetest.Now, the window 5m
	for _, tc := range []struct {
		ts     string
		status int
	}{
		{"2026-03-05T14:30:00Z", 0},
		{"2026-03-05T14:26:00Z", 0},
		{"2026-03-05T15:30:00+01:00", 0},
		{"2026-03-05T14:24:59Z", http.StatusUnauthorized},
		{"2026-03-05T14:35:01Z", http.StatusUnauthorized},
		{"2025-03-05T14:30:00Z", http.StatusUnauthorized},
		{"5 March", http.StatusBadRequest},
	} {
		_, err := s.Parse(at(tc.ts), nil)
		switch {
		case tc.status == 0 && err != nil:
			t.Errorf("%s rejected: %v", tc.ts, err)
		case tc.status != 0 && (err == nil || source.StatusOf(err) != tc.status):
			t.Errorf("%s: %v, want %d", tc.ts, err, tc.status)
		}
	}
	off := sourcetest.Options("k")
	off.Tolerance = 0
	if _, err := New(off).Parse(at("2020-01-01T00:00:00Z"), nil); err != nil {
		t.Errorf("replay_window 0 disables the check: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(validBody)
	f.Add([]byte(`{"event":"MediaSaved","content":{"id":"m","urls":[""]}}`))
	f.Add([]byte(`{"event":"","content":null}`))
	f.Add([]byte(`{"event":"ContentPublished","timestamp":"0001-01-01T00:00:00Z","content":{"id":"1"}}`))
	s := New(sourcetest.Options("k"))
	f.Fuzz(func(t *testing.T, body []byte) {
		changes, err := s.Parse(body, nil)
		// The generic body carries its own signed timestamp, so Parse is
		// where a replay is caught, and a replay is a 401, not a 400
		// (TestTimestampInsideTheReplayWindow pins which timestamps).
		if source.StatusOf(err) == http.StatusUnauthorized && strings.HasPrefix(err.Error(), "authentication failed: timestamp too ") {
			if changes != nil {
				t.Fatal("changes returned with an error")
			}
			return
		}
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
