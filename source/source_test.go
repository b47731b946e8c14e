package source_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/source"
	"github.com/purgehook/purgehook/source/sourcetest"
)

func TestCheckShape(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		body []byte
		ok   bool
	}{
		{"max depth", sourcetest.Deep(source.MaxDepth), true},
		{"too deep", sourcetest.Deep(source.MaxDepth + 1), false},
		{"deep arrays", []byte(strings.Repeat("[", source.MaxDepth+1) + strings.Repeat("]", source.MaxDepth+1)), false},
		{"max items", sourcetest.Huge(source.MaxArrayItems), true},
		{"too many items", sourcetest.Huge(source.MaxArrayItems + 1), false},
		{"many object keys are fine", manyKeys(source.MaxArrayItems + 10), true},
		{"brackets in strings", []byte(`{"a":"` + strings.Repeat("[", 200) + `"}`), true},
		{"commas in strings", []byte(`{"a":["` + strings.Repeat(",", 20000) + `"]}`), true},
		{"escaped quote", []byte(`{"a":"\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}`), true},
		{"sibling arrays", []byte(`{"a":` + string(sourcetest.Huge(9000)) + `,"b":` + string(sourcetest.Huge(9000)) + `}`), true},
		{"unbalanced", []byte(`]]]]}}}{`), true}, // not our job: the decoder rejects it
	} {
		t.Run(c.name, func(t *testing.T) {
			err := source.CheckShape(c.body)
			if c.ok && err != nil {
				t.Fatalf("rejected: %v", err)
			}
			if !c.ok {
				sourcetest.WantMalformed(t, err)
			}
		})
	}
}

func manyKeys(n int) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"k` + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + `":0`)
	}
	b.WriteByte('}')
	return b.Bytes()
}

func TestDecodeJSON(t *testing.T) {
	t.Parallel()
	var v struct {
		A string        `json:"a"`
		N source.Scalar `json:"n"`
	}
	if err := source.DecodeJSON([]byte(" {\"a\":\"x\",\"n\":12}\n"), &v); err != nil || v.A != "x" || v.N != "12" {
		t.Fatalf("got %+v, %v", v, err)
	}
	for _, bad := range []string{"", " ", "null", "[]", `"s"`, `{"a":1}`, `{"a":"x"} {}`, `{"a":"x"`, `{"n":{}}`, `{"n":[1]}`} {
		sourcetest.WantMalformed(t, source.DecodeJSON([]byte(bad), &v))
	}
}

func TestScalar(t *testing.T) {
	t.Parallel()
	var v struct{ A, B, C, D, E source.Scalar }
	if err := json.Unmarshal([]byte(`{"A":"x","B":123,"C":-1.5e3,"D":null,"E":true}`), &v); err != nil {
		t.Fatal(err)
	}
	if v.A != "x" || v.B != "123" || v.C != "-1.5e3" || v.D != "" || v.E != "true" {
		t.Fatalf("got %+v", v)
	}
}

func TestRequireJSON(t *testing.T) {
	t.Parallel()
	for ct, ok := range map[string]bool{
		"":                                true,
		"application/json":                true,
		"application/json; charset=utf-8": true,
		"Application/JSON":                true,
		"application/vnd.contentful.management.v1+json": true,
		"text/plain":                        false,
		"application/x-www-form-urlencoded": false,
		"text/json":                         false,
		"bogus;;":                           false,
		"multipart/form-data; boundary=x":   false,
		"application/xml":                   false,
		"application/json; charset=latin1":  false,
		"application/json; charset=UTF-8":   true,
	} {
		h := http.Header{}
		if ct != "" {
			h.Set("Content-Type", ct)
		}
		err := source.RequireJSON(h)
		if ok && err != nil {
			t.Errorf("%q rejected: %v", ct, err)
		}
		if !ok && source.StatusOf(err) != http.StatusUnsupportedMediaType {
			t.Errorf("%q: %v, want a 415", ct, err)
		}
	}
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	pass := func() error { return nil }
	fail := func() error { return source.Unauthorized("signature") }
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	r.Header.Set("Authorization", "Bearer tok")
	for _, c := range []struct {
		name   string
		opts   source.Options
		signed func() error
		ok     bool
	}{
		{"nothing configured", source.Options{}, pass, false},
		{"kind cannot sign, secret only", source.Options{Secrets: []string{"k"}}, nil, false},
		{"empty secrets do not count", source.Options{Secrets: []string{""}}, pass, false},
		{"secret ok", source.Options{Secrets: []string{"k"}}, pass, true},
		{"secret bad", source.Options{Secrets: []string{"k"}}, fail, false},
		{"token ok", source.Options{Token: "tok"}, nil, true},
		{"token bad", source.Options{Token: "other"}, pass, false},
		{"both ok", source.Options{Secrets: []string{"k"}, Token: "tok"}, pass, true},
		{"both, signature bad", source.Options{Secrets: []string{"k"}, Token: "tok"}, fail, false},
		{"both, token bad", source.Options{Secrets: []string{"k"}, Token: "x"}, pass, false},
	} {
		err := source.Authenticate(c.opts, r, c.signed)
		if c.ok && err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		if !c.ok {
			sourcetest.WantUnauthorized(t, err)
		}
	}
}

func TestCheckTimestamp(t *testing.T) {
	t.Parallel()
	now := sourcetest.Now
	tol := 5 * time.Minute
	for d, ok := range map[time.Duration]bool{0: true, -tol: true, tol: true, -tol - time.Second: false, tol + time.Second: false} {
		err := source.CheckTimestamp(now.Add(d), now, tol)
		if ok != (err == nil) {
			t.Errorf("offset %s: %v", d, err)
		}
	}
	if err := source.CheckTimestamp(now.Add(-100*time.Hour), now, 0); err != nil {
		t.Errorf("tolerance 0 should disable: %v", err)
	}
}

func TestParseMillis(t *testing.T) {
	t.Parallel()
	ts, err := source.ParseMillis("1633519811129")
	if err != nil || ts.UnixMilli() != 1633519811129 {
		t.Fatalf("got %v, %v", ts, err)
	}
	for _, bad := range []string{"", "x", "-1", "0", "1.5", "99999999999999999999999"} {
		if _, err := source.ParseMillis(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestDistinct(t *testing.T) {
	t.Parallel()
	if got := source.Distinct("", "a", "b", "a", ""); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Fatalf("got %v", got)
	}
	if got := source.Distinct("", ""); got != nil {
		t.Fatalf("got %v, want nil", got)
	}
}

func TestCompact(t *testing.T) {
	t.Parallel()
	f := map[string]string{"a": "1", "b": "", "c": "3"}
	got := source.Compact(f)
	if len(got) != 2 || got["a"] != "1" || got["c"] != "3" {
		t.Fatalf("got %v, want a=1 c=3", got)
	}
	if _, ok := f["b"]; ok {
		t.Errorf("the empty value is still in the map given: %v", f)
	}
	if got := source.Compact(map[string]string{"a": "", "b": ""}); got != nil {
		t.Errorf("got %v, want nil", got)
	}
	if got := source.Compact(nil); got != nil {
		t.Errorf("Compact(nil) = %v, want nil", got)
	}
}

func TestMatchAny(t *testing.T) {
	t.Parallel()
	sign := func(k []byte) string { return source.HexSHA256(k, []byte("body")) }
	good := source.HexSHA256([]byte("k2"), []byte("body"))
	if !source.MatchAny([]string{"", "k1", "k2"}, good, sign) {
		t.Error("second secret not tried")
	}
	if source.MatchAny([]string{"k1"}, good, sign) || source.MatchAny([]string{"k2"}, "", sign) || source.MatchAny(nil, good, sign) {
		t.Error("matched what it should not")
	}
}

func TestLoose(t *testing.T) {
	t.Parallel()
	var v struct{ A, B, C, D, E source.Loose }
	if err := json.Unmarshal([]byte(`{"A":"x","B":12,"C":{"k":1},"D":[1],"E":null}`), &v); err != nil {
		t.Fatal(err)
	}
	if v.A != "x" || v.B != "12" || v.C != "" || v.D != "" || v.E != "" {
		t.Fatalf("got %+v", v)
	}
}

func TestCheckURLs(t *testing.T) {
	t.Parallel()
	decode := func(raw string) string {
		// As every parser reads a URL: through encoding/json.
		var v struct{ U string }
		if err := source.DecodeJSON([]byte(`{"U":"`+raw+`"}`), &v); err != nil {
			t.Fatal(err)
		}
		return v.U
	}
	for _, tc := range []struct {
		name, raw string
		ok        bool
	}{
		{"plain", "/en/rooms/deluxe", true},
		{"unicode", "/pt/alojamento/ção", true},
		{"percent-encoded bytes", "/a%FF%FE", true},
		{"invalid UTF-8 byte", "/a\xffb", false},
		{"truncated sequence", "/caf\xc3", false},
		{"unpaired surrogate escape", `/a\ud800b`, false},
		{"newline", `/a\nX-Injected: 1`, false},
		{"NUL", `/a\u0000`, false},
		{"C1 control", `/a\u0085`, false},
	} {
		u := decode(tc.raw)
		for _, c := range []change.Change{{URLs: []string{"/ok", u}}, {Dependencies: []string{u}}} {
			err := source.CheckURLs([]change.Change{{URLs: []string{"/fine"}}, c})
			if tc.ok && err != nil {
				t.Errorf("%s rejected: %v", tc.name, err)
			}
			if !tc.ok {
				sourcetest.WantMalformed(t, err)
			}
		}
	}
}
