package httpcall_test

import (
	"testing"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/purger/httpcall"
	"github.com/purgehook/purgehook/purger/purgertest"
)

func TestConfig(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		c    httpcall.Config
		want []string
	}{
		{"valid", httpcall.Config{Request: httpcall.Request{URL: "https://x/{{.Item}}", Headers: map[string]string{"Authorization": "Bearer t"}}}, nil},
		{"empty", httpcall.Config{}, []string{"request.url: required for kind http"}},
		{"everything wrong", httpcall.Config{Request: httpcall.Request{Per: "each", Kinds: []change.TargetKind{"file"}, Body: "{{.Item", Headers: map[string]string{"Bad Name": "v"}}},
			[]string{`request.per: want item or batch, got "each"`, "request.url: required", `request.kinds: unknown kind "file"`, "request.body: template", "request.headers: invalid header name"}},
		{"item per batch", httpcall.Config{Request: httpcall.Request{URL: "https://x/{{.Item}}", Per: httpcall.PerBatch}}, []string{"request.url: uses .Item or .Index"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			purgertest.CheckProblems(t, tc.c.Validate(), tc.want)
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	var c httpcall.Config
	c.SetDefaults()
	if c.Request.Method != httpcall.DefaultMethod || c.Request.Per != httpcall.DefaultPer || len(c.Request.Kinds) != 1 || c.Request.Kinds[0] != change.URL {
		t.Errorf("defaults %+v", c.Request)
	}
	if l := (httpcall.Config{Request: httpcall.Request{Per: httpcall.PerBatch, Kinds: []change.TargetKind{change.Tag, change.Everything}}}).Limits(); l.Max(change.Tag) != httpcall.BatchPerCall || !l.Supports(change.Everything) || l.Supports(change.URL) {
		t.Errorf("batch limits %+v", l)
	}
}
