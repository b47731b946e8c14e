package fastly

import (
	"log/slog"
	"testing"
	"time"

	"github.com/purgehook/purgehook/purger"
	"github.com/purgehook/purgehook/purger/fastly/fastlyfake"
	"github.com/purgehook/purgehook/purger/purgertest"
)

func TestConformance(t *testing.T) {
	for _, soft := range []bool{false, true} {
		name := "hard"
		if soft {
			name = "soft"
		}
		t.Run(name, func(t *testing.T) {
			purgertest.Run(t, purgertest.Harness{
				New: func(t *testing.T, logger *slog.Logger) (purger.Purger, purgertest.Fake) {
					now := func() time.Time { return testNow }
					fake := fastlyfake.New(fastlyfake.Options{
						ServiceID: testService,
						Tokens:    map[string][]string{testToken: {fastlyfake.ScopePurgeSelect, fastlyfake.ScopePurgeAll}},
						Now:       now,
					})
					t.Cleanup(fake.Close)
					p, err := New(Options{Name: "conf", Logger: logger, Now: now, Config: Config{APIURL: fake.URL, ServiceID: testService, Token: testToken, SoftPurge: soft}})
					if err != nil {
						t.Fatal(err)
					}
					return p, fake
				},
				Secrets: []string{testToken},
			})
		})
	}
}
