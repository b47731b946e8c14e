// Package cloudfronttest is a fake of CloudFront's invalidation API
// (REST/XML, 2020-05-31) that follows its documented contract
// (shared/docs/providers.md §2): it verifies every SigV4 signature by
// recomputing it, takes CreateInvalidation and GetInvalidation in the wire
// format aws-sdk-go-v2 sends, validates the batch (Quantity equals the
// number of Items, path rules), keeps CallerReference semantics (same
// reference and batch → the existing invalidation; same reference, other
// batch → InvalidationBatchAlreadyExists), enforces the in-progress limits
// per distribution (3,000 paths, 15 wildcard paths →
// TooManyInvalidationsInProgress; a batch that could never fit →
// BatchTooLarge 413), and completes invalidations after a number of polls or
// on an injectable clock. Errors use the wrapped <ErrorResponse> envelope.
package cloudfronttest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/purgehook/purgehook/purger/purgertest"
)

// Namespace is the XML namespace of API version 2020-05-31.
const Namespace = "http://cloudfront.amazonaws.com/doc/2020-05-31/"

// CloudFront's limits.
const (
	MaxInProgressPaths     = 3000
	MaxInProgressWildcards = 15
	MaxPathLength          = 4000
)

// ClientErrorMessage is the message of the forced AccessDenied.
const ClientErrorMessage = "User: arn:aws:iam::123456789012:user/purgehook is not authorized to perform: cloudfront:CreateInvalidation"

// Options configure a fake.
type Options struct {
	// AccessKeyID and SecretAccessKey are the only credentials accepted.
	AccessKeyID     string
	SecretAccessKey string
	// Region is the signing region accepted (default us-east-1).
	Region string
	// Distributions are the distribution ids that exist.
	Distributions []string
	// MaxPaths and MaxWildcards are the in-progress limits per
	// distribution (defaults 3,000 and 15).
	MaxPaths     int
	MaxWildcards int
	// MaxBatch, when set, is the most non-wildcard paths one batch may
	// carry before BatchTooLarge (default MaxPaths); the conformance suite
	// sets it to the purger's declared per-call limit.
	MaxBatch int
	// CompleteAfterPolls completes an invalidation on its Nth
	// GetInvalidation; CompleteAfter completes it that long after its
	// creation by Now. With both zero, invalidations complete on the
	// second poll.
	CompleteAfterPolls int
	CompleteAfter      time.Duration
	// Now is the fake's clock; nil means time.Now.
	Now func() time.Time
	// RetryAfter is what Fake.RetryAfter reports for the forced Throttling
	// error: CloudFront sends no wait, so it is the purger's own default.
	RetryAfter time.Duration
}

// Invalidation is one invalidation the fake created.
type Invalidation struct {
	ID              string
	Distribution    string
	CallerReference string
	Paths           []string
	Status          string // InProgress or Completed
	Created         time.Time
	Polls           int
}

func (inv *Invalidation) wildcards() (paths, wildcards int) {
	for _, p := range inv.Paths {
		if strings.HasSuffix(p, "*") {
			wildcards++
		} else {
			paths++
		}
	}
	return paths, wildcards
}

// Fake is the fake API. Use NewServer, or serve it yourself.
type Fake struct {
	// Tally gives Requests, MaxItems (the most paths one
	// CreateInvalidation carried) and FailNext.
	purgertest.Tally

	opts Options
	// URL is the base URL of the server started by NewServer.
	URL string

	mu      sync.Mutex
	invs    []*Invalidation
	creates int
	signer  *v4.Signer
}

var _ purgertest.Fake = (*Fake)(nil)

// New returns a fake that is not yet serving.
func New(o Options) *Fake {
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.MaxPaths == 0 {
		o.MaxPaths = MaxInProgressPaths
	}
	if o.MaxWildcards == 0 {
		o.MaxWildcards = MaxInProgressWildcards
	}
	if o.MaxBatch == 0 {
		o.MaxBatch = o.MaxPaths
	}
	if o.CompleteAfterPolls == 0 && o.CompleteAfter == 0 {
		o.CompleteAfterPolls = 2
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Fake{opts: o, signer: v4.NewSigner()}
}

// NewServer starts the fake on a loopback port for the test's lifetime.
func NewServer(t testing.TB, o Options) *Fake {
	f := New(o)
	f.URL = purgertest.Serve(t, f)
	return f
}

// Invalidations returns copies of the invalidations created so far.
func (f *Fake) Invalidations() []Invalidation {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tick()
	out := make([]Invalidation, len(f.invs))
	for i, inv := range f.invs {
		out[i] = *inv
		out[i].Paths = slices.Clone(inv.Paths)
	}
	return out
}

// CompleteAll completes every invalidation in progress.
func (f *Fake) CompleteAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, inv := range f.invs {
		inv.Status = "Completed"
	}
}

// Creates counts CreateInvalidation requests that reached the batch
// checks (signed, not forced to fail).
func (f *Fake) Creates() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.creates
}

// RetryAfter is Options.RetryAfter.
func (f *Fake) RetryAfter() time.Duration { return f.opts.RetryAfter }

// ClientErrorMessage is the message of the forced AccessDenied.
func (f *Fake) ClientErrorMessage() string { return ClientErrorMessage }

var (
	createRE = regexp.MustCompile(`^/2020-05-31/distribution/([^/]+)/invalidation$`)
	getRE    = regexp.MustCompile(`^/2020-05-31/distribution/([^/]+)/invalidation/([^/]+)$`)
)

// ServeHTTP implements the API.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fail := f.Begin()

	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, "Sender", "MalformedInput", "The request body could not be read.")
		return
	}
	if status, code, msg := f.verify(r, body); status != 0 {
		writeError(w, status, "Sender", code, msg)
		return
	}
	switch fail {
	case purgertest.RateLimited:
		writeError(w, http.StatusBadRequest, "Sender", "Throttling", "Rate exceeded")
		return
	case purgertest.ServerError:
		writeError(w, http.StatusServiceUnavailable, "Receiver", "ServiceUnavailable", "Service Unavailable")
		return
	case purgertest.ClientError:
		writeError(w, http.StatusForbidden, "Sender", "AccessDenied", ClientErrorMessage)
		return
	case purgertest.Stall:
		<-r.Context().Done()
		return
	}

	if m := createRE.FindStringSubmatch(r.URL.Path); m != nil && r.Method == http.MethodPost {
		f.create(w, r, m[1], body)
		return
	}
	if m := getRE.FindStringSubmatch(r.URL.Path); m != nil && r.Method == http.MethodGet {
		f.get(w, m[1], m[2])
		return
	}
	writeError(w, http.StatusNotFound, "Sender", "NotFound", "No operation matches "+r.Method+" "+r.URL.Path)
}

// verify recomputes the SigV4 signature from the headers the request says
// it signed, the body's hash and the signing time, with the fake's secret.
func (f *Fake) verify(r *http.Request, body []byte) (int, string, string) {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return http.StatusForbidden, "MissingAuthenticationToken", "Missing Authentication Token"
	}
	const algo = "AWS4-HMAC-SHA256 "
	if !strings.HasPrefix(auth, algo) {
		return http.StatusBadRequest, "IncompleteSignature", "Unsupported authorization type"
	}
	parts := map[string]string{}
	for _, kv := range strings.Split(strings.TrimPrefix(auth, algo), ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		parts[k] = v
	}
	scope := strings.Split(parts["Credential"], "/")
	if len(scope) != 5 || scope[4] != "aws4_request" || parts["SignedHeaders"] == "" || len(parts["Signature"]) != 64 {
		return http.StatusBadRequest, "IncompleteSignature", "The Authorization header is not a well-formed SigV4 header."
	}
	if scope[0] != f.opts.AccessKeyID {
		return http.StatusForbidden, "InvalidClientTokenId", "The security token included in the request is invalid."
	}
	if scope[2] != f.opts.Region || scope[3] != "cloudfront" {
		return http.StatusForbidden, "SignatureDoesNotMatch", fmt.Sprintf("Credential should be scoped to a valid region and service cloudfront, not %s/%s.", scope[2], scope[3])
	}
	when, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil || when.Format("20060102") != scope[1] {
		return http.StatusForbidden, "IncompleteSignature", "X-Amz-Date is missing or does not match the credential scope."
	}

	signed := strings.Split(parts["SignedHeaders"], ";")
	if !slices.Contains(signed, "host") {
		return http.StatusForbidden, "SignatureDoesNotMatch", "The host header must be signed."
	}
	u, err := url.Parse("http://" + r.Host + r.RequestURI)
	if err != nil {
		return http.StatusBadRequest, "InvalidURI", "The request URI is not valid."
	}
	re := &http.Request{Method: r.Method, URL: u, Host: r.Host, Header: http.Header{}, ContentLength: r.ContentLength}
	for _, h := range signed {
		if h == "host" || h == "content-length" {
			continue // the signer takes them from Host and ContentLength
		}
		for _, v := range r.Header.Values(h) {
			re.Header.Add(h, v)
		}
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: f.opts.AccessKeyID, SecretAccessKey: f.opts.SecretAccessKey}
	if err := f.signer.SignHTTP(context.Background(), creds, re, hex.EncodeToString(sum[:]), "cloudfront", f.opts.Region, when); err != nil {
		return http.StatusInternalServerError, "InternalFailure", "signing: " + err.Error()
	}
	if re.Header.Get("Authorization") != auth {
		return http.StatusForbidden, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method."
	}
	return 0, "", ""
}

// invalidationBatch is the request body.
type invalidationBatch struct {
	XMLName         xml.Name `xml:"http://cloudfront.amazonaws.com/doc/2020-05-31/ InvalidationBatch"`
	CallerReference *string  `xml:"CallerReference"`
	Paths           *struct {
		Quantity *int `xml:"Quantity"`
		Items    *struct {
			Path []string `xml:"Path"`
		} `xml:"Items"`
	} `xml:"Paths"`
}

func (f *Fake) create(w http.ResponseWriter, r *http.Request, dist string, body []byte) {
	if !slices.Contains(f.opts.Distributions, dist) {
		writeError(w, http.StatusNotFound, "Sender", "NoSuchDistribution", "The specified distribution does not exist.")
		return
	}
	if len(bytes.TrimSpace(body)) == 0 {
		writeError(w, http.StatusBadRequest, "Sender", "MissingBody", "This operation requires a body. Ensure that the body is present and the Content-Type header is set.")
		return
	}
	var in invalidationBatch
	if err := xml.Unmarshal(body, &in); err != nil {
		writeError(w, http.StatusBadRequest, "Sender", "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema: "+err.Error())
		return
	}
	if in.CallerReference == nil || *in.CallerReference == "" || in.Paths == nil || in.Paths.Quantity == nil {
		writeError(w, http.StatusBadRequest, "Sender", "InvalidArgument", "CallerReference and Paths.Quantity are required.")
		return
	}
	var paths []string
	if in.Paths.Items != nil {
		paths = in.Paths.Items.Path
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.creates++
	f.Saw(len(paths))
	if *in.Paths.Quantity != len(paths) {
		writeError(w, http.StatusBadRequest, "Sender", "InconsistentQuantities", "The value of Quantity and the size of Items don't match.")
		return
	}
	if len(paths) == 0 {
		writeError(w, http.StatusBadRequest, "Sender", "InvalidArgument", "Your request contains no invalidation paths.")
		return
	}
	for _, p := range paths {
		if !validPath(p) {
			writeError(w, http.StatusBadRequest, "Sender", "InvalidArgument", "Your request contains one or more invalid invalidation paths.")
			return
		}
	}
	f.tick()
	ref := *in.CallerReference
	for _, inv := range f.invs {
		if inv.Distribution == dist && inv.CallerReference == ref {
			if !slices.Equal(inv.Paths, paths) {
				writeError(w, http.StatusConflict, "Sender", "InvalidationBatchAlreadyExists", "An invalidation batch with this CallerReference already exists and its paths differ.")
				return
			}
			f.writeInvalidation(w, r, http.StatusCreated, inv)
			return
		}
	}
	batch := &Invalidation{Paths: paths}
	np, nw := batch.wildcards()
	if np > f.opts.MaxBatch || nw > f.opts.MaxWildcards {
		writeError(w, http.StatusRequestEntityTooLarge, "Sender", "BatchTooLarge", "Invalidation batch specified is too large.")
		return
	}
	ip, iw := 0, 0
	for _, inv := range f.invs {
		if inv.Distribution == dist && inv.Status == "InProgress" {
			p, wc := inv.wildcards()
			ip, iw = ip+p, iw+wc
		}
	}
	if ip+np > f.opts.MaxPaths || iw+nw > f.opts.MaxWildcards {
		writeError(w, http.StatusBadRequest, "Sender", "TooManyInvalidationsInProgress",
			"You have exceeded the maximum number of allowable InProgress Invalidation batch requests, or invalidation objects.")
		return
	}
	inv := &Invalidation{
		ID:              fmt.Sprintf("I%014X", len(f.invs)+1),
		Distribution:    dist,
		CallerReference: ref,
		Paths:           slices.Clone(paths),
		Status:          "InProgress",
		Created:         f.opts.Now(),
	}
	f.invs = append(f.invs, inv)
	f.writeInvalidation(w, r, http.StatusCreated, inv)
}

func (f *Fake) get(w http.ResponseWriter, dist, id string) {
	if !slices.Contains(f.opts.Distributions, dist) {
		writeError(w, http.StatusNotFound, "Sender", "NoSuchDistribution", "The specified distribution does not exist.")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, inv := range f.invs {
		if inv.Distribution == dist && inv.ID == id {
			inv.Polls++
			f.tick()
			f.writeInvalidation(w, nil, http.StatusOK, inv)
			return
		}
	}
	writeError(w, http.StatusNotFound, "Sender", "NoSuchInvalidation", "The specified invalidation does not exist.")
}

// tick completes the invalidations whose polls or time have come; f.mu is
// held.
func (f *Fake) tick() {
	now := f.opts.Now()
	for _, inv := range f.invs {
		if inv.Status != "InProgress" {
			continue
		}
		if (f.opts.CompleteAfterPolls > 0 && inv.Polls >= f.opts.CompleteAfterPolls) ||
			(f.opts.CompleteAfter > 0 && !now.Before(inv.Created.Add(f.opts.CompleteAfter))) {
			inv.Status = "Completed"
		}
	}
}

// validPath applies CloudFront's path rules: a leading slash, at most 4,000
// characters, "*" only at the end, ASCII without spaces or unsafe
// characters, and "%" only in escapes.
func validPath(p string) bool {
	if !strings.HasPrefix(p, "/") || len(p) > MaxPathLength {
		return false
	}
	if i := strings.IndexByte(p, '*'); i >= 0 && i != len(p)-1 {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c >= 0x80 || c <= ' ' || c == 0x7f || strings.IndexByte("\"<>\\{}`", c) >= 0:
			return false
		case c == '%':
			if i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
				return false
			}
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

type pathsXML struct {
	Quantity int `xml:"Quantity"`
	Items    struct {
		Path []string `xml:"Path"`
	} `xml:"Items"`
}

type invalidationXML struct {
	XMLName    xml.Name `xml:"Invalidation"`
	Xmlns      string   `xml:"xmlns,attr"`
	ID         string   `xml:"Id"`
	Status     string   `xml:"Status"`
	CreateTime string   `xml:"CreateTime"`
	Batch      struct {
		Paths           pathsXML `xml:"Paths"`
		CallerReference string   `xml:"CallerReference"`
	} `xml:"InvalidationBatch"`
}

func (f *Fake) writeInvalidation(w http.ResponseWriter, r *http.Request, status int, inv *Invalidation) {
	out := invalidationXML{Xmlns: Namespace, ID: inv.ID, Status: inv.Status, CreateTime: inv.Created.UTC().Format("2006-01-02T15:04:05.000Z")}
	out.Batch.CallerReference = inv.CallerReference
	out.Batch.Paths.Quantity = len(inv.Paths)
	out.Batch.Paths.Items.Path = inv.Paths
	b, err := xml.Marshal(out)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "Receiver", "InternalFailure", err.Error())
		return
	}
	if r != nil {
		w.Header().Set("Location", "http://"+r.Host+"/2020-05-31/distribution/"+inv.Distribution+"/invalidation/"+inv.ID)
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amz-Request-Id", requestID(inv.ID))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(b)
}

func requestID(seed string) string {
	s := sha256.Sum256([]byte(seed))
	h := hex.EncodeToString(s[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// writeError writes the wrapped <ErrorResponse> envelope.
func writeError(w http.ResponseWriter, status int, typ, code, msg string) {
	var b strings.Builder
	b.WriteString(xml.Header)
	b.WriteString(`<ErrorResponse xmlns="` + Namespace + `"><Error><Type>`)
	_ = xml.EscapeText(&b, []byte(typ))
	b.WriteString("</Type><Code>")
	_ = xml.EscapeText(&b, []byte(code))
	b.WriteString("</Code><Message>")
	_ = xml.EscapeText(&b, []byte(msg))
	id := requestID(code + msg)
	b.WriteString("</Message></Error><RequestId>" + id + "</RequestId></ErrorResponse>")
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amz-Request-Id", id)
	w.WriteHeader(status)
	_, _ = io.WriteString(w, b.String())
}
