package umbraco

import (
	"net/http"
	"testing"

	"github.com/purgehook/purgehook/source"
	"github.com/purgehook/purgehook/source/sourcetest"
)

func newSource(opts source.Options) (source.Source, error) { return New(opts) }

func mustNew(t testing.TB) *Source {
	t.Helper()
	s, err := New(source.Options{Name: sourcetest.Name, Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestGolden(t *testing.T) {
	t.Parallel()
	sourcetest.Golden(t, mustNew(t))
}

var publishBody = []byte(`{"Name":"Home","Route":{"Path":"/"},"Id":"1f5c1a0e-8b7d-4a55-9a3e-0f0d5b1c2a11","ContentType":"home"}`)

func publishHeader() http.Header {
	h := http.Header{}
	h.Set(EventHeader, "Umbraco.ContentPublish")
	h.Set("Content-Type", "application/json; charset=utf-8")
	return h
}

func TestVerify(t *testing.T) {
	t.Parallel()
	sourcetest.TokenRejections(t, newSource, publishBody)
}

func TestSecretRefused(t *testing.T) {
	t.Parallel()
	if _, err := New(source.Options{Name: "u", Secrets: []string{"k"}}); err == nil {
		t.Fatal("a secret for a kind that cannot sign was accepted")
	}
}

func TestParseRejections(t *testing.T) {
	t.Parallel()
	sourcetest.ParseRejections(t, mustNew(t), publishHeader(), publishBody)
}

func TestLastSegment(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"/": "", "": "", "/news/my-article/": "my-article", "/a": "a", "a/b": "b"} {
		if got := lastSegment(in); got != want {
			t.Errorf("lastSegment(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzParse: the parser never panics and either returns well-formed
// changes or a 400.
func FuzzParse(f *testing.F) {
	f.Add("Umbraco.ContentPublish", publishBody)
	f.Add("Umbraco.ContentUnpublish", []byte(`{"id":"x"}`))
	f.Add("Umbraco.MediaSave", []byte(`{"id":"m","url":"/media/a.jpg","mediaType":"Image"}`))
	f.Add("documentTypeSaved", []byte(`{"cultures":{"en":{"path":"/"},"pt":null}}`))
	s := mustNew(f)
	f.Fuzz(func(t *testing.T, event string, body []byte) {
		h := publishHeader()
		h.Set(EventHeader, event)
		changes, err := s.Parse(body, h)
		sourcetest.CheckChanges(t, changes, err)
	})
}

// FuzzVerify: Verify accepts a request only when it carries the configured
// token.
func FuzzVerify(f *testing.F) { sourcetest.FuzzToken(f, newSource, publishBody) }
