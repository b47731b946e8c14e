// Package stream is the server side of purgehook's GET /v1/stream: the
// invalidations of `app` providers configured with stream: true, as
// server-sent events, for application instances that cannot accept inbound
// calls (depcache/httpinvalidate.Client follows it).
//
// Every event is
//
//	id: <int64, increasing>
//	event: invalidate
//	data: {"id": "<call key>", "kind": "url|tag|prefix|host|everything", "items": [...]}
//
// A client resumes with Last-Event-ID (header, or ?last_event_id= for
// browsers' first request) and is first sent every later event the Log
// still has, then live events; a client without one starts at the newest
// event and is told its id in an id-only message. A client whose id is
// older than the Log's history (or from before an in-memory log's restart)
// gets one invalidation of kind everything, since what it missed is
// unknown. Comment lines every Heartbeat keep proxies from closing an idle
// stream and let clients notice a dead one.
package stream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults.
const (
	DefaultHeartbeat    = 15 * time.Second
	DefaultBatch        = 100
	DefaultWriteTimeout = 10 * time.Second
	// DefaultRetry is the reconnection delay suggested to browsers
	// (the SSE retry field).
	DefaultRetry = 2 * time.Second
)

// EventType is the SSE event name of invalidations.
const EventType = "invalidate"

// Options configure a Hub.
type Options struct {
	// Log keeps events (default: NewMemLog(DefaultMemLogSize)).
	Log Log
	// Authorize decides whether a request may follow the stream; purgehook
	// accepts admin tokens with the read scope. Nil refuses everyone.
	Authorize func(r *http.Request) bool
	// Heartbeat is the interval of keep-alive comments (default 15s).
	// Each heartbeat also reads the Log, which picks up events appended by
	// other purgehook replicas sharing it should no Wake have told of them.
	Heartbeat time.Duration
	// Batch is how many events one Log.Since call reads (default 100).
	Batch int
	// WriteTimeout bounds each write to a client (default 10s), so a client
	// that stopped reading is dropped instead of holding a goroutine.
	WriteTimeout time.Duration
	Logger       *slog.Logger
	// Registerer, when set, receives purgehook_stream_subscribers and
	// purgehook_stream_events_total.
	Registerer prometheus.Registerer
}

// Hub publishes invalidations and serves them to subscribers.
type Hub struct {
	log       Log
	authorize func(*http.Request) bool
	heartbeat time.Duration
	batch     int
	wtimeout  time.Duration
	logger    *slog.Logger

	pubMu sync.Mutex // serialises Publish, so ids appear in order

	mu   sync.Mutex
	subs map[chan struct{}]struct{}

	subscribers prometheus.Gauge
	published   prometheus.Counter
}

// NewHub returns a hub.
func NewHub(opts Options) (*Hub, error) {
	h := &Hub{
		log:       opts.Log,
		authorize: opts.Authorize,
		heartbeat: opts.Heartbeat,
		batch:     opts.Batch,
		wtimeout:  opts.WriteTimeout,
		logger:    opts.Logger,
		subs:      map[chan struct{}]struct{}{},
		subscribers: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "purgehook", Subsystem: "stream", Name: "subscribers",
			Help: "Clients following /v1/stream.",
		}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "purgehook", Subsystem: "stream", Name: "events_total",
			Help: "Invalidations published on /v1/stream.",
		}),
	}
	if h.log == nil {
		h.log = NewMemLog(DefaultMemLogSize)
	}
	if h.heartbeat <= 0 {
		h.heartbeat = DefaultHeartbeat
	}
	if h.batch <= 0 {
		h.batch = DefaultBatch
	}
	if h.wtimeout <= 0 {
		h.wtimeout = DefaultWriteTimeout
	}
	if h.logger == nil {
		h.logger = slog.Default()
	}
	h.logger = h.logger.With("component", "stream")
	if opts.Registerer != nil {
		for _, c := range []prometheus.Collector{h.subscribers, h.published} {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("stream: register metrics: %w", err)
			}
		}
	}
	return h, nil
}

// Publish appends body (the JSON invalidation) to the log and wakes every
// subscriber. It returns the event's id.
func (h *Hub) Publish(ctx context.Context, body []byte) (int64, error) {
	if !json.Valid(body) {
		return 0, errors.New("stream: publish: body is not JSON")
	}
	h.pubMu.Lock()
	id, err := h.log.Append(ctx, body)
	h.pubMu.Unlock()
	if err != nil {
		return 0, fmt.Errorf("stream: publish: %w", err)
	}
	h.published.Inc()
	h.Wake()
	return id, nil
}

// Wake makes every subscriber read the log now. Publish calls it; so does
// whatever hears that another replica sharing the log appended an event
// (purgehook: the store's LISTEN on PostgreSQL), so that its followers do
// not wait for the next heartbeat.
func (h *Hub) Wake() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for wake := range h.subs {
		select {
		case wake <- struct{}{}:
		default: // already woken; it will read the log anyway
		}
	}
}

func (h *Hub) subscribe() chan struct{} {
	wake := make(chan struct{}, 1)
	h.mu.Lock()
	h.subs[wake] = struct{}{}
	h.mu.Unlock()
	h.subscribers.Inc()
	return wake
}

func (h *Hub) unsubscribe(wake chan struct{}) {
	h.mu.Lock()
	delete(h.subs, wake)
	h.mu.Unlock()
	h.subscribers.Dec()
}

// Subscribers is how many clients are following the stream.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// lastEventID reads Last-Event-ID (header first, then ?last_event_id=).
func lastEventID(r *http.Request) (id int64, ok bool, err error) {
	v := strings.TrimSpace(r.Header.Get("Last-Event-ID"))
	if v == "" {
		v = strings.TrimSpace(r.URL.Query().Get("last_event_id"))
	}
	if v == "" {
		return 0, false, nil
	}
	id, err = strconv.ParseInt(v, 10, 64)
	if err != nil || id < 0 {
		return 0, false, fmt.Errorf("Last-Event-ID %q is not a non-negative integer", v)
	}
	return id, true, nil
}

// ServeHTTP streams events to one client until it goes away.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if h.authorize == nil || !h.authorize(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="purgehook"`)
		http.Error(w, "a token with the read scope is required", http.StatusUnauthorized)
		return
	}
	last, resume, err := lastEventID(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ctx := r.Context()
	// Each write sets its own deadline, which also lifts a server's
	// WriteTimeout that would otherwise cut the stream.
	rc := http.NewResponseController(w)
	// Subscribe before reading the log: an event appended in between then
	// both shows in the read and wakes us, rather than neither.
	wake := h.subscribe()
	defer h.unsubscribe(wake)

	s := &sse{w: w, rc: rc, timeout: h.wtimeout}
	latest, hasLatest := int64(0), false
	if l, ok := h.log.(Latest); ok {
		if latest, err = l.LatestID(ctx); err != nil {
			h.logger.Warn("stream: read the latest id", "err", err)
			http.Error(w, "stream unavailable", http.StatusServiceUnavailable)
			return
		}
		hasLatest = true
	}

	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(&s.buf, "retry: %d\n\n", DefaultRetry.Milliseconds())
	switch {
	case !resume:
		// Start at the newest event and say so, so that a client that
		// disconnects before the first event still resumes from here.
		last = latest
		fmt.Fprintf(&s.buf, "id: %d\n\n", last)
	case hasLatest && last > latest:
		// An id this log never assigned: the client followed another log
		// (a different deployment, or a database that was reset).
		s.reset(latest)
		last = latest
	}
	if err := s.flush(); err != nil {
		return
	}

	tick := time.NewTicker(h.heartbeat)
	defer tick.Stop()
	for {
		if last, err = h.drain(ctx, s, last); err != nil {
			if ctx.Err() == nil {
				h.logger.Info("stream: client dropped", "err", err)
			}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-tick.C:
			s.buf.WriteString(": heartbeat\n\n")
			if err := s.flush(); err != nil {
				return
			}
		}
	}
}

// drain sends every event after last and returns the new last id.
func (h *Hub) drain(ctx context.Context, s *sse, last int64) (int64, error) {
	for {
		evs, err := h.log.Since(ctx, last, h.batch)
		var te *TruncatedError
		if errors.As(err, &te) {
			if te.Oldest-1 <= last {
				return last, fmt.Errorf("log reports history before %d gone after %d", te.Oldest, last)
			}
			s.reset(te.Oldest - 1)
			last = te.Oldest - 1
			if err := s.flush(); err != nil {
				return last, err
			}
			continue
		}
		if err != nil {
			return last, fmt.Errorf("read the log: %w", err)
		}
		for _, ev := range evs {
			s.event(ev.ID, ev.Data)
			last = ev.ID
		}
		if len(evs) > 0 {
			if err := s.flush(); err != nil {
				return last, err
			}
		}
		if len(evs) < h.batch {
			return last, nil
		}
	}
}

// sse buffers one burst of messages and writes it with a deadline.
type sse struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	buf     bytes.Buffer
}

func (s *sse) event(id int64, data []byte) {
	fmt.Fprintf(&s.buf, "id: %d\nevent: %s\n", id, EventType)
	// A data field ends at a line break; multi-line JSON becomes several
	// data lines, which the client joins with "\n" again.
	for line := range bytes.Lines(data) {
		s.buf.WriteString("data: ")
		s.buf.Write(bytes.TrimRight(line, "\r\n"))
		s.buf.WriteByte('\n')
	}
	if len(data) == 0 {
		s.buf.WriteString("data: \n")
	}
	s.buf.WriteByte('\n')
}

// reset tells the client to drop everything: its history is gone.
func (s *sse) reset(id int64) {
	body := fmt.Sprintf(`{"id":"stream-reset-%d","kind":"everything","items":[]}`, id)
	s.event(id, []byte(body))
}

func (s *sse) flush() error {
	// Not every ResponseWriter supports deadlines (tests' recorders); the
	// stream works without them.
	_ = s.rc.SetWriteDeadline(time.Now().Add(s.timeout))
	_, err := s.w.Write(s.buf.Bytes())
	s.buf.Reset()
	if err != nil {
		return err
	}
	return s.rc.Flush()
}
