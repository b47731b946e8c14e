package sitefinity

import (
	"bytes"
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

// A reference value computed outside Go, the way Sitefinity's C# sender
// does it (HMACSHA256 over UTF-8 body + "_" + timestamp, base64):
//
//	printf '%s_%s' '{"Name":"Page is published"}' 1772721000000 |
//	  openssl dgst -sha256 -hmac sf-secret -binary | base64
func TestSign(t *testing.T) {
	t.Parallel()
	if got := Sign("sf-secret", []byte(`{"Name":"Page is published"}`), "1772721000000"); got != "BnM9rfWgYd4ulqHHlgAByyNxpfCCaVvRM6j7TUHKTwc=" {
		t.Fatalf("Sign = %s", got)
	}
}

var validBody = []byte(`{"Name":"Page is published","Item":{"Id":"a1b2c3d4-0000-4000-8000-000000000001","UrlName":"deluxe-room","RelativeUrlPath":"/accommodation/deluxe-room"},"OriginalEvent":{"Action":"Updated","ItemType":"Telerik.Sitefinity.Pages.Model.PageNode","ItemId":"a1b2c3d4-0000-4000-8000-000000000001","Language":"en"},"OriginalEventType":"Telerik.Sitefinity.Data.Events.PageEvent"}`)

func request(body []byte, secret string, ts time.Time) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/hooks/test", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json; charset=utf-8")
	stamp := SignedAt(ts)
	r.Header.Set(TimestampHeader, stamp)
	r.Header.Set(SignatureHeader, Sign(secret, body, stamp))
	return r
}

func TestVerifyRejections(t *testing.T) {
	t.Parallel()
	sourcetest.VerifyRejections(t, sourcetest.Scheme{
		New:         newSource,
		Sign:        request,
		Secret:      "sf-secret",
		Other:       "other-secret",
		Timestamped: true,
		Required:    []string{SignatureHeader, TimestampHeader},
		Body:        validBody,
	})
	// The timestamp is part of the signed string.
	s, _ := New(sourcetest.Options("sf-secret"))
	r := request(validBody, "sf-secret", sourcetest.Now)
	r.Header.Set(TimestampHeader, SignedAt(sourcetest.Now.Add(time.Millisecond)))
	sourcetest.WantUnauthorized(t, s.Verify(r, validBody), "sf-secret")
}

func TestTokenAndBasic(t *testing.T) {
	t.Parallel()
	sourcetest.TokenRejections(t, newSource, validBody)
}

// With both configured, both must pass.
func TestHMACAndToken(t *testing.T) {
	t.Parallel()
	o := sourcetest.Options("sf-secret")
	o.Token = "tok"
	s, _ := New(o)
	r := request(validBody, "sf-secret", sourcetest.Now)
	sourcetest.WantUnauthorized(t, s.Verify(r, validBody))
	r.Header.Set("Authorization", "Bearer tok")
	if err := s.Verify(r, validBody); err != nil {
		t.Fatal(err)
	}
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
	h.Set("Content-Type", "application/json; charset=utf-8")
	sourcetest.ParseRejections(t, s, h, validBody)
}

func TestKind(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ name, action, itemType, want string }{
		{"Page is published", "Updated", "Telerik.Sitefinity.Pages.Model.PageNode", "publish"},
		{"News item is unpublished", "Updated", "", "unpublish"},
		{"Page is deleted", "Deleted", "", "delete"},
		{"", "New", "", "publish"},
		{"", "Updated", "", "update"},
		{"Image is published", "New", "Telerik.Sitefinity.Libraries.Model.Image", "media"},
		{"Something", "Else", "", "other"},
	} {
		if got := string(Kind(c.name, c.action, c.itemType)); got != c.want {
			t.Errorf("Kind(%q, %q, %q) = %s, want %s", c.name, c.action, c.itemType, got, c.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(validBody)
	f.Add([]byte(`{"Name":"Page is deleted","Item":null,"OriginalEvent":{"Action":"Deleted","ItemId":"x","AffectedLanguages":["en",null,1]}}`))
	f.Add([]byte(`{"Item":{"Id":{"a":1}}}`))
	s, _ := New(sourcetest.Options("k"))
	f.Fuzz(func(t *testing.T, body []byte) {
		changes, err := s.Parse(body, nil)
		sourcetest.CheckChanges(t, changes, err)
	})
}

// FuzzVerify: a request passes only if its timestamp is in the window and
// its signature is base64 HMAC-SHA256 of body + "_" + timestamp.
func FuzzVerify(f *testing.F) {
	good := request(validBody, "sf-secret", sourcetest.Now)
	f.Add(validBody, good.Header.Get(SignatureHeader), good.Header.Get(TimestampHeader))
	f.Add([]byte{}, "", "")
	f.Add(validBody, good.Header.Get(SignatureHeader), "0"+good.Header.Get(TimestampHeader))
	s, _ := New(sourcetest.Options("sf-secret"))
	f.Fuzz(func(t *testing.T, body []byte, sig, ts string) {
		r := httptest.NewRequest(http.MethodPost, "/hooks/test", bytes.NewReader(body))
		r.Header.Set(SignatureHeader, sig)
		r.Header.Set(TimestampHeader, ts)
		if s.Verify(r, body) != nil {
			return
		}
		stamp := strings.TrimSpace(r.Header.Get(TimestampHeader))
		ms, err := strconv.ParseInt(stamp, 10, 64)
		if err != nil || ms < sourcetest.Now.Add(-5*time.Minute).UnixMilli() || ms > sourcetest.Now.Add(5*time.Minute).UnixMilli() {
			t.Fatalf("accepted timestamp %q", ts)
		}
		if strings.TrimSpace(r.Header.Get(SignatureHeader)) != Sign("sf-secret", body, stamp) {
			t.Fatalf("accepted signature %q", sig)
		}
	})
}
