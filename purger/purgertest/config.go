package purgertest

import (
	"strings"
	"testing"
)

// CheckProblems fails t unless err, an adapter Config's Validate result,
// holds exactly the wanted problems in order, one a line, each starting
// with the wanted text (the field name first, as config prefixes it with
// the block's path).
func CheckProblems(t *testing.T, err error, want []string) {
	t.Helper()
	var got []string
	if err != nil {
		got = strings.Split(err.Error(), "\n")
	}
	if len(got) != len(want) {
		t.Fatalf("problems %q, want %d starting %q", got, len(want), want)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("problem %q, want it to start %q", got[i], want[i])
		}
	}
}
