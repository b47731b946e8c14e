package kontent

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/purgehook/purgehook/source"
	"github.com/purgehook/purgehook/source/sourcetest"
)

func newSource(opts source.Options) (source.Source, error) { return New(opts, Config{}) }

func mustNew(t testing.TB, opts source.Options, c Config) *Source {
	t.Helper()
	s, err := New(opts, c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// pretty reproduces the SDK fixtures' bodies: JSON.stringify(obj, null, 2)
// with every line break turned into CRLF. json.Indent keeps the key order
// of the compact text, which is what makes the bytes match.
func pretty(t testing.TB, compact string) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := json.Indent(&b, []byte(compact), "", "  "); err != nil {
		t.Fatal(err)
	}
	return bytes.ReplaceAll(b.Bytes(), []byte("\n"), []byte("\r\n"))
}

// The three public SDK test vectors (shared/docs/sources.md §2.5).
var vectors = []struct {
	name, secret, signature, header, compact string
}{
	{
		"v4 workflow_step_changed", "hx3snVrI9E2Lgpi1LaL+WfiPWCh88OjI7Bv/3ihq+Qo=", "k97ud4G3+Bo58p4LDJQY8SK81AThPMIDlZQjyWJbOgI=", SignatureHeader,
		`{"notifications":[{"data":{"system":{"id":"74fda2ec-5f05-45e6-801c-0b041697256c","name":"This changes everything!","codename":"this_changes_everything_","collection":"default","workflow":"default","workflow_step":"published","language":"default","type":"product_update","last_modified":"2025-11-26T10:12:53.4900599Z"}},"message":{"environment_id":"2db94c54-294a-016e-81d4-826f7e4a11d8","object_type":"content_item","action":"workflow_step_changed","delivery_slot":"preview","action_context":{"previous_workflow":"default","previous_workflow_step":"draft"}}}]}`,
	},
	{
		"v3 published", "BHPyfqwSy1iJjcscOB+GSkDf9THrBlfcKkwtADJdbP4=", "CF9/hYLw2CDcVp2wW39OFUglh++fGdHFeOhiWxM3jZg=", SignatureHeader,
		`{"notifications":[{"data":{"system":{"id":"aa7f127f-1920-4454-a89a-0609aba8ea6f","name":"This changes everything!","codename":"this_changes_everything_","collection":"marketing","workflow":"default","workflow_step":"published","language":"default","type":"product_update","last_modified":"2024-03-25T07:55:57.0563735Z"}},"message":{"environment_id":"0f5b6cb2-ea82-014e-ac74-f71e7e8b6aee","object_type":"content_item","action":"published","delivery_slot":"published"}}]}`,
	},
	{
		"legacy publish", "4INSnqn9ZA9pOWHpRySS+rsEqL6qHF3CIAftipJeuDc=", "5+vhM4vWobuiwGyLSGqOL7KwXnaQXISzuKUxhI4xL3o=", LegacySignatureHeader,
		`{"data":{"items":[{"id":"f0e9e9fa-91e8-40d5-9527-b7e0ae51fc54","codename":"christian_bale","collection":"default","language":"en","type":"actor"}],"taxonomies":[]},"message":{"id":"790b5fea-febe-4421-b8e7-d333afc60136","project_id":"b259760f-81c5-013a-05e7-69efb4b954e5","type":"content_item_variant","operation":"publish","api_name":"delivery_production","created_timestamp":"2020-03-13T08:05:07.4044893Z","webhook_url":"https://enxkdw8lvglue.x.pipedream.net/"}}`,
	},
}

func request(body []byte, header, sig string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/hooks/test", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	if header != "" {
		r.Header.Set(header, sig)
	}
	return r
}

func TestVectors(t *testing.T) {
	t.Parallel()
	for _, v := range vectors {
		t.Run(v.name, func(t *testing.T) {
			body := pretty(t, v.compact)
			if got := Sign(v.secret, body); got != v.signature {
				t.Fatalf("Sign = %s, want %s (body %q)", got, v.signature, body)
			}
			s := mustNew(t, sourcetest.Options(v.secret), Config{})
			if err := s.Verify(request(body, v.header, v.signature), body); err != nil {
				t.Fatalf("vector rejected: %v", err)
			}
			// The other header name works just as well.
			other := SignatureHeader
			if v.header == SignatureHeader {
				other = LegacySignatureHeader
			}
			if err := s.Verify(request(body, other, v.signature), body); err != nil {
				t.Errorf("under %s: %v", other, err)
			}
			// A proxy that quoted the value or turned CRLF into LF.
			if err := s.Verify(request(body, v.header, ` "`+v.signature+`" `), body); err != nil {
				t.Errorf("quoted signature: %v", err)
			}
			lf := bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n"))
			if err := s.Verify(request(lf, v.header, v.signature), lf); err != nil {
				t.Errorf("LF body: %v", err)
			}
			// Compact JSON is a different body: the CRLF retry must not
			// make it pass.
			compact := []byte(v.compact)
			sourcetest.WantUnauthorized(t, s.Verify(request(compact, v.header, v.signature), compact), v.secret)
			// Wrong secret, tampered body, missing header.
			sourcetest.WantUnauthorized(t, mustNew(t, sourcetest.Options(v.secret+"x"), Config{}).Verify(request(body, v.header, v.signature), body), v.secret)
			tampered := bytes.Replace(body, []byte("default"), []byte("Default"), 1)
			sourcetest.WantUnauthorized(t, s.Verify(request(tampered, v.header, v.signature), tampered), v.secret)
			sourcetest.WantUnauthorized(t, s.Verify(request(body, "", ""), body), v.secret)
		})
	}
	// sources.md: the v4 object with LF line breaks signs as this, which is
	// not the fixture's signature.
	lf := bytes.ReplaceAll(pretty(t, vectors[0].compact), []byte("\r\n"), []byte("\n"))
	if got := Sign(vectors[0].secret, lf); got != "5E1alQoVd9vGUhaBnPLyCFvXhvaTxjVvOtHNK64ucYo=" {
		t.Errorf("LF body signs as %s", got)
	}
}

func TestVectorsParse(t *testing.T) {
	t.Parallel()
	// v4 is a preview-slot notification: no change by default, one when
	// preview is configured.
	body := pretty(t, vectors[0].compact)
	if got, err := mustNew(t, sourcetest.Options("k"), Config{}).Parse(body, nil); err != nil || len(got) != 0 {
		t.Fatalf("preview notification: got %v, %v; want no change", got, err)
	}
	o := sourcetest.Options("k")
	preview := Config{DeliverySlots: []string{"published", "preview"}}
	got, err := mustNew(t, o, preview).Parse(body, nil)
	if err != nil || len(got) != 1 || got[0].Codename != "this_changes_everything_" || got[0].Event != "content_item.workflow_step_changed" {
		t.Fatalf("with preview: got %+v, %v", got, err)
	}
	legacy := pretty(t, vectors[2].compact)
	s := mustNew(t, o, preview)
	if id := s.DeliveryID(nil, legacy); id != "790b5fea-febe-4421-b8e7-d333afc60136" {
		t.Errorf("legacy delivery id = %q", id)
	}
	if id := s.DeliveryID(nil, pretty(t, vectors[1].compact)); id != "" {
		t.Errorf("notifications format delivery id = %q, want none", id)
	}
	if id := s.DeliveryID(nil, sourcetest.Deep(1000)); id != "" {
		t.Errorf("deep body delivery id = %q", id)
	}
}

func TestUnknownSlot(t *testing.T) {
	t.Parallel()
	if _, err := New(sourcetest.Options("k"), Config{DeliverySlots: []string{"production"}}); err == nil {
		t.Fatal("unknown delivery slot accepted")
	}
}

func TestGolden(t *testing.T) {
	t.Parallel()
	sourcetest.Golden(t, mustNew(t, sourcetest.Options("k"), Config{}))
}

func TestVerifyRejections(t *testing.T) {
	t.Parallel()
	sourcetest.VerifyRejections(t, sourcetest.Scheme{
		New: newSource,
		Sign: func(body []byte, secret string, _ time.Time) *http.Request {
			return request(body, SignatureHeader, Sign(secret, body))
		},
		Secret:   "hx3snVrI9E2Lgpi1LaL+WfiPWCh88OjI7Bv/3ihq+Qo=",
		Other:    "BHPyfqwSy1iJjcscOB+GSkDf9THrBlfcKkwtADJdbP4=",
		Required: []string{SignatureHeader},
		Body:     []byte(vectors[1].compact),
	})
}

func TestParseRejections(t *testing.T) {
	t.Parallel()
	sourcetest.ParseRejections(t, mustNew(t, sourcetest.Options("k"), Config{}), http.Header{}, []byte(vectors[1].compact))
}

func FuzzParse(f *testing.F) {
	for _, v := range vectors {
		f.Add([]byte(v.compact))
	}
	f.Add([]byte(`{"notifications":[{"data":{"system":{"id":"1","codename":"t"}},"message":{"object_type":"content_type","action":"changed","delivery_slot":"published"}}]}`))
	f.Add([]byte(`{"message":{"type":"taxonomy","operation":"upsert"},"data":{"taxonomies":[{"id":"1","codename":"c"}]}}`))
	o := sourcetest.Options("k")
	preview := Config{DeliverySlots: []string{"published", "preview"}}
	s := mustNew(f, o, preview)
	f.Fuzz(func(t *testing.T, body []byte) {
		changes, err := s.Parse(body, nil)
		sourcetest.CheckChanges(t, changes, err)
		_ = s.DeliveryID(nil, body)
	})
}

var crlfRef = regexp.MustCompile(`[\r\n]+`)

// FuzzVerify: a request passes only if its signature is the base64
// HMAC-SHA256 of the body, or of the body with its line breaks made CRLF.
func FuzzVerify(f *testing.F) {
	const secret = "BHPyfqwSy1iJjcscOB+GSkDf9THrBlfcKkwtADJdbP4="
	for _, v := range vectors {
		body := pretty(f, v.compact)
		f.Add(body, Sign(secret, body), false)
		f.Add(body, v.signature, true)
	}
	f.Add([]byte("a\nb"), Sign(secret, []byte("a\r\nb")), false)
	f.Add([]byte{}, "", false)
	s := mustNew(f, sourcetest.Options(secret), Config{})
	f.Fuzz(func(t *testing.T, body []byte, sig string, legacy bool) {
		h := SignatureHeader
		if legacy {
			h = LegacySignatureHeader
		}
		r := httptest.NewRequest(http.MethodPost, "/hooks/test", bytes.NewReader(body))
		r.Header.Set(h, sig)
		if s.Verify(r, body) != nil {
			return
		}
		got := strings.Trim(strings.TrimSpace(r.Header.Get(h)), `"`)
		if got != Sign(secret, body) && got != Sign(secret, crlfRef.ReplaceAll(body, []byte("\r\n"))) {
			t.Fatalf("accepted signature %q for body %q", sig, body)
		}
	})
}

// The golden CRLF body is the v3 vector's body, byte for byte.
func TestGoldenCRLFBodyIsVector(t *testing.T) {
	t.Parallel()
	hdr, body := sourcetest.ReadRequest(t, "testdata/crlf-published.req")
	r := request(body, SignatureHeader, vectors[1].signature)
	for k, v := range hdr {
		r.Header[k] = v
	}
	if err := mustNew(t, sourcetest.Options(vectors[1].secret), Config{}).Verify(r, body); err != nil {
		t.Fatal(err)
	}
}
