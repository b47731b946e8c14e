package contentful

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

// Contentful publishes no fixed test vector, so these were produced with
// its own signer, @contentful/node-apps-toolkit 3.16.1:
// signRequest(secret, {method, path, headers, body}, ts).
var fixtures = []struct {
	name, secret          string
	ts                    int64
	method, path, body    string
	headers               map[string]string
	signature, signedList string
}{
	{
		name: "post", secret: strings.Repeat("a", 64), ts: 1603379941037, method: "POST", path: "/hooks/contentful",
		headers:    map[string]string{"X-Contentful-Topic": "ContentManagement.Entry.publish", "Content-Type": "application/vnd.contentful.management.v1+json"},
		body:       `{"sys":{"id":"5KsDBWseXY6QegucYAoacS","type":"Entry","contentType":{"sys":{"id":"article"}}},"fields":{"slug":{"en-US":"spring-menu"}}}`,
		signature:  "359cea8ef192ef6ab3d14a981f6c9c68d9197ffd955643f3cf9d7daa0db91110",
		signedList: "content-type,x-contentful-signed-headers,x-contentful-timestamp,x-contentful-topic",
	},
	{
		name: "query", secret: "Zk3-_v9QpL2mN8xR4tY7uW1eA6sD0fG5hJ3kL9zX2cV7bN4mQ8wE1rT6yU0iO5p=", ts: 1772721000000, method: "POST",
		path:       "/hooks/contentful?env=prod&x=a b/é",
		headers:    map[string]string{"x-contentful-topic": " ContentManagement.Asset.delete ", "x-contentful-webhook-name": "Purge"},
		signature:  "72630f415313fc87f1345ad9377b6fb39f15ff62bbe2691401ab98abbe3a06c5",
		signedList: "x-contentful-signed-headers,x-contentful-timestamp,x-contentful-topic,x-contentful-webhook-name",
	},
	{
		name: "unicode path", secret: strings.Repeat("a", 64), ts: 1772721000000, method: "PUT", path: "/hooks/ça va%20x", body: "x",
		headers:    map[string]string{},
		signature:  "e1d96ef8c0d3e808c4e31e3a56f0c26debb81a074b216a660fbefb722e041307",
		signedList: "x-contentful-signed-headers,x-contentful-timestamp",
	},
}

func TestToolkitFixtures(t *testing.T) {
	t.Parallel()
	for _, fx := range fixtures {
		t.Run(fx.name, func(t *testing.T) {
			hdr := http.Header{}
			for k, v := range fx.headers {
				hdr.Set(k, v)
			}
			signed := Sign(fx.secret, fx.method, fx.path, hdr, []byte(fx.body), fx.ts)
			if got := signed.Get(SignatureHeader); got != fx.signature {
				t.Errorf("Sign = %s, want the toolkit's %s", got, fx.signature)
			}
			if got := signed.Get(SignedHeadersHeader); got != fx.signedList {
				t.Errorf("signed headers = %s, want %s", got, fx.signedList)
			}
			hdr.Set(SignedHeadersHeader, fx.signedList)
			hdr.Set(TimestampHeader, strconv.FormatInt(fx.ts, 10))
			if got := source.HexSHA256([]byte(fx.secret), Canonical(fx.method, fx.path, hdr, []byte(fx.body))); got != fx.signature {
				t.Errorf("canonical request signs as %s, want %s", got, fx.signature)
			}
		})
	}
	// The first fixture through Verify, as a real request.
	fx := fixtures[0]
	r := httptest.NewRequest(fx.method, fx.path, strings.NewReader(fx.body))
	for k, v := range fx.headers {
		r.Header.Set(k, v)
	}
	r.Header.Set(SignatureHeader, fx.signature)
	r.Header.Set(SignedHeadersHeader, fx.signedList)
	r.Header.Set(TimestampHeader, strconv.FormatInt(fx.ts, 10))
	s, _ := New(source.Options{Name: "cf", Secrets: []string{fx.secret}, Tolerance: 30 * time.Second,
		Now: func() time.Time { return time.UnixMilli(fx.ts + 1000) }})
	if err := s.Verify(r, []byte(fx.body)); err != nil {
		t.Fatalf("toolkit-signed request rejected: %v", err)
	}
	// Unsigned headers may change; signed ones may not.
	r.Header.Set("X-Other", "added by a proxy")
	if err := s.Verify(r, []byte(fx.body)); err != nil {
		t.Errorf("unsigned header broke the signature: %v", err)
	}
	r.Header.Set("X-Contentful-Topic", "ContentManagement.Entry.delete")
	sourcetest.WantUnauthorized(t, s.Verify(r, []byte(fx.body)), fx.secret)
}

// Expected values from the toolkit's getNormalizedEncodedURI (node 20).
func TestNormalizePath(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"/hooks/contentful":         "/hooks/contentful",
		"/a?b=c&d=e":                "/a?b%253Dc%2526d%253De",
		"/a b":                      "/a%20b",
		"/%20":                      "/%2520",
		"/a?":                       "/a",
		"/a?x?y":                    "/a?x",
		"/ça":                       "/%C3%A7a",
		"/keep;,/?:@&=+$#-_.!~*'()": "/keep;,/?%253A%2540%2526%253D%252B%2524%2523-_.!~*'()",
	} {
		if got := NormalizePath(in); got != want {
			t.Errorf("NormalizePath(%q) = %q, want %q", in, got, want)
		}
	}
}

var validBody = []byte(`{"sys":{"id":"5KsDBWseXY6QegucYAoacS","type":"Entry","contentType":{"sys":{"id":"article"}}},"fields":{"slug":{"en-US":"spring-menu"}}}`)

func request(body []byte, secret string, ts time.Time) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/hooks/test", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/vnd.contentful.management.v1+json")
	r.Header.Set(TopicHeader, "ContentManagement.Entry.publish")
	r.Header = Sign(secret, r.Method, r.RequestURI, r.Header, body, ts.UnixMilli())
	return r
}

func TestVerifyRejections(t *testing.T) {
	t.Parallel()
	sourcetest.VerifyRejections(t, sourcetest.Scheme{
		New:         newSource,
		Sign:        request,
		Secret:      strings.Repeat("s", 64),
		Other:       strings.Repeat("o", 64),
		Timestamped: true,
		Required:    []string{SignatureHeader, SignedHeadersHeader, TimestampHeader},
		Body:        validBody,
	})
	s, _ := New(sourcetest.Options(strings.Repeat("s", 64)))
	for name, mutate := range map[string]func(r *http.Request){
		"other path":   func(r *http.Request) { r.RequestURI = "/hooks/other" },
		"other method": func(r *http.Request) { r.Method = http.MethodPut },
		"seconds":      func(r *http.Request) { r.Header.Set(TimestampHeader, strconv.FormatInt(sourcetest.Now.Unix(), 10)) },
		"signed header dropped from the list": func(r *http.Request) {
			r.Header.Set(SignedHeadersHeader, strings.Replace(r.Header.Get(SignedHeadersHeader), "x-contentful-topic", "", 1))
		},
	} {
		t.Run(name, func(t *testing.T) {
			r := request(validBody, strings.Repeat("s", 64), sourcetest.Now)
			mutate(r)
			sourcetest.WantUnauthorized(t, s.Verify(r, validBody))
		})
	}
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

func TestParseRejections(t *testing.T) {
	t.Parallel()
	s, _ := New(sourcetest.Options("k"))
	h := http.Header{}
	h.Set("Content-Type", "application/vnd.contentful.management.v1+json")
	h.Set(TopicHeader, "ContentManagement.Entry.publish")
	sourcetest.ParseRejections(t, s, h, validBody)
}

func TestDeliveryID(t *testing.T) {
	t.Parallel()
	h := http.Header{}
	h.Set(IdempotencyHeader, " 3c1e… ")
	s, _ := New(sourcetest.Options("k"))
	if got := s.DeliveryID(h, nil); got != "3c1e…" {
		t.Fatalf("got %q", got)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("ContentManagement.Entry.publish", validBody)
	f.Add("ContentManagement.Asset.delete", []byte(`{"sys":{"id":"a","type":"DeletedAsset"}}`))
	f.Add("ContentManagement.Entry.publish", []byte(`{"sys":{"id":"e"},"fields":{"slug":{"en":"a","pt":"b"},"n":{"en":1},"x":7},"metadata":{"tags":[{"sys":{"id":"t"}}]}}`))
	f.Add("x", []byte(`{}`))
	s, _ := New(sourcetest.Options("k"))
	f.Fuzz(func(t *testing.T, topic string, body []byte) {
		h := http.Header{}
		h.Set(TopicHeader, topic)
		changes, err := s.Parse(body, h)
		sourcetest.CheckChanges(t, changes, err)
	})
}

// FuzzVerify: a request passes only if its timestamp is in the window and
// its signature is the hex HMAC-SHA256 of the canonical request.
func FuzzVerify(f *testing.F) {
	secret := strings.Repeat("s", 64)
	good := request(validBody, secret, sourcetest.Now)
	f.Add(validBody, good.Header.Get(SignatureHeader), good.Header.Get(SignedHeadersHeader), good.Header.Get(TimestampHeader), "ContentManagement.Entry.publish")
	f.Add([]byte{}, "", "", "", "")
	s, _ := New(sourcetest.Options(secret))
	f.Fuzz(func(t *testing.T, body []byte, sig, signed, ts, topic string) {
		r := httptest.NewRequest(http.MethodPost, "/hooks/test", bytes.NewReader(body))
		r.Header.Set(TopicHeader, topic)
		r.Header.Set("Content-Type", "application/vnd.contentful.management.v1+json")
		r.Header.Set(SignatureHeader, sig)
		r.Header.Set(SignedHeadersHeader, signed)
		r.Header.Set(TimestampHeader, ts)
		if s.Verify(r, body) != nil {
			return
		}
		ms, err := strconv.ParseInt(strings.TrimSpace(r.Header.Get(TimestampHeader)), 10, 64)
		if err != nil || ms < sourcetest.Now.Add(-5*time.Minute).UnixMilli() || ms > sourcetest.Now.Add(5*time.Minute).UnixMilli() {
			t.Fatalf("accepted timestamp %q", ts)
		}
		want := source.HexSHA256([]byte(secret), Canonical(r.Method, r.RequestURI, r.Header, body))
		if strings.ToLower(strings.TrimSpace(r.Header.Get(SignatureHeader))) != want {
			t.Fatalf("accepted signature %q", sig)
		}
	})
}
