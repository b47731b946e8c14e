// Package cloudfront purges an Amazon CloudFront distribution through
// invalidations (CreateInvalidation, then GetInvalidation until Completed),
// using aws-sdk-go-v2 so that SigV4 signing and the REST/XML wire format are
// AWS's own. Invalidations are asynchronous: Purge returns a pending result
// with the invalidation id and the queue polls Completed, snoozing between
// polls, before the next layer or the warm-up starts. The call's Key becomes
// the CallerReference, so a retried call finds its invalidation instead of
// creating a second one.
package cloudfront

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/aws/smithy-go"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/purger"
)

// Defaults and CloudFront's own numbers.
const (
	// DefaultRegion is where CloudFront's global endpoint signs requests.
	DefaultRegion = "us-east-1"
	// MaxInProgressPaths is CloudFront's limit of file paths in progress
	// per distribution; MaxInProgressWildcards the separate limit of
	// wildcard paths.
	MaxInProgressPaths     = 3000
	MaxInProgressWildcards = 15
	// DefaultPathsPerCall is a third of the in-progress limit, so that
	// three calls can be in flight at once.
	DefaultPathsPerCall = 1000
	// DefaultPrefixesPerCall is every wildcard path CloudFront allows in
	// progress: one call takes them all.
	DefaultPrefixesPerCall = MaxInProgressWildcards
	// MaxPathLength is the longest invalidation path.
	MaxPathLength = 4000
	// DefaultPollInterval is how long to wait before asking whether an
	// invalidation completed: the SDK waiter's minimum delay.
	DefaultPollInterval = 20 * time.Second
	// DefaultInProgressWait is the snooze after
	// TooManyInvalidationsInProgress: long enough for an invalidation in
	// progress to complete.
	DefaultInProgressWait = 60 * time.Second
	// DefaultThrottleWait is the snooze after a throttling error; AWS sends
	// no Retry-After, and its SDK backs off up to 20 s.
	DefaultThrottleWait = 10 * time.Second
)

// Options configure a CloudFront purger: its Config and what the process
// gives it.
type Options struct {
	// Name is the configured provider name.
	Name string
	Config
	// Limits are the effective limits, Config.Limits() with the file's
	// overrides applied; zero means Config.Limits().
	Limits change.Limits
	// Timeout bounds one call (default 30 s).
	Timeout time.Duration
	// Client, when set, replaces the SDK's own HTTP client for CloudFront
	// calls. Leave it nil in production: the SDK's client applies
	// AWS_CA_BUNDLE and the proxy settings of the AWS environment.
	Client *http.Client
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// PollInterval overrides DefaultPollInterval.
	PollInterval time.Duration
}

// Purger invalidates paths of one distribution.
type Purger struct {
	name    string
	label   string
	dist    string
	limits  change.Limits
	api     *cloudfront.Client
	poll    time.Duration
	secrets []string
	logger  *slog.Logger
}

var (
	_ purger.Purger    = (*Purger)(nil)
	_ purger.Completer = (*Purger)(nil)
)

// New checks the options and builds the SDK client. It reads the SDK's
// shared configuration (files and environment) but makes no request:
// credentials are resolved on the first call.
func New(o Options) (*Purger, error) {
	label := "cloudfront[" + o.Name + "]"
	o.Config.SetDefaults()
	if err := o.Config.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	limits := o.Limits.Clone()
	if o.Limits.Kinds == nil {
		limits = o.Config.Limits()
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.Default()
	}
	poll := o.PollInterval
	if poll <= 0 {
		poll = DefaultPollInterval
	}

	load := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRegion(o.Region),
		// The queue owns retries: one attempt per call, so that a
		// throttled call snoozes instead of sleeping in a worker.
		awsconfig.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} }),
	}
	if o.AccessKeyID != "" {
		load = append(load, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(o.AccessKeyID, o.SecretAccessKey, "")))
	}
	// LoadDefaultConfig only reads files and the environment; nothing here
	// blocks on the network, so no caller context is needed.
	cfg, err := awsconfig.LoadDefaultConfig(context.Background(), load...)
	if err != nil {
		return nil, fmt.Errorf("%s: load AWS configuration: %s", label, purger.Redact(err.Error(), o.SecretAccessKey))
	}
	api := cloudfront.NewFromConfig(cfg, func(co *cloudfront.Options) {
		if o.Endpoint != "" {
			co.BaseEndpoint = aws.String(o.Endpoint)
		}
		co.Retryer = aws.NopRetryer{}
		co.RetryMaxAttempts = 1
		if c, ok := co.HTTPClient.(*awshttp.BuildableClient); ok {
			co.HTTPClient = c.WithTimeout(timeout)
		}
		if o.Client != nil {
			co.HTTPClient = o.Client
		}
	})
	return &Purger{
		name:    o.Name,
		label:   label,
		dist:    o.DistributionID,
		limits:  limits,
		api:     api,
		poll:    poll,
		secrets: []string{o.SecretAccessKey},
		logger:  logger.With("component", "provider", "provider", o.Name, "kind", "cloudfront"),
	}, nil
}

// Name is the configured name.
func (p *Purger) Name() string { return p.name }

// Limits are Config.Limits() with the file's overrides.
func (p *Purger) Limits() change.Limits { return p.limits.Clone() }

// Purge creates one invalidation for the call.
func (p *Purger) Purge(ctx context.Context, call change.Call) (purger.Result, error) {
	if !p.Limits().Supports(call.Kind) {
		return purger.Result{}, p.fail(purger.Permanent, fmt.Sprintf("kind %s is not supported", call.Kind))
	}
	if call.Kind != change.Everything && len(call.Items) == 0 {
		return purger.Result{}, nil
	}
	if err := ctx.Err(); err != nil {
		return purger.Result{}, fmt.Errorf("%s: %w", p.label, err)
	}
	paths, err := Paths(call.Kind, call.Items)
	if err != nil {
		return purger.Result{}, p.fail(purger.Permanent, err.Error())
	}
	ref := callerReference(call.Key, paths)
	out, err := p.api.CreateInvalidation(ctx, &cloudfront.CreateInvalidationInput{
		DistributionId: aws.String(p.dist),
		InvalidationBatch: &types.InvalidationBatch{
			CallerReference: aws.String(ref),
			Paths:           &types.Paths{Quantity: aws.Int32(int32(len(paths))), Items: paths},
		},
	})
	if err != nil {
		return purger.Result{}, p.classify(ctx, err)
	}
	if out.Invalidation == nil || aws.ToString(out.Invalidation.Id) == "" {
		// Accepted without an id: nothing to poll. Retrying with the same
		// CallerReference finds the invalidation if it exists.
		return purger.Result{}, p.fail(purger.Retry, "CreateInvalidation answered without an invalidation id")
	}
	id, status := aws.ToString(out.Invalidation.Id), aws.ToString(out.Invalidation.Status)
	p.logger.Debug("invalidation created", "call", call.ID, "kind", call.Kind, "paths", len(paths),
		"invalidation", id, "status", status, "caller_reference", ref)
	if status == "Completed" {
		return purger.Result{Ref: id}, nil
	}
	return purger.Result{Ref: id, Pending: true, CheckAfter: p.poll}, nil
}

// Completed asks once whether the invalidation call.Ref completed.
func (p *Purger) Completed(ctx context.Context, call change.Call) (bool, time.Duration, error) {
	if call.Ref == "" {
		return false, 0, p.fail(purger.Permanent, "no invalidation id to poll")
	}
	if err := ctx.Err(); err != nil {
		return false, 0, fmt.Errorf("%s: %w", p.label, err)
	}
	out, err := p.api.GetInvalidation(ctx, &cloudfront.GetInvalidationInput{
		DistributionId: aws.String(p.dist),
		Id:             aws.String(call.Ref),
	})
	if err != nil {
		return false, 0, p.classify(ctx, err)
	}
	status := ""
	if out.Invalidation != nil {
		status = aws.ToString(out.Invalidation.Status)
	}
	if status == "Completed" {
		p.logger.Debug("invalidation completed", "call", call.ID, "invalidation", call.Ref)
		return true, 0, nil
	}
	return false, p.poll, nil
}

// callerReference derives the idempotency handle from the call's key and
// its paths. The key alone would do for retries; the paths keep two halves
// of a split call (which may share the key) from colliding, which CloudFront
// would refuse as InvalidationBatchAlreadyExists. A call without a key gets
// a fresh reference, never a reused one: reusing a reference would return
// an old, completed invalidation instead of invalidating again.
func callerReference(key string, paths []string) string {
	if key == "" {
		return "purgehook-" + rand.Text()
	}
	h := sha256.New()
	for _, p := range paths {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	sum := hex.EncodeToString(h.Sum(nil))[:16]
	if len(key) > 100 {
		k := sha256.Sum256([]byte(key))
		key = "purgehook-" + hex.EncodeToString(k[:16])
	}
	return key + "-" + sum
}

// Paths turns a call's items into invalidation paths: URL items become
// their path (and query), prefix items that path with a trailing "*", and
// everything the single wildcard "/*".
//
// CloudFront matches invalidation paths against the URLs viewers request,
// and encoding a character a browser does not encode makes the
// invalidation miss; so paths are encoded exactly as far as browsers encode
// them (the WHATWG path and query percent-encode sets, plus non-ASCII),
// existing escapes are kept, and a literal "*" is escaped, since only a
// final "*" may be a wildcard.
func Paths(kind change.TargetKind, items []string) ([]string, error) {
	if kind == change.Everything {
		return []string{"/*"}, nil
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		p, err := path(it)
		if err != nil {
			return nil, fmt.Errorf("%s item %q: %w", kind, it, err)
		}
		if kind == change.Prefix {
			p += "*"
		}
		if len(p) > MaxPathLength {
			return nil, fmt.Errorf("%s item %q: its path is %d characters, over CloudFront's %d", kind, purger.Truncate(it, 80), len(p), MaxPathLength)
		}
		out = append(out, p)
	}
	return out, nil
}

func path(item string) (string, error) {
	// Work on the item's own text rather than a parsed URL, so that the
	// escapes the item carries are kept as they are and a stray "%" is
	// escaped rather than refused.
	scheme, rest, ok := strings.Cut(item, "://")
	if s := strings.ToLower(scheme); !ok || (s != "http" && s != "https") || rest == "" || strings.IndexAny(rest[:1], "/?#") == 0 {
		return "", errors.New("not an absolute http(s) URL")
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[i:]
	} else {
		rest = ""
	}
	if i := strings.IndexByte(rest, '#'); i >= 0 {
		rest = rest[:i]
	}
	if !strings.HasPrefix(rest, "/") {
		rest = "/" + rest
	}
	var b strings.Builder
	query := false
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		switch {
		case c == '?':
			query = true
			b.WriteByte(c)
		case c == '%' && i+2 < len(rest) && ishex(rest[i+1]) && ishex(rest[i+2]):
			b.WriteByte(c)
		case c == '%', c == '*', c >= 0x80, c <= ' ', c == 0x7f,
			c == '"', c == '<', c == '>', c == '\\',
			!query && (c == '`' || c == '{' || c == '}'),
			query && c == '\'':
			fmt.Fprintf(&b, "%%%02X", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

func ishex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// classify turns an SDK error into a *purger.Error.
func (p *Purger) classify(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return &purger.Error{Provider: p.label, Class: purger.Retry, Err: cerr}
	}
	status := 0
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		// No answer the SDK could read: a status with an unreadable body,
		// or none at all (network, timeout).
		if status >= 300 {
			return purger.FromStatus(p.label, status, DefaultThrottleWait, p.redact(err.Error()))
		}
		return &purger.Error{Provider: p.label, Class: purger.Retry, Status: status, Err: errors.New(p.redact(err.Error()))}
	}
	code := ae.ErrorCode()
	msg := code
	if m := ae.ErrorMessage(); m != "" && m != code {
		msg += ": " + m
	}
	if re != nil && re.ServiceRequestID() != "" {
		msg += " (request id " + re.ServiceRequestID() + ")"
	}
	msg = p.redact(msg)
	_, throttled := retry.DefaultThrottleErrorCodes[code]
	switch {
	case code == "TooManyInvalidationsInProgress":
		return &purger.Error{Provider: p.label, Class: purger.Snooze, Status: status, After: DefaultInProgressWait, Msg: msg}
	case code == "BatchTooLarge":
		return &purger.Error{Provider: p.label, Class: purger.TooLarge, Status: status, Msg: msg}
	case throttled:
		// Throttling codes come with a 400 as often as with a 429.
		return &purger.Error{Provider: p.label, Class: purger.Snooze, Status: status, After: DefaultThrottleWait, Msg: msg}
	case status == 0:
		c := purger.Permanent
		if ae.ErrorFault() == smithy.FaultServer {
			c = purger.Retry
		}
		return &purger.Error{Provider: p.label, Class: c, Msg: msg}
	}
	return purger.FromStatus(p.label, status, DefaultThrottleWait, msg)
}

func (p *Purger) redact(s string) string { return purger.Redact(s, p.secrets...) }

func (p *Purger) fail(c purger.Class, msg string) error {
	return &purger.Error{Provider: p.label, Class: c, Msg: msg}
}
