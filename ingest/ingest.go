// Package ingest is the webhook endpoint, POST /hooks/{source}: it checks
// the client's address and the body's size, lets the source verify and
// parse the body, journals the delivery with the job that will process it,
// and only then acknowledges. Nothing else runs inside the request, and a
// rejected webhook is never written anywhere.
package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/source"
)

// Endpoint is one configured source.
type Endpoint struct {
	Name    string
	Source  source.Source
	MaxBody int64
	// Allow, when non-empty, lists the networks that may call.
	Allow []*net.IPNet
	// HashDedupe bounds how long a body hash (the delivery id of CMSs that
	// send none) marks a redelivery; 0 means forever.
	HashDedupe time.Duration
}

// Journal durably records an accepted delivery (pipeline.Pipeline). It
// settles the delivery's final id, stamps the changes with it, and
// returns it. An error with a RetryAfter() time.Duration method says the
// journal is busy: the handler answers 503 with Retry-After.
type Journal interface {
	Accept(ctx context.Context, d change.Delivery) (id int64, deliveryID string, inserted bool, err error)
}

// Handler serves POST /hooks/{source}.
type Handler struct {
	// trusted are the proxies whose X-Forwarded-For is believed.
	trusted   []*net.IPNet
	endpoints map[string]Endpoint
	journal   Journal
	log       *slog.Logger
	total     *prometheus.CounterVec
	duration  *prometheus.HistogramVec
}

// New builds the handler and registers its metrics.
func New(endpoints []Endpoint, j Journal, logger *slog.Logger, reg prometheus.Registerer) (*Handler, error) {
	h := &Handler{
		endpoints: map[string]Endpoint{},
		journal:   j,
		log:       logger.With("component", "ingest"),
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "purgehook_webhooks_total",
			Help: "Webhooks received by source and outcome (accepted, duplicate, unauthorized, malformed, too_large, unsupported_media_type, forbidden, unknown_source, busy, error).",
		}, []string{"source", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "purgehook_webhook_duration_seconds",
			Help:    "Time from request to acknowledgement, journal write included.",
			Buckets: prometheus.DefBuckets,
		}, []string{"source"}),
	}
	for _, e := range endpoints {
		h.endpoints[e.Name] = e
	}
	for _, c := range []prometheus.Collector{h.total, h.duration} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// ServeHTTP handles one webhook. The route is "POST /hooks/{source}".
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rid := requestID(r)
	w.Header().Set(RequestIDHeader, rid)
	name := r.PathValue("source")
	e, ok := h.endpoints[name]
	if !ok {
		h.total.WithLabelValues("", "unknown_source").Inc()
		reply(w, http.StatusNotFound, map[string]any{"error": fmt.Sprintf("no source named %q", capEcho(name))})
		return
	}
	defer func() { h.duration.WithLabelValues(name).Observe(time.Since(start).Seconds()) }()
	remote := h.client(r)
	log := h.log.With("source", name, "remote", remote, "request_id", rid)
	outcome := func(o string) { h.total.WithLabelValues(name, o).Inc() }

	if len(e.Allow) > 0 && !allowed(e.Allow, remote) {
		outcome("forbidden")
		log.Warn("webhook rejected", "status", 403, "reason", "client address not in allow_ips")
		reply(w, http.StatusForbidden, map[string]any{"error": "client address not allowed"})
		return
	}
	// One Content-Type rule for every kind, before the body is read.
	if err := source.RequireJSON(r.Header); err != nil {
		h.reject(w, log, outcome, err)
		return
	}
	if r.ContentLength > e.MaxBody {
		outcome("too_large")
		log.Warn("webhook rejected", "status", 413, "reason", "body too large", "bytes", r.ContentLength)
		reply(w, http.StatusRequestEntityTooLarge, map[string]any{"error": fmt.Sprintf("body larger than %d bytes", e.MaxBody)})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, e.MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			outcome("too_large")
			log.Warn("webhook rejected", "status", 413, "reason", "body too large")
			reply(w, http.StatusRequestEntityTooLarge, map[string]any{"error": fmt.Sprintf("body larger than %d bytes", e.MaxBody)})
			return
		}
		outcome("malformed")
		reply(w, http.StatusBadRequest, map[string]any{"error": "could not read body"})
		return
	}
	if err := e.Source.Verify(r, body); err != nil {
		h.reject(w, log, outcome, err)
		return
	}
	changes, err := e.Source.Parse(body, r.Header)
	if err == nil {
		err = source.CheckURLs(changes)
	}
	if err != nil {
		h.reject(w, log, outcome, err)
		return
	}
	sum := source.BodyHash(body)
	id := ""
	if d, ok := e.Source.(source.DeliveryIDer); ok {
		id = d.DeliveryID(r.Header, body)
	}
	if len(id) > source.MaxDeliveryID {
		outcome("malformed")
		log.Warn("webhook rejected", "status", 400, "reason", "delivery id too long", "bytes", len(id))
		reply(w, http.StatusBadRequest, map[string]any{"error": fmt.Sprintf("delivery id longer than %d bytes", source.MaxDeliveryID)})
		return
	}
	var dedupeWithin time.Duration
	if id == "" {
		id = sum
		dedupeWithin = e.HashDedupe
	}
	_, id, inserted, err := h.journal.Accept(r.Context(), change.Delivery{
		Source:       name,
		ID:           id,
		RequestID:    rid,
		Remote:       remote,
		BodySHA256:   sum,
		Changes:      changes,
		DedupeWithin: dedupeWithin,
	})
	var busy interface{ RetryAfter() time.Duration }
	if errors.As(err, &busy) {
		// The journal's writer has fallen behind: push back rather than
		// buffer without bound. Nothing was written.
		outcome("busy")
		log.Warn("webhook deferred", "status", 503, "reason", "journal busy")
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(busy.RetryAfter().Seconds())))))
		reply(w, http.StatusServiceUnavailable, map[string]any{"error": "too many deliveries at once; retry later"})
		return
	}
	if err != nil {
		// Not durable, so not acknowledged: the CMS will retry.
		outcome("error")
		log.Error("journal write failed", "delivery", id, "err", err)
		reply(w, http.StatusServiceUnavailable, map[string]any{"error": "could not record the delivery; retry later"})
		return
	}
	if !inserted {
		outcome("duplicate")
		log.Info("redelivery ignored", "delivery", id)
		reply(w, http.StatusOK, map[string]any{"delivery": id, "duplicate": true})
		return
	}
	outcome("accepted")
	log.Info("webhook accepted", "delivery", id, "changes", len(changes), "kinds", kinds(changes))
	reply(w, http.StatusAccepted, map[string]any{"delivery": id, "changes": len(changes)})
}

func (h *Handler) reject(w http.ResponseWriter, log *slog.Logger, outcome func(string), err error) {
	status := source.StatusOf(err)
	public := err.Error()
	var se *source.Error
	if errors.As(err, &se) {
		public = se.Public
	}
	switch status {
	case http.StatusUnauthorized:
		outcome("unauthorized")
	case http.StatusRequestEntityTooLarge:
		outcome("too_large")
	case http.StatusUnsupportedMediaType:
		outcome("unsupported_media_type")
	default:
		outcome("malformed")
	}
	// The log says which check failed; the client only what it may know.
	log.Warn("webhook rejected", "status", status, "reason", err.Error())
	reply(w, status, map[string]any{"error": oneLine(public)})
}

func kinds(cs []change.Change) string {
	var ks []string
	for _, c := range cs {
		ks = append(ks, string(c.Kind))
	}
	return strings.Join(ks, ",")
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// maxEcho caps what of a request is repeated in an answer.
const maxEcho = 64

// capEcho returns at most maxEcho bytes of s (cut on a rune boundary),
// marked with "…" when cut.
func capEcho(s string) string {
	if len(s) <= maxEcho {
		return s
	}
	cut := maxEcho
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// TrustProxies sets the proxies (a load balancer, a CDN's egress
// networks) whose X-Forwarded-For names the client: behind one of them,
// allow_ips and the logs see the address the proxy was called from.
func (h *Handler) TrustProxies(nets []*net.IPNet) { h.trusted = nets }

// client is the address a request came from: the connection's peer, or,
// when that peer is a trusted proxy, the nearest address in
// X-Forwarded-For that is not a trusted proxy (read from the right:
// addresses to the left of it were written by the client and prove
// nothing).
func (h *Handler) client(r *http.Request) string {
	remote := r.RemoteAddr
	if len(h.trusted) == 0 || !allowed(h.trusted, remote) {
		return remote
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		for _, a := range strings.Split(v, ",") {
			hops = append(hops, strings.TrimSpace(a))
		}
	}
	for i := len(hops) - 1; i >= 0; i-- {
		ip := net.ParseIP(hops[i])
		if ip == nil {
			// A malformed hop: trust nothing left of it.
			return remote
		}
		remote = ip.String()
		if !allowed(h.trusted, remote) {
			return remote
		}
	}
	return remote
}

func allowed(nets []*net.IPNet, remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return false
	}
	for _, n := range nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
