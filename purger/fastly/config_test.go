package fastly_test

import (
	"strings"
	"testing"

	"github.com/purgehook/purgehook/purger/fastly"
)

func TestConfig(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		c    fastly.Config
		want []string
	}{
		{"valid", fastly.Config{ServiceID: "s", Token: "t", SoftPurge: true}, nil},
		{"empty", fastly.Config{}, []string{"service_id: required for kind fastly", "token: required for kind fastly"}},
		{"api url", fastly.Config{ServiceID: "s", Token: "t", APIURL: "ftp://api"}, []string{`api_url: want an http(s) URL, got "ftp://api"`}},
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
	var c fastly.Config
	c.SetDefaults()
	if c.APIURL != fastly.DefaultAPIURL {
		t.Errorf("api_url default %q", c.APIURL)
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
