package standard

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/purgehook/purgehook/source"
	"github.com/purgehook/purgehook/source/sourcetest"
)

func newSource(opts source.Options) (source.Source, error) { return New(opts) }

// The spec's test vector (shared/docs/sources.md §1), identical in every
// official library's tests.
const (
	vecSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vecID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vecTimestamp = 1614265330
	vecPayload   = `{"test": 2432232314}`
	vecSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func request(body []byte, id, ts, sig string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/hooks/test", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	for k, v := range map[string]string{IDHeader: id, TimestampHeader: ts, SignatureHeader: sig} {
		if v != "" {
			r.Header.Set(k, v)
		}
	}
	return r
}

func vectorSource(t testing.TB, secrets ...string) *Source {
	t.Helper()
	s, err := New(source.Options{Name: sourcetest.Name, Secrets: secrets, Tolerance: source.DefaultTolerance,
		Now: func() time.Time { return time.Unix(vecTimestamp, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVector(t *testing.T) {
	t.Parallel()
	body := []byte(vecPayload)
	sig, err := Sign(vecSecret, vecID, time.Unix(vecTimestamp, 0), body)
	if err != nil || sig != vecSignature {
		t.Fatalf("Sign = %q, %v; want %s", sig, err, vecSignature)
	}
	const ts = "1614265330"
	for _, c := range []struct {
		name    string
		secrets []string
		sig     string
		ok      bool
	}{
		{"vector", []string{vecSecret}, vecSignature, true},
		{"without whsec_ prefix", []string{strings.TrimPrefix(vecSecret, "whsec_")}, vecSignature, true},
		{"rotation: several signatures", []string{vecSecret}, "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= " + vecSignature, true},
		{"rotation: several secrets", []string{"whsec_" + base64.StdEncoding.EncodeToString([]byte("another key, 24 bytes ok")), vecSecret}, vecSignature, true},
		{"unknown versions are skipped", []string{vecSecret}, "v2," + strings.TrimPrefix(vecSignature, "v1,") + " " + vecSignature, true},
		{"wrong signature", []string{vecSecret}, "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=", false},
		{"partial signature", []string{vecSecret}, "v1,", false},
		{"only another version", []string{vecSecret}, "v2," + strings.TrimPrefix(vecSignature, "v1,"), false},
		{"no version", []string{vecSecret}, strings.TrimPrefix(vecSignature, "v1,"), false},
		{"wrong secret", []string{"whsec_" + base64.StdEncoding.EncodeToString([]byte("another key, 24 bytes ok"))}, vecSignature, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := vectorSource(t, c.secrets...).Verify(request(body, vecID, ts, c.sig), body)
			if c.ok && err != nil {
				t.Fatalf("rejected: %v", err)
			}
			if !c.ok {
				sourcetest.WantUnauthorized(t, err, c.secrets...)
			}
		})
	}
	s := vectorSource(t, vecSecret)
	sourcetest.WantUnauthorized(t, s.Verify(request([]byte(`{"test": 2432232315}`), vecID, ts, vecSignature), []byte(`{"test": 2432232315}`)))
	sourcetest.WantUnauthorized(t, s.Verify(request(body, "msg_other", ts, vecSignature), body))
	sourcetest.WantUnauthorized(t, s.Verify(request(body, vecID, "1614265331", vecSignature), body))
	sourcetest.WantUnauthorized(t, s.Verify(request(body, vecID, "1614265330.0", vecSignature), body))
	if id := s.DeliveryID(request(body, vecID, ts, vecSignature).Header, body); id != vecID {
		t.Errorf("delivery id = %q", id)
	}
}

func TestBadSecrets(t *testing.T) {
	t.Parallel()
	for _, secret := range []string{"", "whsec_", "whsec_not base64!"} {
		if _, err := New(source.Options{Name: "s", Secrets: []string{secret}}); err == nil {
			t.Errorf("secret %q accepted", secret)
		} else if secret != "" && strings.Contains(err.Error(), strings.TrimPrefix(secret, "whsec_")) && secret != "whsec_" {
			t.Errorf("error quotes the secret: %v", err)
		}
	}
}

var validBody = []byte(`{"type":"content.published","timestamp":"2026-03-05T14:30:00Z","data":{"id":"42","content_type":"article","culture":"en","slug":"spring-menu","urls":["/en/news/spring-menu"]}}`)

func TestVerifyRejections(t *testing.T) {
	t.Parallel()
	sourcetest.VerifyRejections(t, sourcetest.Scheme{
		New: newSource,
		Sign: func(body []byte, secret string, ts time.Time) *http.Request {
			sig, err := Sign(secret, "msg_1", ts, body)
			if err != nil {
				t.Fatal(err)
			}
			return request(body, "msg_1", strconv.FormatInt(ts.Unix(), 10), sig)
		},
		Secret:      vecSecret,
		Other:       "whsec_" + base64.StdEncoding.EncodeToString([]byte("another key, 24 bytes ok")),
		Timestamped: true,
		Required:    []string{IDHeader, TimestampHeader, SignatureHeader},
		Body:        validBody,
	})
}

func TestGolden(t *testing.T) {
	t.Parallel()
	s, err := New(sourcetest.Options(vecSecret))
	if err != nil {
		t.Fatal(err)
	}
	sourcetest.Golden(t, s)
}

func TestParseRejections(t *testing.T) {
	t.Parallel()
	s, _ := New(sourcetest.Options(vecSecret))
	sourcetest.ParseRejections(t, s, http.Header{}, validBody)
}

func TestKind(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"content.published": "publish", "page.unpublished": "unpublish", "entry.deleted": "delete",
		"media.deleted": "media", "asset.created": "media", "content.updated": "update", "published": "publish",
		"site.deployed": "deploy", "": "update",
	} {
		if got := string(Kind(in)); got != want {
			t.Errorf("Kind(%q) = %s, want %s", in, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(validBody)
	f.Add([]byte(vecPayload))
	f.Add([]byte(`{"type":"media.deleted","data":{"id":7,"tags":["a",""],"dependencies":["/"]}}`))
	s, _ := New(sourcetest.Options(vecSecret))
	f.Fuzz(func(t *testing.T, body []byte) {
		changes, err := s.Parse(body, nil)
		sourcetest.CheckChanges(t, changes, err)
	})
}

// FuzzVerify: a request passes only if its timestamp is inside the window
// and one of its v1 entries is the signature of id.timestamp.body under the
// configured secret.
func FuzzVerify(f *testing.F) {
	now := time.Unix(vecTimestamp, 0)
	f.Add([]byte(vecPayload), vecID, "1614265330", vecSignature)
	f.Add([]byte(vecPayload), vecID, "1614265330", "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= "+vecSignature)
	f.Add([]byte(vecPayload), vecID, "1614265000", vecSignature)
	f.Add([]byte{}, "", "", "")
	s := vectorSource(f, vecSecret)
	f.Fuzz(func(t *testing.T, body []byte, id, ts, sig string) {
		r := httptest.NewRequest(http.MethodPost, "/hooks/test", bytes.NewReader(body))
		r.Header.Set(IDHeader, id)
		r.Header.Set(TimestampHeader, ts)
		r.Header.Set(SignatureHeader, sig)
		if s.Verify(r, body) != nil {
			return
		}
		sec, err := strconv.ParseInt(r.Header.Get(TimestampHeader), 10, 64)
		if err != nil || sec < now.Unix()-300 || sec > now.Unix()+300 {
			t.Fatalf("accepted timestamp %q", ts)
		}
		want, _ := Sign(vecSecret, r.Header.Get(IDHeader), time.Unix(sec, 0), body)
		for entry := range strings.SplitSeq(r.Header.Get(SignatureHeader), " ") {
			if entry == want {
				return
			}
		}
		t.Fatalf("accepted signature %q for id %q ts %q body %q", sig, id, ts, body)
	})
}
