package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse feeds the config decoder (${ENV} expansion, strict YAML, the
// kinds' own blocks, defaults and validation) whatever the fuzzer makes of
// the examples and a few hostile seeds. It must never panic; a config it
// accepts must be whole (defaults applied, valid again); each problem it
// reports is one line and shows no URL's credentials.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("../examples/*.yaml")
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		"",
		minimal,
		minimal + "  - {name: z, kind: zoned, zone: z, api_url: \"ht!tp://u:pw@[::1/\", sub: {depth: -1}}\n",
		"sources: [{name: s, kind: sigonly, secret: ${NOPE}, token: t}]\n",
		"a: &a [*a]\n",
		"limits: {url_length: -1, targets: 1e9, warm: x}\n",
		"store: {driver: postgres, dsn: \"postgres://ph:pw@db/ph\"}\nsites: [{name: a, base_url: \"https://u:p@a.example/x\"}]\n",
		"sites: [{name: a, base_url: https://a.example, warm: [\"${HOME}\"]}]\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, testKinds)
		if err == nil {
			if c == nil {
				t.Fatal("no config and no error")
			}
			if c.Store.Driver == "" || c.Listen == "" || c.Limits.URLLength <= 0 || c.Limits.Targets <= 0 || c.Limits.Warm <= 0 {
				t.Fatalf("accepted a config without its defaults: %+v", c)
			}
			if p := c.Validate(testKinds); len(p) > 0 {
				t.Fatalf("accepted a config that does not validate again: %v", p)
			}
			return
		}
		var probs Problems
		if !errors.As(err, &probs) {
			return // YAML that does not parse
		}
		for _, line := range probs {
			if line == "" || strings.Contains(line, "\n") {
				t.Fatalf("problem %q is not one line", line)
			}
			if Redact(line) != line {
				t.Fatalf("problem shows a URL's credentials: %q", line)
			}
		}
	})
}
