// Package sourcetest holds the tests every source kind shares: golden files
// (a request's headers and body → the normalised changes, regenerated with
// -update), the rejection suites for signed and token-authenticated kinds,
// the parser limits, and fuzz bodies. Each kind's tests call it with the
// kind's own signer, so the suites test the real scheme, not a stand-in.
package sourcetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/source"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ from the parsers' output")

// Name is the source name the suites configure.
const Name = "test"

// Now is the fixed clock of the suites.
var Now = time.Date(2026, 3, 5, 14, 30, 0, 0, time.UTC)

// ReadRequest reads a testdata request file: header lines ("Name: value"),
// one empty line, then the body, byte for byte to the end of the file. A
// file that starts with an empty line has no headers.
func ReadRequest(t testing.TB, path string) (http.Header, []byte) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	head, body, ok := bytes.Cut(raw, []byte("\n\n"))
	if !ok {
		t.Fatalf("%s: want headers, an empty line and the body", path)
	}
	hdr := http.Header{}
	for line := range strings.SplitSeq(string(head), "\n") {
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			t.Fatalf("%s: header line %q has no colon", path, line)
		}
		hdr.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	return hdr, body
}

// outcome is what a golden file holds: the changes, or the rejection.
type outcome struct {
	Changes []change.Change `json:"changes"`
	Status  int             `json:"status,omitempty"`
	Error   string          `json:"error,omitempty"`
}

// Golden parses every testdata/*.req file with src and compares the result
// with the .golden file beside it; -update rewrites the golden files.
func Golden(t *testing.T, src source.Source) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.req"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/*.req files")
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".req")
		t.Run(name, func(t *testing.T) {
			hdr, body := ReadRequest(t, f)
			changes, err := src.Parse(body, hdr)
			out := outcome{Changes: changes}
			if out.Changes == nil {
				out.Changes = []change.Change{}
			}
			if err != nil {
				out.Status, out.Error = source.StatusOf(err), err.Error()
			}
			got, jerr := json.MarshalIndent(out, "", "  ")
			if jerr != nil {
				t.Fatal(jerr)
			}
			got = append(got, '\n')
			gf := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(gf, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, rerr := os.ReadFile(gf)
			if rerr != nil {
				t.Fatalf("%v (run go test -update to create it)", rerr)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the parser's output (go test -update rewrites it):\n got: %s\nwant: %s", gf, got, want)
			}
		})
	}
}

// Scheme describes a signing scheme to VerifyRejections.
type Scheme struct {
	// New builds the source under test from opts.
	New func(opts source.Options) (source.Source, error)
	// Sign returns a request carrying body, signed with secret at ts the
	// way the CMS signs it.
	Sign func(body []byte, secret string, ts time.Time) *http.Request
	// Secret and Other are two different valid secrets.
	Secret, Other string
	// Timestamped schemes sign a timestamp and enforce the replay window.
	Timestamped bool
	// Required lists headers without which verification must fail.
	Required []string
	// Body is a valid payload.
	Body []byte
}

// Options returns the suites' options for secrets.
func Options(secrets ...string) source.Options {
	return source.Options{Name: Name, Secrets: secrets, Tolerance: source.DefaultTolerance, Now: func() time.Time { return Now }}
}

// WantUnauthorized fails unless err is a 401 *source.Error that tells the
// client only that authentication failed and names no secret.
func WantUnauthorized(t testing.TB, err error, secrets ...string) {
	t.Helper()
	var se *source.Error
	if !errors.As(err, &se) {
		t.Fatalf("got %v, want a 401 *source.Error", err)
	}
	if se.Status != http.StatusUnauthorized || se.Public != "authentication failed" {
		t.Fatalf("got status %d public %q, want 401 \"authentication failed\"", se.Status, se.Public)
	}
	if se.Detail == "" {
		t.Error("401 without a detail saying which check failed")
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("error %q contains a secret", err)
		}
	}
}

// WantMalformed fails unless err is a 400 *source.Error with a one-line
// reason.
func WantMalformed(t testing.TB, err error) {
	t.Helper()
	var se *source.Error
	if !errors.As(err, &se) {
		t.Fatalf("got %v, want a 400 *source.Error", err)
	}
	if se.Status != http.StatusBadRequest {
		t.Fatalf("got status %d (%v), want 400", se.Status, err)
	}
	if strings.ContainsAny(se.Public, "\r\n") {
		t.Errorf("reason %q is not one line", se.Public)
	}
}

// VerifyRejections runs the shared authentication cases against a signing
// scheme: the valid request passes, and a tampered body, a wrong secret,
// no configured secret, a missing or garbled header and (for timestamped
// schemes) a stale or future timestamp fail with 401.
func VerifyRejections(t *testing.T, s Scheme) {
	t.Helper()
	mk := func(t *testing.T, opts source.Options) source.Source {
		t.Helper()
		src, err := s.New(opts)
		if err != nil {
			t.Fatalf("new: %v", err)
		}
		return src
	}
	verify := func(t *testing.T, opts source.Options, r *http.Request) error {
		t.Helper()
		body := readBody(t, r)
		return mk(t, opts).Verify(r, body)
	}
	secrets := []string{s.Secret, s.Other}

	t.Run("valid", func(t *testing.T) {
		if err := verify(t, Options(s.Secret), s.Sign(s.Body, s.Secret, Now)); err != nil {
			t.Fatalf("valid request rejected: %v", err)
		}
	})
	t.Run("rotation", func(t *testing.T) {
		if err := verify(t, Options(s.Other, s.Secret), s.Sign(s.Body, s.Secret, Now)); err != nil {
			t.Fatalf("second secret not tried: %v", err)
		}
	})
	t.Run("tampered body", func(t *testing.T) {
		r := s.Sign(s.Body, s.Secret, Now)
		tampered := append(bytes.Clone(s.Body[:len(s.Body)-1]), s.Body[len(s.Body)-1]^0x01)
		WantUnauthorized(t, mk(t, Options(s.Secret)).Verify(r, tampered), secrets...)
		WantUnauthorized(t, mk(t, Options(s.Secret)).Verify(r, append(bytes.Clone(s.Body), ' ')), secrets...)
	})
	t.Run("wrong secret", func(t *testing.T) {
		WantUnauthorized(t, verify(t, Options(s.Secret), s.Sign(s.Body, s.Other, Now)), secrets...)
	})
	t.Run("no secret configured", func(t *testing.T) {
		src, err := s.New(Options())
		if err != nil {
			return // refusing the config at start is just as good
		}
		r := s.Sign(s.Body, s.Secret, Now)
		WantUnauthorized(t, src.Verify(r, readBody(t, r)), secrets...)
	})
	for _, h := range s.Required {
		t.Run("missing "+h, func(t *testing.T) {
			r := s.Sign(s.Body, s.Secret, Now)
			r.Header.Del(h)
			WantUnauthorized(t, verify(t, Options(s.Secret), r), secrets...)
		})
		t.Run("garbled "+h, func(t *testing.T) {
			r := s.Sign(s.Body, s.Secret, Now)
			r.Header.Set(h, "x")
			WantUnauthorized(t, verify(t, Options(s.Secret), r), secrets...)
		})
	}
	if !s.Timestamped {
		return
	}
	tol := source.DefaultTolerance
	t.Run("stale timestamp", func(t *testing.T) {
		WantUnauthorized(t, verify(t, Options(s.Secret), s.Sign(s.Body, s.Secret, Now.Add(-tol-time.Minute))), secrets...)
	})
	t.Run("future timestamp", func(t *testing.T) {
		WantUnauthorized(t, verify(t, Options(s.Secret), s.Sign(s.Body, s.Secret, Now.Add(tol+time.Minute))), secrets...)
	})
	t.Run("inside the window", func(t *testing.T) {
		for _, d := range []time.Duration{-tol + time.Second, tol - time.Second} {
			if err := verify(t, Options(s.Secret), s.Sign(s.Body, s.Secret, Now.Add(d))); err != nil {
				t.Errorf("timestamp %s from now rejected: %v", d, err)
			}
		}
	})
	t.Run("window disabled", func(t *testing.T) {
		o := Options(s.Secret)
		o.Tolerance = 0
		if err := verify(t, o, s.Sign(s.Body, s.Secret, Now.Add(-24*time.Hour))); err != nil {
			t.Fatalf("tolerance 0 should disable the window: %v", err)
		}
	})
	t.Run("custom window", func(t *testing.T) {
		o := Options(s.Secret)
		o.Tolerance = time.Minute
		WantUnauthorized(t, verify(t, o, s.Sign(s.Body, s.Secret, Now.Add(-2*time.Minute))), secrets...)
	})
}

func readBody(t testing.TB, r *http.Request) []byte {
	t.Helper()
	if r.Body == nil {
		return nil
	}
	var b bytes.Buffer
	if _, err := b.ReadFrom(r.Body); err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	return b.Bytes()
}

// TokenRejections runs the shared cases for kinds authenticated by a
// configured header token or Basic credentials: both accepted forms pass,
// a wrong or missing token or wrong Basic credentials fail with 401, and a
// source with nothing configured rejects everything.
func TokenRejections(t *testing.T, newSource func(source.Options) (source.Source, error), body []byte) {
	t.Helper()
	const token = "s3cr3t-token"
	base := func() source.Options {
		return source.Options{Name: Name, Tolerance: source.DefaultTolerance, Now: func() time.Time { return Now }}
	}
	req := func(hdr ...string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/hooks/"+Name, bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		return r
	}
	withToken := base()
	withToken.Token = token
	custom := withToken
	custom.AuthHeader = "X-Purge-Token"
	basic := base()
	basic.BasicUser, basic.BasicPassword = "cms", token
	basicReq := req()
	basicReq.SetBasicAuth("cms", token)
	wrongBasic := req()
	wrongBasic.SetBasicAuth("cms", "nope")

	for _, c := range []struct {
		name string
		opts source.Options
		r    *http.Request
		ok   bool
	}{
		{"bearer", withToken, req("Authorization", "Bearer "+token), true},
		{"bare token", withToken, req("Authorization", token), true},
		{"wrong token", withToken, req("Authorization", "Bearer "+token+"x"), false},
		{"missing header", withToken, req(), false},
		{"empty bearer", withToken, req("Authorization", "Bearer "), false},
		{"custom header", custom, req("X-Purge-Token", token), true},
		{"custom header missing", custom, req("Authorization", "Bearer "+token), false},
		{"basic", basic, basicReq, true},
		{"wrong basic", basic, wrongBasic, false},
		{"basic missing", basic, req("Authorization", "Bearer "+token), false},
		{"nothing configured", base(), req("Authorization", "Bearer "+token), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			src, err := newSource(c.opts)
			if err != nil {
				if c.ok {
					t.Fatalf("new: %v", err)
				}
				return
			}
			err = src.Verify(c.r, body)
			if c.ok && err != nil {
				t.Fatalf("rejected: %v", err)
			}
			if !c.ok {
				WantUnauthorized(t, err, token)
			}
		})
	}
}

// Deep returns a JSON object nested depth levels deep.
func Deep(depth int) []byte {
	var b bytes.Buffer
	for range depth {
		b.WriteString(`{"a":`)
	}
	b.WriteString("1")
	for range depth {
		b.WriteString("}")
	}
	return b.Bytes()
}

// Huge returns a JSON object whose field "items" is an array of n zeros.
func Huge(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"items":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('0')
	}
	b.WriteString("]}")
	return b.Bytes()
}

// ParseRejections checks that a parser accepts valid and answers 400 to
// truncated JSON, deep nesting, huge arrays, non-objects, trailing data, an
// empty body. (Content-Type is checked once for every kind, by ingest with
// source.RequireJSON.)
func ParseRejections(t *testing.T, src source.Source, hdr http.Header, valid []byte) {
	t.Helper()
	if _, err := src.Parse(valid, hdr); err != nil {
		t.Fatalf("valid body rejected: %v", err)
	}
	bad := map[string][]byte{
		"truncated":     valid[:len(valid)/2],
		"truncated end": valid[:len(valid)-1],
		"deep nesting":  Deep(source.MaxDepth + 1),
		"huge array":    Huge(source.MaxArrayItems + 1),
		"empty":         nil,
		"whitespace":    []byte(" \n"),
		"null":          []byte("null"),
		"array":         []byte("[]"),
		"string":        []byte(`"publish"`),
		"number":        []byte("42"),
		"trailing data": append(bytes.Clone(valid), []byte(` {}`)...),
		"not JSON":      []byte("event=publish&id=1"),
	}
	for name, body := range bad {
		t.Run(name, func(t *testing.T) {
			changes, err := src.Parse(body, hdr)
			if err == nil {
				t.Fatalf("accepted, gave %d changes", len(changes))
			}
			WantMalformed(t, err)
		})
	}
}

// CheckChanges fails unless every change names its source, event and kind;
// FuzzParse targets call it on whatever a parser accepted.
func CheckChanges(t testing.TB, changes []change.Change, err error) {
	t.Helper()
	if err != nil {
		var se *source.Error
		if !errors.As(err, &se) || se.Status != http.StatusBadRequest {
			t.Fatalf("parse error %v is not a 400 *source.Error", err)
		}
		if changes != nil {
			t.Fatalf("changes returned with an error")
		}
		return
	}
	for i, c := range changes {
		if c.Source != Name || c.Event == "" || c.Kind == "" {
			t.Fatalf("change %d lacks source, event or kind: %+v", i, c)
		}
	}
}

// FuzzToken is the FuzzVerify target of a token-authenticated kind: Verify
// accepts a request only when its Authorization header is the configured
// token, bare or after "Bearer " (any case), give or take spaces.
func FuzzToken(f *testing.F, newSource func(source.Options) (source.Source, error), body []byte) {
	const token = "fuzz-token"
	for _, seed := range []string{"Bearer " + token, token, "Bearer", "bearer  " + token + " ", "Basic Zm9vOmJhcg==", ""} {
		f.Add(seed, body)
	}
	src, err := newSource(source.Options{Name: Name, Token: token})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, auth string, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/hooks/"+Name, bytes.NewReader(body))
		r.Header.Set("Authorization", auth)
		if src.Verify(r, body) != nil {
			return
		}
		got := strings.TrimSpace(r.Header.Get("Authorization"))
		if len(got) > 7 && strings.EqualFold(got[:7], "bearer ") {
			got = strings.TrimSpace(got[7:])
		}
		if got != token {
			t.Fatalf("accepted Authorization %q", r.Header.Get("Authorization"))
		}
	})
}
