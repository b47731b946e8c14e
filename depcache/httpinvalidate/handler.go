package httpinvalidate

import (
	"bytes"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Handler defaults.
const (
	DefaultTolerance = 5 * time.Minute
	DefaultMaxBody   = 1 << 20
)

// Options configure a Handler.
type Options struct {
	// Secrets are the shared secrets of purgehook's app provider; any one
	// may have signed a request (several during rotation). Required.
	Secrets []string
	// Caches are invalidated by every accepted request.
	Caches []Invalidator
	// Tolerance is how far the signed timestamp may be from now (default
	// 5m), which bounds replays of a captured request.
	Tolerance time.Duration
	// MaxBody is the largest accepted body (default 1 MiB); larger is 413.
	MaxBody int64
	// Dedupe is how many call ids are remembered (default DefaultDedupe).
	Dedupe int
	// Now is the clock (tests); default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Handler receives purgehook's app provider calls: POST, signed JSON
// Message. It answers 200 {"invalidated": N}; 401 when the signature or
// timestamp is wrong, 400 when the body is malformed, 413 when it is over
// MaxBody, 405 for other methods. Errors are JSON {"error": "..."}.
type Handler struct {
	secrets   [][]byte
	caches    []Invalidator
	tolerance time.Duration
	maxBody   int64
	now       func() time.Time
	seen      *seen
	logger    *slog.Logger
}

// NewHandler returns a handler; it needs at least one non-empty secret.
func NewHandler(opts Options) (*Handler, error) {
	h := &Handler{
		caches:    opts.Caches,
		tolerance: opts.Tolerance,
		maxBody:   opts.MaxBody,
		now:       opts.Now,
		seen:      newSeen(opts.Dedupe),
		logger:    opts.Logger,
	}
	for _, s := range opts.Secrets {
		if s != "" {
			h.secrets = append(h.secrets, []byte(s))
		}
	}
	if len(h.secrets) == 0 {
		return nil, errors.New("httpinvalidate: at least one secret is required")
	}
	if h.tolerance <= 0 {
		h.tolerance = DefaultTolerance
	}
	if h.maxBody <= 0 {
		h.maxBody = DefaultMaxBody
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.logger == nil {
		h.logger = slog.Default()
	}
	h.logger = h.logger.With("component", "httpinvalidate")
	return h, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// The status is sent: a client gone before the body has nobody to tell.
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// ServeHTTP handles one call.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		fail(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			fail(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes", h.maxBody))
			return
		}
		fail(w, http.StatusBadRequest, "reading the body failed")
		return
	}
	if err := h.verify(r.Header, body); err != nil {
		h.logger.Warn("rejected an invalidation", "err", err, "remote", r.RemoteAddr)
		fail(w, http.StatusUnauthorized, "authentication failed")
		return
	}
	m, err := decode(body)
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	if h.seen.has(m.ID) {
		writeJSON(w, http.StatusOK, map[string]any{"invalidated": 0, "duplicate": true})
		return
	}
	n := Apply(m, h.caches...)
	h.seen.add(m.ID)
	h.logger.Debug("invalidated", "call", m.ID, "kind", m.Kind, "items", len(m.Items), "entries", n)
	writeJSON(w, http.StatusOK, map[string]int{"invalidated": n})
}

// verify checks the timestamp window and the signature against every
// secret. Every secret is compared, whether or not an earlier one matched,
// so that timing does not tell which secret is current.
func (h *Handler) verify(hdr http.Header, body []byte) error {
	tsv := strings.TrimSpace(hdr.Get(TimestampHeader))
	if tsv == "" {
		return fmt.Errorf("missing %s", TimestampHeader)
	}
	ts, err := strconv.ParseInt(tsv, 10, 64)
	if err != nil {
		return fmt.Errorf("%s is not unix seconds", TimestampHeader)
	}
	if d := h.now().Sub(time.Unix(ts, 0)); d > h.tolerance || -d > h.tolerance {
		return fmt.Errorf("timestamp outside the %s window (%s off)", h.tolerance, d.Round(time.Second))
	}
	var sigs [][]byte
	for part := range strings.SplitSeq(hdr.Get(SignatureHeader), ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(part), SignatureVersion+"="); ok && v != "" {
			sigs = append(sigs, []byte(SignatureVersion+"="+strings.ToLower(v)))
		}
	}
	if len(sigs) == 0 {
		return fmt.Errorf("missing %s (%s=…)", SignatureHeader, SignatureVersion)
	}
	ok := false
	for _, s := range h.secrets {
		want := []byte(Sign(string(s), ts, body))
		for _, got := range sigs {
			if hmac.Equal(want, got) {
				ok = true
			}
		}
	}
	if !ok {
		return errors.New("signature does not match")
	}
	return nil
}

// decode reads a Message strictly enough that a malformed call is refused
// (and so retried or surfaced by purgehook) rather than half applied.
// Unknown fields are allowed: a newer purgehook may send more.
func decode(body []byte) (Message, error) {
	var m Message
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&m); err != nil {
		return m, fmt.Errorf("invalid JSON: %w", err)
	}
	if dec.More() {
		return m, errors.New("trailing data after the JSON object")
	}
	switch {
	case m.ID == "":
		return m, errors.New("missing field id")
	case !validKind(m.Kind):
		return m, fmt.Errorf("unknown kind %q (want url, tag, prefix, host or everything)", m.Kind)
	case m.Kind != KindEverything && len(m.Items) == 0:
		return m, fmt.Errorf("kind %s needs items", m.Kind)
	}
	for i, it := range m.Items {
		if it == "" {
			return m, fmt.Errorf("empty item at position %d", i)
		}
	}
	return m, nil
}
