package cloudflare_test

import (
	"strings"
	"testing"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/purger/cloudflare"
)

func TestConfig(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		c    cloudflare.Config
		want []string
	}{
		{"valid", cloudflare.Config{Zone: "023e105f4ecef8ad9ca31a8372d0c353", Token: "t", Plan: "Pro"}, nil},
		{"empty", cloudflare.Config{}, []string{"zone: required for kind cloudflare", "token: required for kind cloudflare"}},
		{"zone with a path", cloudflare.Config{Zone: "../accounts", Token: "t"}, []string{"zone: want the zone id"}},
		{"unknown plan", cloudflare.Config{Zone: "z", Token: "t", Plan: "gold"}, []string{`plan: want free, pro, business or enterprise, got "gold"`}},
		{"api url", cloudflare.Config{Zone: "z", Token: "t", APIURL: "ftp://x"}, []string{`api_url: want an http(s) URL, got "ftp://x"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			checkProblems(t, tc.c.Validate(), tc.want)
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	var c cloudflare.Config
	c.SetDefaults()
	if c.APIURL != cloudflare.DefaultAPIURL {
		t.Errorf("api_url default %q", c.APIURL)
	}
	// The declared limits follow the plan; without one, the safe defaults.
	if l := (cloudflare.Config{}).Limits(); l.Max(change.URL) != cloudflare.DefaultPerCall || l.RatePerSecond != 0 {
		t.Errorf("no plan: %+v", l)
	}
	if l := (cloudflare.Config{Plan: "Enterprise"}).Limits(); l.Max(change.URL) != 500 || l.Max(change.Tag) != 100 || l.RatePerSecond != 50 || l.Burst != 500 {
		t.Errorf("enterprise: %+v", l)
	}
}

// problems returns the lines of a Validate error, one per problem.
func problems(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

// checkProblems fails unless each problem starts with the wanted text, in
// order.
func checkProblems(t *testing.T, err error, want []string) {
	t.Helper()
	got := problems(err)
	if len(got) != len(want) {
		t.Fatalf("problems %q, want %d starting %q", got, len(want), want)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("problem %q, want it to start %q", got[i], want[i])
		}
	}
}
