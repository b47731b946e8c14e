package nginx_test

import (
	"strings"
	"testing"

	"github.com/purgehook/purgehook/purger/nginx"
)

func TestConfig(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		c    nginx.Config
		want []string
	}{
		{"valid", nginx.Config{Servers: []string{"http://10.0.0.5:8081", "https://10.0.0.6/purge"}}, nil},
		{"empty", nginx.Config{}, []string{"servers: required for kind nginx"}},
		{"credentials", nginx.Config{Servers: []string{"http://u:p@10.0.0.5"}}, []string{"servers[0]: want http(s)://host[:port][/prefix]"}},
		{"query", nginx.Config{Servers: []string{"http://a", "http://10.0.0.5/?x=1"}}, []string{"servers[1]: want http(s)://host[:port][/prefix]"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			checkProblems(t, tc.c.Validate(), tc.want)
		})
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
