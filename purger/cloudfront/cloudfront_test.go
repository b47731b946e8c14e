package cloudfront_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscf "github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/aws/smithy-go"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/purger"
	"github.com/purgehook/purgehook/purger/cloudfront"
	"github.com/purgehook/purgehook/purger/cloudfront/cloudfronttest"
	"github.com/purgehook/purgehook/purger/purgertest"
)

const (
	accessKeyID = "AKIAIOSFODNN7EXAMPLE"
	secretKey   = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	dist        = "EDFDVBD6EXAMPLE"
)

func fakeOptions() cloudfronttest.Options {
	return cloudfronttest.Options{
		AccessKeyID:     accessKeyID,
		SecretAccessKey: secretKey,
		Distributions:   []string{dist},
		RetryAfter:      cloudfront.DefaultThrottleWait,
	}
}

func newPurger(t *testing.T, fake *cloudfronttest.Fake, o cloudfront.Options) *cloudfront.Purger {
	t.Helper()
	if o.Name == "" {
		o.Name = "cdn"
	}
	if o.DistributionID == "" {
		o.DistributionID = dist
	}
	if o.AccessKeyID == "" && o.SecretAccessKey == "" {
		o.AccessKeyID, o.SecretAccessKey = accessKeyID, secretKey
	}
	o.Endpoint = fake.URL
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	p, err := cloudfront.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConformance(t *testing.T) {
	purgertest.Run(t, purgertest.Harness{
		New: func(t *testing.T, logger *slog.Logger) (purger.Purger, purgertest.Fake) {
			o := fakeOptions()
			o.MaxBatch = cloudfront.DefaultPathsPerCall
			fake := cloudfronttest.NewServer(t, o)
			return newPurger(t, fake, cloudfront.Options{Logger: logger}), fake
		},
		Secrets: []string{secretKey},
	})
}

func TestPaths(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind change.TargetKind
		item string
		want string
	}{
		{change.URL, "https://www.example.com/news/a.html", "/news/a.html"},
		{change.URL, "https://www.example.com", "/"},
		{change.URL, "https://www.example.com/", "/"},
		{change.URL, "https://www.example.com?p=1", "/?p=1"},
		{change.URL, "https://www.example.com:8443/a?x=1&y=%2F#frag", "/a?x=1&y=%2F"},
		// Non-ASCII and unsafe characters are encoded as a browser would;
		// characters browsers send as they are stay unencoded.
		{change.URL, "https://www.example.com/pt/ação", "/pt/a%C3%A7%C3%A3o"},
		{change.URL, "https://www.example.com/a b/\"q\"", "/a%20b/%22q%22"},
		{change.URL, "https://www.example.com/a{b}?c={d}", "/a%7Bb%7D?c={d}"},
		{change.URL, "https://www.example.com/it's?q=it's", "/it's?q=it%27s"},
		{change.URL, "https://www.example.com/$-_.+!(),;=@:~", "/$-_.+!(),;=@:~"},
		{change.URL, "https://www.example.com/a%20b/50%", "/a%20b/50%25"},
		// A literal star is never a wildcard in a URL item.
		{change.URL, "https://www.example.com/a*b*", "/a%2Ab%2A"},
		{change.Prefix, "https://www.example.com/news", "/news*"},
		{change.Prefix, "https://www.example.com/news/", "/news/*"},
		{change.Prefix, "https://www.example.com", "/*"},
		{change.Prefix, "https://www.example.com/search?q=", "/search?q=*"},
		{change.Everything, "", "/*"},
	}
	for _, tt := range tests {
		var items []string
		if tt.item != "" {
			items = []string{tt.item}
		}
		got, err := cloudfront.Paths(tt.kind, items)
		if err != nil || len(got) != 1 || got[0] != tt.want {
			t.Errorf("Paths(%s, %q) = %q, %v; want [%q]", tt.kind, tt.item, got, err, tt.want)
		}
	}
	for _, bad := range []string{"/relative", "ftp://h/x", "https://www.example.com/" + strings.Repeat("a", cloudfront.MaxPathLength)} {
		if _, err := cloudfront.Paths(change.URL, []string{bad}); err == nil {
			t.Errorf("Paths(url, %.40q…) succeeded, want an error", bad)
		}
	}
}

func TestPurgeSendsPaths(t *testing.T) {
	t.Parallel()
	fake := cloudfronttest.NewServer(t, fakeOptions())
	p := newPurger(t, fake, cloudfront.Options{PollInterval: 5 * time.Second})
	items := []string{"https://www.example.com/pt/ação", "https://www.example.com/a b", "https://www.example.com/?utm=1"}
	res, err := p.Purge(t.Context(), change.Call{ID: 1, Kind: change.URL, Items: items, Key: "call-1"})
	if err != nil {
		t.Fatal(err)
	}
	invs := fake.Invalidations()
	if len(invs) != 1 {
		t.Fatalf("%d invalidations, want 1", len(invs))
	}
	want := []string{"/pt/a%C3%A7%C3%A3o", "/a%20b", "/?utm=1"}
	if fmt.Sprint(invs[0].Paths) != fmt.Sprint(want) {
		t.Errorf("paths %q, want %q", invs[0].Paths, want)
	}
	if !strings.HasPrefix(invs[0].CallerReference, "call-1-") {
		t.Errorf("CallerReference %q is not derived from the call key", invs[0].CallerReference)
	}
	if res != (purger.Result{Ref: invs[0].ID, Pending: true, CheckAfter: 5 * time.Second}) {
		t.Errorf("result %+v", res)
	}
}

func TestCallerReference(t *testing.T) {
	t.Parallel()
	fake := cloudfronttest.NewServer(t, fakeOptions())
	p := newPurger(t, fake, cloudfront.Options{})
	call := change.Call{ID: 7, Kind: change.URL, Items: []string{"https://www.example.com/a", "https://www.example.com/b"}, Key: "batch-3/call-7"}

	first, err := p.Purge(t.Context(), call)
	if err != nil {
		t.Fatal(err)
	}
	// A retry of the same call (the worker died after the request) finds
	// the same invalidation.
	again, err := p.Purge(t.Context(), call)
	if err != nil {
		t.Fatal(err)
	}
	if again.Ref != first.Ref || len(fake.Invalidations()) != 1 {
		t.Errorf("retry created a second invalidation: %s then %s, %d in all", first.Ref, again.Ref, len(fake.Invalidations()))
	}
	// The halves of a split call may share its key; they are different
	// batches and get their own invalidations.
	for _, half := range [][]string{call.Items[:1], call.Items[1:]} {
		c := call
		c.Items = half
		if _, err := p.Purge(t.Context(), c); err != nil {
			t.Fatalf("half %v: %v", half, err)
		}
	}
	if n := len(fake.Invalidations()); n != 3 {
		t.Errorf("%d invalidations, want 3", n)
	}
	// Calls without a key never reuse a reference: an identical purge later
	// must invalidate again, not return the old invalidation.
	nokey := change.Call{Kind: change.URL, Items: []string{"https://www.example.com/c"}}
	r1, err1 := p.Purge(t.Context(), nokey)
	r2, err2 := p.Purge(t.Context(), nokey)
	if err1 != nil || err2 != nil || r1.Ref == r2.Ref {
		t.Errorf("keyless calls: %s %v, %s %v; want two invalidations", r1.Ref, err1, r2.Ref, err2)
	}
}

// TestFakeCallerReference checks the fake's CloudFront semantics with the
// SDK itself: same reference and batch → the existing invalidation, same
// reference and another batch → InvalidationBatchAlreadyExists, which the
// purger classifies as permanent.
func TestFakeCallerReference(t *testing.T) {
	t.Parallel()
	fake := cloudfronttest.NewServer(t, fakeOptions())
	api := awscf.New(awscf.Options{
		BaseEndpoint: aws.String(fake.URL),
		Region:       "us-east-1",
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: accessKeyID, SecretAccessKey: secretKey}, nil
		}),
		Retryer: aws.NopRetryer{},
	})
	create := func(ref string, paths ...string) (*awscf.CreateInvalidationOutput, error) {
		return api.CreateInvalidation(t.Context(), &awscf.CreateInvalidationInput{
			DistributionId: aws.String(dist),
			InvalidationBatch: &types.InvalidationBatch{
				CallerReference: aws.String(ref),
				Paths:           &types.Paths{Quantity: aws.Int32(int32(len(paths))), Items: paths},
			},
		})
	}
	a, err := create("ref-1", "/a", "/b")
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(a.Invalidation.Status) != "InProgress" || aws.ToString(a.Location) == "" {
		t.Errorf("created %+v, location %q", a.Invalidation, aws.ToString(a.Location))
	}
	b, err := create("ref-1", "/a", "/b")
	if err != nil || aws.ToString(b.Invalidation.Id) != aws.ToString(a.Invalidation.Id) {
		t.Fatalf("same reference and batch: %v, %v; want the existing invalidation", b, err)
	}
	_, err = create("ref-1", "/a", "/c")
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidationBatchAlreadyExists" {
		t.Fatalf("same reference, other batch: %v; want InvalidationBatchAlreadyExists", err)
	}

	// Quantity must match Items.
	_, err = api.CreateInvalidation(t.Context(), &awscf.CreateInvalidationInput{
		DistributionId: aws.String(dist),
		InvalidationBatch: &types.InvalidationBatch{
			CallerReference: aws.String("ref-2"),
			Paths:           &types.Paths{Quantity: aws.Int32(3), Items: []string{"/a"}},
		},
	})
	var iq *types.InconsistentQuantities
	if !errors.As(err, &iq) {
		t.Errorf("Quantity 3 with 1 item: %v; want InconsistentQuantities", err)
	}
	// Paths must follow CloudFront's rules.
	for _, bad := range []string{"a.html", "/a*b", "/ação", "/a b", "/50%"} {
		_, err := create("ref-bad-"+bad, bad)
		var ia *types.InvalidArgument
		if !errors.As(err, &ia) {
			t.Errorf("path %q: %v; want InvalidArgument", bad, err)
		}
	}
}

func TestInProgressLimits(t *testing.T) {
	t.Parallel()
	urls := func(from, n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("https://www.example.com/p/%d", from+i)
		}
		return out
	}
	prefixes := func(from, n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("https://www.example.com/s%d", from+i)
		}
		return out
	}
	tests := []struct {
		name    string
		fill    []change.Call // in progress before the call
		call    change.Call
		class   purger.Class
		status  int
		code    string
		after   time.Duration
		release bool // completing the fill lets the call through
	}{
		{
			name: "3,000 paths in progress",
			fill: []change.Call{{Kind: change.URL, Items: urls(0, 1000)}, {Kind: change.URL, Items: urls(1000, 1000)}, {Kind: change.URL, Items: urls(2000, 1000)}},
			call: change.Call{Kind: change.URL, Items: urls(5000, 1)}, class: purger.Snooze, status: 400,
			code: "TooManyInvalidationsInProgress", after: cloudfront.DefaultInProgressWait, release: true,
		},
		{
			name: "15 wildcards in progress",
			fill: []change.Call{{Kind: change.Prefix, Items: prefixes(0, 15)}},
			call: change.Call{Kind: change.Everything}, class: purger.Snooze, status: 400,
			code: "TooManyInvalidationsInProgress", after: cloudfront.DefaultInProgressWait, release: true,
		},
		{
			name: "wildcards do not count against paths",
			fill: []change.Call{{Kind: change.Prefix, Items: prefixes(0, 14)}},
			call: change.Call{Kind: change.URL, Items: urls(0, 1000)},
		},
		{
			name: "a batch over 3,000 paths",
			call: change.Call{Kind: change.URL, Items: urls(0, 3001)}, class: purger.TooLarge, status: 413, code: "BatchTooLarge",
		},
		{
			name: "a batch over 15 wildcards",
			call: change.Call{Kind: change.Prefix, Items: prefixes(0, 16)}, class: purger.TooLarge, status: 413, code: "BatchTooLarge",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := cloudfronttest.NewServer(t, fakeOptions())
			p := newPurger(t, fake, cloudfront.Options{})
			for i, c := range tt.fill {
				c.Key = fmt.Sprintf("fill-%d", i)
				if _, err := p.Purge(t.Context(), c); err != nil {
					t.Fatalf("fill %d: %v", i, err)
				}
			}
			tt.call.Key = "the-call"
			_, err := p.Purge(t.Context(), tt.call)
			if tt.code == "" {
				if err != nil {
					t.Fatalf("got %v, want success", err)
				}
				return
			}
			var pe *purger.Error
			if !errors.As(err, &pe) {
				t.Fatalf("got %v, want a *purger.Error", err)
			}
			if pe.Class != tt.class || pe.Status != tt.status || pe.After != tt.after || !strings.HasPrefix(pe.Msg, tt.code+": ") {
				t.Errorf("got %s %d after %s %q; want %s %d after %s %s", pe.Class, pe.Status, pe.After, pe.Msg, tt.class, tt.status, tt.after, tt.code)
			}
			if tt.release {
				fake.CompleteAll()
				if _, err := p.Purge(t.Context(), tt.call); err != nil {
					t.Errorf("after the invalidations in progress completed: %v", err)
				}
			}
		})
	}
}

func TestCompletion(t *testing.T) {
	t.Parallel()
	t.Run("after polls", func(t *testing.T) {
		t.Parallel()
		o := fakeOptions()
		o.CompleteAfterPolls = 3
		fake := cloudfronttest.NewServer(t, o)
		p := newPurger(t, fake, cloudfront.Options{PollInterval: 15 * time.Second})
		call := change.Call{Kind: change.Prefix, Items: []string{"https://www.example.com/news"}, Key: "k"}
		res, err := p.Purge(t.Context(), call)
		if err != nil || !res.Pending || res.CheckAfter != 15*time.Second {
			t.Fatalf("Purge = %+v, %v; want pending, check after 15s", res, err)
		}
		call.Ref = res.Ref
		for i, want := range []bool{false, false, true} {
			before := fake.Requests()
			done, after, err := p.Completed(t.Context(), call)
			if err != nil || done != want {
				t.Fatalf("poll %d: %t, %v; want %t", i+1, done, err, want)
			}
			if !done && after != 15*time.Second {
				t.Errorf("poll %d: after %s, want the poll interval", i+1, after)
			}
			if fake.Requests()-before != 1 {
				t.Errorf("poll %d made %d requests; Completed asks once and returns", i+1, fake.Requests()-before)
			}
		}
		// A retried call of a completed invalidation is not pending.
		again, err := p.Purge(t.Context(), change.Call{Kind: call.Kind, Items: call.Items, Key: "k"})
		if err != nil || again.Pending || again.Ref != res.Ref {
			t.Errorf("retry after completion = %+v, %v; want the completed invalidation", again, err)
		}
	})
	t.Run("on the clock", func(t *testing.T) {
		t.Parallel()
		clk := purgertest.NewClock(time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC))
		o := fakeOptions()
		o.CompleteAfter, o.Now = 90*time.Second, clk.Now
		fake := cloudfronttest.NewServer(t, o)
		p := newPurger(t, fake, cloudfront.Options{})
		res, err := p.Purge(t.Context(), change.Call{Kind: change.Everything, Key: "all"})
		if err != nil {
			t.Fatal(err)
		}
		call := change.Call{Kind: change.Everything, Ref: res.Ref}
		for range 5 {
			if done, after, err := p.Completed(t.Context(), call); done || err != nil || after != cloudfront.DefaultPollInterval {
				t.Fatalf("before 90s: %t, %s, %v", done, after, err)
			}
		}
		clk.Advance(90 * time.Second)
		if done, _, err := p.Completed(t.Context(), call); !done || err != nil {
			t.Errorf("after 90s: %t, %v; want done", done, err)
		}
	})
	t.Run("unknown invalidation", func(t *testing.T) {
		t.Parallel()
		fake := cloudfronttest.NewServer(t, fakeOptions())
		p := newPurger(t, fake, cloudfront.Options{})
		_, _, err := p.Completed(t.Context(), change.Call{Ref: "INOPE"})
		var pe *purger.Error
		if !errors.As(err, &pe) || pe.Class != purger.Permanent || pe.Status != 404 || !strings.HasPrefix(pe.Msg, "NoSuchInvalidation") {
			t.Errorf("got %v, want a permanent 404 NoSuchInvalidation", err)
		}
	})
}

func TestErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		opts   cloudfront.Options
		fail   purgertest.Failure
		class  purger.Class
		status int
		msg    string
	}{
		{"wrong secret", cloudfront.Options{Config: cloudfront.Config{AccessKeyID: accessKeyID, SecretAccessKey: "not/the/secret/key/at/all/EXAMPLEKEY00"}}, 0,
			purger.Permanent, 403, "SignatureDoesNotMatch: The request signature we calculated does not match"},
		{"unknown key", cloudfront.Options{Config: cloudfront.Config{AccessKeyID: "AKIAOTHERKEYEXAMPLE0", SecretAccessKey: secretKey}}, 0,
			purger.Permanent, 403, "InvalidClientTokenId"},
		{"wrong signing region", cloudfront.Options{Config: cloudfront.Config{Region: "eu-west-1"}}, 0,
			purger.Permanent, 403, "SignatureDoesNotMatch: Credential should be scoped"},
		{"no such distribution", cloudfront.Options{Config: cloudfront.Config{DistributionID: "ENOPE"}}, 0,
			purger.Permanent, 404, "NoSuchDistribution: The specified distribution does not exist."},
		{"access denied", cloudfront.Options{}, purgertest.ClientError,
			purger.Permanent, 403, "AccessDenied: " + cloudfronttest.ClientErrorMessage},
		{"throttling", cloudfront.Options{}, purgertest.RateLimited,
			purger.Snooze, 400, "Throttling: Rate exceeded"},
		{"service unavailable", cloudfront.Options{}, purgertest.ServerError,
			purger.Retry, 503, "ServiceUnavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := cloudfronttest.NewServer(t, fakeOptions())
			fake.FailNext(tt.fail)
			p := newPurger(t, fake, tt.opts)
			_, err := p.Purge(t.Context(), change.Call{Kind: change.URL, Items: []string{"https://www.example.com/"}, Key: "k"})
			var pe *purger.Error
			if !errors.As(err, &pe) {
				t.Fatalf("got %v, want a *purger.Error", err)
			}
			if pe.Class != tt.class || pe.Status != tt.status || !strings.Contains(pe.Msg, tt.msg) {
				t.Errorf("got %s %d %q; want %s %d containing %q", pe.Class, pe.Status, pe.Msg, tt.class, tt.status, tt.msg)
			}
			if !strings.Contains(pe.Msg, "(request id ") {
				t.Errorf("Msg %q has no request id", pe.Msg)
			}
			if !strings.HasPrefix(err.Error(), "cloudfront[cdn]: ") {
				t.Errorf("%q does not name the provider", err)
			}
			for _, s := range []string{secretKey, tt.opts.SecretAccessKey} {
				if s != "" && strings.Contains(err.Error(), s) {
					t.Errorf("%q carries the secret key", err)
				}
			}
			if got := fake.Requests(); got != 1 {
				t.Errorf("%d requests; the SDK's retries must be off", got)
			}
		})
	}
}

// TestStandardCredentialChain runs without static credentials: the SDK
// finds them in the environment, as it would a role or a profile.
func TestStandardCredentialChain(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AWS_ACCESS_KEY_ID", accessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secretKey)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", dir+"/config")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", dir+"/credentials")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	fake := cloudfronttest.NewServer(t, fakeOptions())
	p, err := cloudfront.New(cloudfront.Options{Name: "cdn", Logger: slog.New(slog.DiscardHandler), Config: cloudfront.Config{DistributionID: dist, Endpoint: fake.URL}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Purge(t.Context(), change.Call{Kind: change.URL, Items: []string{"https://www.example.com/"}, Key: "env"}); err != nil {
		t.Fatalf("purge with credentials from the environment: %v", err)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts cloudfront.Options
		want string
	}{
		{"no distribution", cloudfront.Options{Name: "c"}, "distribution_id: required"},
		{"key without secret", cloudfront.Options{Name: "c", Config: cloudfront.Config{DistributionID: dist, AccessKeyID: accessKeyID}}, "access_key_id and secret_access_key go together"},
		{"secret without key", cloudfront.Options{Name: "c", Config: cloudfront.Config{DistributionID: dist, SecretAccessKey: secretKey}}, "access_key_id and secret_access_key go together"},
		{"bad endpoint", cloudfront.Options{Name: "c", Config: cloudfront.Config{DistributionID: dist, Endpoint: "localhost:9000"}}, "endpoint: want an http(s) URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := cloudfront.New(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), secretKey) {
				t.Errorf("%q carries the secret key", err)
			}
		})
	}
}
