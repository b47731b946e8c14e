package cloudfront_test

import (
	"strings"
	"testing"

	"github.com/purgehook/purgehook/purger/cloudfront"
)

func TestConfig(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		c    cloudfront.Config
		want []string
	}{
		{"valid", cloudfront.Config{DistributionID: "E1"}, nil},
		{"static keys", cloudfront.Config{DistributionID: "E1", AccessKeyID: "AK", SecretAccessKey: "s"}, nil},
		{"empty", cloudfront.Config{}, []string{"distribution_id: required for kind cloudfront"}},
		{"half a key pair", cloudfront.Config{DistributionID: "E1", AccessKeyID: "AK"}, []string{"secret_access_key: access_key_id and secret_access_key go together"}},
		{"other half", cloudfront.Config{DistributionID: "E1", SecretAccessKey: "s"}, []string{"access_key_id: access_key_id and secret_access_key go together"}},
		{"endpoint", cloudfront.Config{DistributionID: "E1", Endpoint: "localhost:9000"}, []string{`endpoint: want an http(s) URL`}},
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
	var c cloudfront.Config
	c.SetDefaults()
	if c.Region != cloudfront.DefaultRegion {
		t.Errorf("region default %q", c.Region)
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
