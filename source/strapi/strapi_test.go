package strapi

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

var validBody = []byte(`{"event":"entry.publish","createdAt":"2026-03-05T14:30:00.000Z","model":"article","uid":"api::article.article","entry":{"id":7,"documentId":"a1b2c3","title":"Spring menu","slug":"spring-menu","locale":"en","publishedAt":"2026-03-05T14:29:59.000Z"}}`)

func header() http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(EventHeader, "entry.publish")
	return h
}

func TestVerify(t *testing.T) {
	t.Parallel()
	sourcetest.TokenRejections(t, newSource, validBody)
	if _, err := New(source.Options{Name: "s", Secrets: []string{"k"}}); err == nil {
		t.Error("a secret for a kind that cannot sign was accepted")
	}
}

func TestGolden(t *testing.T) {
	t.Parallel()
	sourcetest.Golden(t, mustNew(t))
}

func TestParseRejections(t *testing.T) {
	t.Parallel()
	sourcetest.ParseRejections(t, mustNew(t), header(), validBody)
}

func FuzzParse(f *testing.F) {
	f.Add("entry.publish", validBody)
	f.Add("media.update", []byte(`{"event":"media.update","media":{"id":1,"url":"/uploads/a.png"}}`))
	f.Add("", []byte(`{"event":"trigger-test"}`))
	f.Add("entry.delete", []byte(`{"entry":{"id":"x","slug":{"a":1},"locale":null}}`))
	s := mustNew(f)
	f.Fuzz(func(t *testing.T, event string, body []byte) {
		h := header()
		h.Set(EventHeader, event)
		changes, err := s.Parse(body, h)
		sourcetest.CheckChanges(t, changes, err)
	})
}

// FuzzVerify: a request passes only with the configured token.
func FuzzVerify(f *testing.F) { sourcetest.FuzzToken(f, newSource, validBody) }
