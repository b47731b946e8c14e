// Package admin is purgehook's admin API under /v1: what arrived, what was
// purged and why, budgets, manual purges and replays, and the invalidation
// stream for application instances. Every route needs a bearer token from
// config with the route's scope (read, purge, replay, graph, crawl; admin
// implies all).
package admin

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/purgehook/purgehook/budget"
	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/config"
	"github.com/purgehook/purgehook/pipeline"
	"github.com/purgehook/purgehook/resolve"
	"github.com/purgehook/purgehook/source"
	"github.com/purgehook/purgehook/store"
)

// Scopes.
const (
	ScopeRead   = "read"
	ScopePurge  = "purge"
	ScopeReplay = "replay"
	// ScopeGraph may register and withdraw content graph edges.
	ScopeGraph = "graph"
	// ScopeCrawl may start a crawl of a site.
	ScopeCrawl = "crawl"
	ScopeAdmin = "admin"
)

// API serves /v1.
type API struct {
	tokens Tokens
	st     *store.Store
	pl     *pipeline.Pipeline
	res    *resolve.Resolver
	log    *slog.Logger
}

// Options wire the API.
type Options struct {
	Tokens   Tokens
	Store    *store.Store
	Pipeline *pipeline.Pipeline
	Resolver *resolve.Resolver
	// Stream serves GET /v1/stream (nil: not routed).
	Stream http.Handler
	Logger *slog.Logger
}

// Register adds the API's routes to mux.
func Register(mux *http.ServeMux, o Options) *API {
	a := &API{tokens: o.Tokens, st: o.Store, pl: o.Pipeline, res: o.Resolver, log: o.Logger.With("component", "admin")}
	mux.Handle("GET /v1/deliveries", a.need(ScopeRead, a.deliveries))
	mux.Handle("GET /v1/deliveries/{id}", a.need(ScopeRead, a.delivery))
	mux.Handle("GET /v1/deliveries/{id}/progress", http.HandlerFunc(a.progress))
	mux.Handle("POST /v1/deliveries/{id}/replay", a.need(ScopeReplay, a.replay))
	mux.Handle("GET /v1/batches", a.need(ScopeRead, a.batches))
	mux.Handle("GET /v1/batches/{id}", a.need(ScopeRead, a.batch))
	mux.Handle("GET /v1/events", a.need(ScopeRead, a.events))
	mux.Handle("GET /v1/budgets", a.need(ScopeRead, a.budgets))
	mux.Handle("GET /v1/why", a.need(ScopeRead, a.why))
	mux.Handle("POST /v1/purge", a.need(ScopePurge, a.purge))
	mux.Handle("PUT /v1/graph/edges", a.need(ScopeGraph, a.edges))
	mux.Handle("DELETE /v1/graph/edges", a.need(ScopeGraph, a.edges))
	mux.Handle("POST /v1/crawl", a.need(ScopeCrawl, a.startCrawl))
	mux.Handle("GET /v1/crawl", a.need(ScopeRead, a.crawls))
	// Whoever may start a crawl may follow it (crawl --wait).
	mux.Handle("GET /v1/crawl/{id}", a.need(ScopeRead+","+ScopeCrawl, a.crawl))
	mux.Handle("GET /v1/audit", a.need(ScopeRead, a.auditLog))
	mux.Handle("GET /v1/failures", a.need(ScopeRead, a.failures))
	mux.Handle("POST /v1/failures/retry", a.need(ScopeReplay, a.retryAll))
	mux.Handle("POST /v1/calls/{id}/retry", a.need(ScopeReplay, a.retryCall))
	mux.Handle("POST /v1/jobs/{id}/retry", a.need(ScopeReplay, a.retryJob))
	if o.Stream != nil {
		mux.Handle("GET /v1/stream", o.Stream)
	}
	return a
}

// Tokens are the configured admin tokens.
type Tokens []config.Token

// Authorize reports whether r carries a token with scope, and the token's
// name when it carries a known one.
func (ts Tokens) Authorize(r *http.Request, scope string) (string, bool) {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return "", false
	}
	t, ok := ts.Lookup(got)
	if !ok {
		return "", false
	}
	return t.Name, HasScope(t, scope)
}

// Lookup finds the token whose secret is secret, comparing in constant
// time so that the answer's timing says nothing about the secrets.
func (ts Tokens) Lookup(secret string) (config.Token, bool) {
	if secret == "" {
		return config.Token{}, false
	}
	for _, t := range ts {
		if t.Secret != "" && subtle.ConstantTimeCompare([]byte(secret), []byte(t.Secret)) == 1 {
			return t, true
		}
	}
	return config.Token{}, false
}

// HasScope reports whether t grants scope (admin grants every scope).
func HasScope(t config.Token, scope string) bool {
	return slices.Contains(t.Scopes, scope) || slices.Contains(t.Scopes, ScopeAdmin)
}

// need serves h to tokens with scope, or with any of several scopes
// separated by commas.
func (a *API) need(scope string, h func(w http.ResponseWriter, r *http.Request)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var name string
		ok := false
		for s := range strings.SplitSeq(scope, ",") {
			if name, ok = a.tokens.Authorize(r, s); ok {
				break
			}
		}
		if !ok {
			scope = strings.ReplaceAll(scope, ",", " or ")
			status, msg := http.StatusUnauthorized, "a bearer token is required"
			if name != "" {
				status, msg = http.StatusForbidden, fmt.Sprintf("token %q lacks the %s scope", name, scope)
			}
			if status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="purgehook"`)
			}
			writeJSON(w, status, map[string]string{"error": msg})
			return
		}
		h(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func limit(r *http.Request) int {
	n, err := strconv.Atoi(r.URL.Query().Get("limit"))
	if err != nil || n <= 0 {
		return 50
	}
	return min(n, 1000)
}

func pathID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "id must be a positive integer"})
		return 0, false
	}
	return id, true
}

func (a *API) fail(w http.ResponseWriter, err error) {
	if errors.Is(err, store.ErrNotFound) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found"})
		return
	}
	if errors.Is(err, pipeline.ErrNotRetryable) {
		writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
		return
	}
	a.log.Error("admin", "err", err)
	writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal error"})
}

func (a *API) deliveries(w http.ResponseWriter, r *http.Request) {
	ds, err := a.st.DeliveryList(r.Context(), limit(r))
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"deliveries": nonNil(ds)})
}

func (a *API) delivery(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	d, err := a.st.DeliveryGet(ctx, id)
	if err != nil {
		a.fail(w, err)
		return
	}
	changes, err := a.st.ChangeList(ctx, id)
	if err != nil {
		a.fail(w, err)
		return
	}
	events, err := a.st.EventList(ctx, id, 0, 1000)
	if err != nil {
		a.fail(w, err)
		return
	}
	slices.Reverse(events)
	writeJSON(w, http.StatusOK, map[string]any{"delivery": d, "changes": nonNil(changes), "events": nonNil(events)})
}

func (a *API) replay(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	if _, err := a.st.DeliveryGet(r.Context(), id); err != nil {
		a.fail(w, err)
		return
	}
	if err := a.pl.Replay(r.Context(), id); err != nil {
		a.fail(w, err)
		return
	}
	name, _ := a.tokens.Authorize(r, ScopeReplay)
	a.audit(r.Context(), name, "replay", fmt.Sprintf("delivery %d", id))
	writeJSON(w, http.StatusAccepted, map[string]any{"delivery": id, "replayed": true})
}

func (a *API) batches(w http.ResponseWriter, r *http.Request) {
	bs, err := a.st.BatchList(r.Context(), limit(r))
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"batches": nonNil(bs)})
}

func (a *API) batch(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	b, err := a.st.BatchGet(ctx, id)
	if err != nil {
		a.fail(w, err)
		return
	}
	targets, err := a.st.BatchTargets(ctx, id)
	if err != nil {
		a.fail(w, err)
		return
	}
	calls, err := a.st.CallList(ctx, id, 10_000)
	if err != nil {
		a.fail(w, err)
		return
	}
	warms, err := a.st.WarmList(ctx, id, "", 10_000)
	if err != nil {
		a.fail(w, err)
		return
	}
	events, err := a.st.EventList(ctx, 0, id, 1000)
	if err != nil {
		a.fail(w, err)
		return
	}
	slices.Reverse(events)
	ts := make([]change.Target, len(targets))
	for i, t := range targets {
		ts[i] = t.Target
	}
	writeJSON(w, http.StatusOK, map[string]any{"batch": b, "targets": ts, "calls": nonNil(calls), "warm": nonNil(warms), "events": nonNil(events)})
}

func (a *API) events(w http.ResponseWriter, r *http.Request) {
	es, err := a.st.EventList(r.Context(), 0, 0, limit(r))
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": nonNil(es)})
}

// Budget is one provider's budget today.
type Budget struct {
	budget.Status
	Layer string `json:"layer"`
}

func (a *API) budgets(w http.ResponseWriter, r *http.Request) {
	out, err := a.Budgets(r.Context())
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"budgets": out})
}

// Budgets reads every provider's budget today, in config order.
func (a *API) Budgets(ctx context.Context) ([]Budget, error) {
	statuses, err := a.pl.Budgets(ctx)
	if err != nil {
		return nil, err
	}
	providers := a.pl.Providers()
	out := make([]Budget, len(statuses))
	for i, s := range statuses {
		out[i] = Budget{Status: s, Layer: providers[i].Layer.String()}
	}
	return out, nil
}

// PurgeRequest is a manual purge. URLs and prefixes are absolute or
// relative to Site (default: the only site).
type PurgeRequest struct {
	Site       string   `json:"site,omitempty"`
	URLs       []string `json:"urls,omitempty"`
	Tags       []string `json:"tags,omitempty"`
	Prefixes   []string `json:"prefixes,omitempty"`
	Hosts      []string `json:"hosts,omitempty"`
	Everything bool     `json:"everything,omitempty"`
	// Warm fetches purged URLs again (default true).
	Warm *bool `json:"warm,omitempty"`
	// Reason is kept in the audit trail (e.g. "deploy 1.4.2").
	Reason string `json:"reason,omitempty"`
}

func (a *API) purge(w http.ResponseWriter, r *http.Request) {
	var req PurgeRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "malformed request: " + err.Error()})
		return
	}
	name, _ := a.tokens.Authorize(r, ScopePurge)
	_, admin := a.tokens.Authorize(r, ScopeAdmin)
	res, err := a.Purge(r.Context(), name, admin, req)
	if errors.Is(err, ErrBadRequest) {
		body := map[string]any{"error": strings.TrimSuffix(err.Error(), ": "+ErrBadRequest.Error())}
		if errors.Is(err, ErrNothingToPurge) {
			body["dropped"] = res.Dropped
		}
		writeJSON(w, http.StatusBadRequest, body)
		return
	}
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"delivery": res.Delivery, "targets": res.Targets, "dropped": nonNil(res.Dropped)})
}

// ErrBadRequest marks a manual purge refused for what it asked: a bad URL
// or nothing to purge.
var ErrBadRequest = errors.New("bad request")

// ErrNothingToPurge is a manual purge whose every target was dropped.
var ErrNothingToPurge = fmt.Errorf("nothing to purge: %w", ErrBadRequest)

// PurgeResult is a manual purge accepted: the delivery that journals it.
type PurgeResult struct {
	Delivery int64
	Targets  []change.Target
	Dropped  []resolve.Dropped
}

// Purge journals a manual purge asked for by the token named token and
// records it in the audit log; the admin page and POST /v1/purge both
// come here. An admin's purge of everything is an emergency: it goes at
// once even when the day's budget is spent (recorded as overdraft), then
// every affected site's warm list is fetched.
func (a *API) Purge(ctx context.Context, token string, admin bool, req PurgeRequest) (PurgeResult, error) {
	// The same rule as webhooks: a URL JSON decoding changed (invalid
	// UTF-8) or holding a control character is refused, not purged as
	// another URL.
	if err := source.CheckURLs([]change.Change{{URLs: req.URLs, Dependencies: req.Prefixes}}); err != nil {
		return PurgeResult{}, fmt.Errorf("%w: %w", err, ErrBadRequest)
	}
	res := a.res.Manual(resolve.ManualRequest{Site: req.Site, URLs: req.URLs, Tags: req.Tags, Prefixes: req.Prefixes, Hosts: req.Hosts, Everything: req.Everything, Warm: req.Warm == nil || *req.Warm, Reason: req.Reason})
	if len(res.Targets) == 0 {
		return PurgeResult{Dropped: res.Dropped}, ErrNothingToPurge
	}
	if admin {
		for i := range res.Targets {
			if res.Targets[i].Kind == change.Everything {
				res.Targets[i].Overdraft = true
			}
		}
	}
	id := fmt.Sprintf("manual-%s-%d", token, time.Now().UnixNano())
	row, err := a.pl.Manual(ctx, id, res.Targets)
	if err != nil {
		return PurgeResult{}, err
	}
	a.log.Info("manual purge", "token", token, "delivery", row, "targets", len(res.Targets), "reason", req.Reason)
	detail := fmt.Sprintf("delivery %d: %s", row, describe(req))
	if req.Reason != "" {
		detail += "; reason: " + req.Reason
	}
	a.audit(ctx, token, "purge", detail)
	return PurgeResult{Delivery: row, Targets: res.Targets, Dropped: res.Dropped}, nil
}

func (a *API) failures(w http.ResponseWriter, r *http.Request) {
	f, err := a.pl.Failures(r.Context(), limit(r))
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, f)
}

func (a *API) retryCall(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	name, _ := a.tokens.Authorize(r, ScopeReplay)
	c, err := a.RetryCall(r.Context(), name, id)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"call": id, "retry": c})
}

// RetryCall makes a failed call again for the token named token and
// records it in the audit log.
func (a *API) RetryCall(ctx context.Context, token string, id int64) (store.CallRow, error) {
	c, err := a.pl.RetryCall(ctx, id, token)
	if err != nil {
		return c, err
	}
	a.audit(ctx, token, "retry", fmt.Sprintf("call %d as call %d", id, c.ID))
	return c, nil
}

func (a *API) retryJob(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	name, _ := a.tokens.Authorize(r, ScopeReplay)
	if err := a.pl.RetryJob(r.Context(), id, name); err != nil {
		a.fail(w, err)
		return
	}
	a.audit(r.Context(), name, "retry", fmt.Sprintf("job %d", id))
	writeJSON(w, http.StatusAccepted, map[string]any{"job": id, "retried": true})
}

func (a *API) retryAll(w http.ResponseWriter, r *http.Request) {
	name, _ := a.tokens.Authorize(r, ScopeReplay)
	res, err := a.pl.RetryAll(r.Context(), limit(r), name)
	if err != nil {
		a.fail(w, err)
		return
	}
	a.audit(r.Context(), name, "retry all", fmt.Sprintf("%d call(s), %d job(s), %d not retried", len(res.Calls), len(res.Jobs), len(res.Errors)))
	writeJSON(w, http.StatusAccepted, res)
}

func (a *API) auditLog(w http.ResponseWriter, r *http.Request) {
	as, err := a.st.AuditList(r.Context(), limit(r))
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"audit": nonNil(as)})
}

// audit records a manual action once it is accepted. The action is done
// whether or not the record is written; a failed write is logged.
func (a *API) audit(ctx context.Context, token, action, detail string) {
	if err := a.st.AuditAdd(ctx, store.Audit{Token: token, Action: action, Detail: detail}); err != nil {
		a.log.Error("audit", "token", token, "action", action, "detail", detail, "err", err)
	}
}

// describe says what a manual purge asked for, in a few words.
func describe(req PurgeRequest) string {
	if req.Everything {
		return "everything"
	}
	var parts []string
	for _, k := range []struct {
		what  string
		items []string
	}{{"url", req.URLs}, {"tag", req.Tags}, {"prefix", req.Prefixes}, {"host", req.Hosts}} {
		if len(k.items) == 0 {
			continue
		}
		p := fmt.Sprintf("%d %s(s)", len(k.items), k.what)
		if len(k.items) <= 3 {
			p += " " + strings.Join(k.items, " ")
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ", ")
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// Allow returns a func that accepts requests with scope (for the stream
// hub).
func (ts Tokens) Allow(scope string) func(r *http.Request) bool {
	return func(r *http.Request) bool {
		_, ok := ts.Authorize(r, scope)
		return ok
	}
}
