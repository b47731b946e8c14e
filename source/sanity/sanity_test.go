package sanity

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/purgehook/purgehook/source"
	"github.com/purgehook/purgehook/source/sourcetest"
)

func newSource(opts source.Options) (source.Source, error) { return New(opts) }

// The webhook toolkit's test vector (shared/docs/sources.md §7).
const (
	vecSecret  = "test"
	vecPayload = `{"_id":"resume"}`
	vecHeader  = "t=1633519811129,v1=tLa470fx7qkLLEcMOcEUFuBbRSkGujyskxrNXcoh0N0"
	vecMillis  = 1633519811129
)

func request(body []byte, sig string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/hooks/test", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	if sig != "" {
		r.Header.Set(SignatureHeader, sig)
	}
	return r
}

func vectorSource(t testing.TB, tolerance time.Duration) *Source {
	t.Helper()
	s, _ := New(source.Options{Name: sourcetest.Name, Secrets: []string{vecSecret}, Tolerance: tolerance,
		Now: func() time.Time { return time.UnixMilli(vecMillis).Add(2 * time.Second) }})
	return s
}

func TestVector(t *testing.T) {
	t.Parallel()
	body := []byte(vecPayload)
	if got := Sign(vecSecret, time.UnixMilli(vecMillis), body); got != vecHeader {
		t.Fatalf("Sign = %s, want %s", got, vecHeader)
	}
	s := vectorSource(t, source.DefaultTolerance)
	if err := s.Verify(request(body, vecHeader), body); err != nil {
		t.Fatalf("vector rejected: %v", err)
	}
	if err := s.Verify(request(body, "t=1633519811129, v1=tLa470fx7qkLLEcMOcEUFuBbRSkGujyskxrNXcoh0N0"), body); err != nil {
		t.Errorf("space after the comma (the toolkit's regex allows it): %v", err)
	}
	for name, c := range map[string]struct{ header, body string }{
		"timestamp changed": {"t=1633519811128,v1=tLa470fx7qkLLEcMOcEUFuBbRSkGujyskxrNXcoh0N0", vecPayload},
		"hash changed":      {"t=1633519811129,v1=tLa470fx7qkLLEcMOcEUFuBbRSkGujyskxrNXcoh0N1", vecPayload},
		"payload changed":   {vecHeader, `{"_id":"structure"}`},
		"unknown version":   {"t=1633519811129,v5=tLa470fx7qkLLEcMOcEUFuBbRSkGujyskxrNXcoh0N0", vecPayload},
		"seconds":           {"t=1633519811,v1=tLa470fx7qkLLEcMOcEUFuBbRSkGujyskxrNXcoh0N0", vecPayload},
		"padded":            {vecHeader + "=", vecPayload},
		"missing":           {"", vecPayload},
	} {
		t.Run(name, func(t *testing.T) {
			sourcetest.WantUnauthorized(t, s.Verify(request([]byte(c.body), c.header), []byte(c.body)), vecSecret)
		})
	}
	// The vector is from 2021: outside the window it is a replay.
	late, _ := New(sourcetest.Options(vecSecret))
	sourcetest.WantUnauthorized(t, late.Verify(request(body, vecHeader), body))
	if err := vectorSource(t, 0).Verify(request(body, vecHeader), body); err != nil {
		t.Errorf("window disabled: %v", err)
	}
}

var validBody = []byte(`{"_id":"post-42","_type":"post","_rev":"abc","slug":{"_type":"slug","current":"spring-menu"},"language":"en","title":"Spring menu"}`)

func TestVerifyRejections(t *testing.T) {
	t.Parallel()
	sourcetest.VerifyRejections(t, sourcetest.Scheme{
		New: newSource,
		Sign: func(body []byte, secret string, ts time.Time) *http.Request {
			return request(body, Sign(secret, ts, body))
		},
		Secret:      "a-sanity-secret",
		Other:       "another-secret",
		Timestamped: true,
		Required:    []string{SignatureHeader},
		Body:        validBody,
	})
}

func TestToken(t *testing.T) {
	t.Parallel()
	sourcetest.TokenRejections(t, newSource, validBody)
}

func TestGolden(t *testing.T) {
	t.Parallel()
	s, _ := New(sourcetest.Options("k"))
	sourcetest.Golden(t, s)
}

func header() http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(OperationHeader, "update")
	return h
}

func TestParseRejections(t *testing.T) {
	t.Parallel()
	s, _ := New(sourcetest.Options("k"))
	sourcetest.ParseRejections(t, s, header(), validBody)
}

func TestDeliveryID(t *testing.T) {
	t.Parallel()
	h := header()
	h.Set(IdempotencyHeader, "idem-1")
	s, _ := New(sourcetest.Options("k"))
	if got := s.DeliveryID(h, nil); got != "idem-1" {
		t.Fatalf("got %q", got)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("update", validBody)
	f.Add("create", []byte(vecPayload))
	f.Add("delete", []byte(`{"slug":"plain","__i18n_lang":"pt"}`))
	f.Add("", []byte(`{"_id":"drafts.x","slug":{"current":7}}`))
	s, _ := New(sourcetest.Options("k"))
	f.Fuzz(func(t *testing.T, op string, body []byte) {
		h := header()
		h.Set(OperationHeader, op)
		changes, err := s.Parse(body, h)
		sourcetest.CheckChanges(t, changes, err)
	})
}

var headerRef = regexp.MustCompile(`^t=(\d+)[, ]+v1=([^, ]+)$`)

// FuzzVerify: a request passes only with a well-formed header whose
// timestamp is in the window and whose v1 is the signature of
// "<t>.<body>".
func FuzzVerify(f *testing.F) {
	f.Add([]byte(vecPayload), vecHeader)
	f.Add([]byte(vecPayload), "t=1633519811128,v1=tLa470fx7qkLLEcMOcEUFuBbRSkGujyskxrNXcoh0N0")
	f.Add([]byte{}, "t=,v1=")
	s := vectorSource(f, source.DefaultTolerance)
	now := time.UnixMilli(vecMillis).Add(2 * time.Second)
	f.Fuzz(func(t *testing.T, body []byte, sig string) {
		r := request(body, "")
		r.Header.Set(SignatureHeader, sig)
		if s.Verify(r, body) != nil {
			return
		}
		m := headerRef.FindStringSubmatch(r.Header.Get(SignatureHeader))
		if m == nil {
			t.Fatalf("accepted header %q", sig)
		}
		ms, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil || ms < now.Add(-5*time.Minute).UnixMilli() || ms > now.Add(5*time.Minute).UnixMilli() {
			t.Fatalf("accepted timestamp %q", m[1])
		}
		if want := Sign(vecSecret, time.UnixMilli(ms), body); want != "t="+strconv.FormatInt(ms, 10)+",v1="+m[2] {
			t.Fatalf("accepted header %q for body %q", sig, body)
		}
	})
}
