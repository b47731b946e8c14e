package cloudfront_test

import (
	"testing"

	"github.com/purgehook/purgehook/purger/cloudfront"
	"github.com/purgehook/purgehook/purger/purgertest"
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
			purgertest.CheckProblems(t, tc.c.Validate(), tc.want)
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
