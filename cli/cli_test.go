package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func run(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Execute(context.Background(), args, &out, &errb)
	return code, out.String() + errb.String()
}

func TestExamplesPassCheckConfig(t *testing.T) {
	for k, v := range map[string]string{"PUBLISH_SECRET": "s", "CF_ZONE": "023e105f4ecef8ad9ca31a8372d0c353", "CF_TOKEN": "t", "FASTLY_TOKEN": "t", "AWS_DISTRIBUTION_ID": "E1", "APP_SECRET": "s"} {
		t.Setenv(k, v)
	}
	files, _ := filepath.Glob("../examples/*.yaml")
	if len(files) < 3 {
		t.Fatalf("found %d example configs", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			code, out := run(t, "check-config", "--config", f)
			if code != 0 || !strings.Contains(out, ": ok: ") {
				t.Errorf("exit %d:\n%s", code, out)
			}
		})
	}
}

func TestCheckConfigReportsEveryProblem(t *testing.T) {
	f := filepath.Join(t.TempDir(), "bad.yaml")
	mustWrite(t, f, `
sites: [{name: a, base_url: https://a.example}]
sources: [{name: cms, kind: generic}]
providers:
  - {name: p, kind: log}
  - {name: q, kind: log, limts: {files_per_call: 3}}
`)
	code, out := run(t, "check-config", "--config", f)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if !strings.Contains(out, "providers[1].limts: unknown field") {
		t.Errorf("output lacks the unknown field:\n%s", out)
	}
	f2 := filepath.Join(t.TempDir(), "bad2.yaml")
	mustWrite(t, f2, `
sites: [{name: a, base_url: https://a.example}]
sources: [{name: cms, kind: generic}]
providers: [{name: p, kind: log, layer: core}]
`)
	code, out = run(t, "check-config", "--config", f2)
	if code != 1 || !strings.Contains(out, "sources[0].secret: required") || !strings.Contains(out, "providers[0].layer: unknown layer") {
		t.Errorf("exit %d:\n%s", code, out)
	}
}

// A malformed URL is echoed in the problem that names it, never with its
// credentials.
func TestCheckConfigRedactsCredentials(t *testing.T) {
	f := filepath.Join(t.TempDir(), "creds.yaml")
	mustWrite(t, f, `
store: {driver: postgres, dsn: "postgres://ph:dbpass1@db/ph"}
sites: [{name: a, base_url: "https://user:sitepass2@a.example/x"}]
sources: [{name: cms, kind: generic, secret: s}]
providers:
  - {name: cf, kind: cloudflare, zone: z, token: t, api_url: "ht!tp://admin:apipass3@[::1/"}
  - {name: fa, kind: fastly, service_id: s, token: t, api_url: "https://tok:apipass4@api.example:bad/"}
`)
	code, out := run(t, "check-config", "--config", f)
	if code != 1 || !strings.Contains(out, "providers[0].api_url") || !strings.Contains(out, "REDACTED@") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, secret := range []string{"sitepass2", "apipass3", "apipass4", "admin", "tok:"} {
		if strings.Contains(out, secret) {
			t.Errorf("output shows %q:\n%s", secret, out)
		}
	}
}

func TestExplain(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	mustWrite(t, cfg, `
sites: [{name: a, base_url: https://a.example, cultures: {en: /en}}]
sources: [{name: cms, kind: generic, secret: s}]
providers:
  - {name: edge, kind: log, limits: {files_per_call: 2}}
rules:
  - when: {content_type: article}
    purge: [{url: /en/news}, {tag: news}]
`)
	payload := filepath.Join(dir, "p.json")
	mustWrite(t, payload, `{"event":"ContentPublished","content":{"id":"1","contentType":"article","urls":["/en/news/a","https://evil.example/x"]},"dependencies":["/en/"]}`)
	code, out := run(t, "explain", "--config", cfg, "--source", "cms", payload)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	for _, want := range []string{
		"url        https://a.example/en/news/a  [payload]",
		"url        https://a.example/en/  [dependency]",
		"url        https://a.example/en/news  [rule 0]",
		"tag        news  [rule 0]",
		"dropped    https://evil.example/x  (outside every configured site)",
		"edge (edge): 3 call(s)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("explain output lacks %q:\n%s", want, out)
		}
	}
	code, out = run(t, "explain", "--config", cfg, "--source", "cms", "--json", payload)
	if code != 0 || !strings.Contains(out, `"calls"`) {
		t.Errorf("json: exit %d %s", code, out)
	}
}

func mustWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Umbraco names the event in a header only: explain takes it with -H.
func TestExplainWithHeaders(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	mustWrite(t, cfg, `
sites: [{name: a, base_url: https://a.example}]
sources: [{name: umbraco, kind: umbraco, token: t}]
providers:
  - {name: edge, kind: log}
`)
	payload := filepath.Join(dir, "p.json")
	mustWrite(t, payload, `{"id":"3c2b1a00-1111-4222-8333-444455556666","name":"deluxe-room.jpg","mediaType":"Image","url":"/media/abc1de2f/deluxe-room.jpg"}`)
	code, out := run(t, "explain", "--config", cfg, "--source", "umbraco", payload)
	if code == 0 || !strings.Contains(out, "Umb-Webhook-Event") {
		t.Errorf("without the event header: exit %d:\n%s", code, out)
	}
	code, out = run(t, "explain", "--config", cfg, "--source", "umbraco", "-H", "Umb-Webhook-Event: Umbraco.MediaSave", payload)
	if code != 0 || !strings.Contains(out, "Umbraco.MediaSave (media)") || !strings.Contains(out, "url        https://a.example/media/abc1de2f/deluxe-room.jpg  [payload]") {
		t.Errorf("with -H: exit %d:\n%s", code, out)
	}
	if code, out := run(t, "explain", "--config", cfg, "--source", "umbraco", "-H", "no colon", payload); code == 0 || !strings.Contains(out, "want 'Name: value'") {
		t.Errorf("bad -H: exit %d:\n%s", code, out)
	}
}
