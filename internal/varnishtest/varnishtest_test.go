package varnishtest_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/purgehook/purgehook/internal/varnishtest"
)

func TestPointAt(t *testing.T) {
	t.Parallel()
	vcl := "vcl 4.1;\nbackend default {\n  .host = \"10.0.0.1\";\n  .port = \"8080\";\n}\nbackend other { .host = \"x\"; .port = \"1\"; }\n"
	got, err := varnishtest.PointAt(vcl, "127.0.0.1:4321")
	if err != nil {
		t.Fatal(err)
	}
	want := "vcl 4.1;\nbackend default {\n  .host = \"127.0.0.1\";\n  .port = \"4321\";\n}\nbackend other { .host = \"x\"; .port = \"1\"; }\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	for _, bad := range []string{"vcl 4.1;", "vcl 4.1; backend b { .path = \"/s\"; }"} {
		if _, err := varnishtest.PointAt(bad, "127.0.0.1:1"); err == nil {
			t.Errorf("PointAt(%q) succeeded", bad)
		}
	}
}

func TestStart(t *testing.T) {
	t.Parallel()
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "hello from origin")
	}))
	defer origin.Close()
	vcl := "vcl 4.1;\nbackend default { .host = \"0.0.0.0\"; .port = \"1\"; }\n"
	v := varnishtest.Start(t, vcl, origin.Listener.Addr().String())
	resp, err := http.Get(v.URL + "/x")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "hello from origin" || resp.Header.Get("Via") == "" {
		t.Errorf("got %d %q via %q", resp.StatusCode, body, resp.Header.Get("Via"))
	}
	if !strings.HasPrefix(v.Dir, "/") || v.PID <= 0 {
		t.Errorf("Dir %q PID %d", v.Dir, v.PID)
	}
	out, err := v.Admin("status")
	if err != nil || !strings.Contains(out, "running") {
		t.Errorf("varnishadm status: %q %v", out, err)
	}
}
