package httpinvalidate

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Client defaults.
const (
	DefaultMinBackoff = 500 * time.Millisecond
	DefaultMaxBackoff = 30 * time.Second
	// DefaultIdleTimeout is three of purgehook's 15s heartbeats: a stream
	// silent that long is dead even if the connection looks open.
	DefaultIdleTimeout = 45 * time.Second
	// maxLine bounds one SSE line (an event's data): purgehook's calls are
	// far smaller than the app handler's 1 MiB body limit.
	maxLine = 2 << 20
)

// ClientOptions configure a Client.
type ClientOptions struct {
	// URL is purgehook's stream, e.g. http://purgehook:8080/v1/stream.
	URL string
	// Token is an admin token with the read scope, sent as a bearer token.
	Token string
	// Caches are invalidated by every event.
	Caches []Invalidator
	// HTTPClient makes the requests (default: a client without a timeout,
	// since the response is a stream; IdleTimeout bounds silence instead).
	HTTPClient *http.Client
	// MinBackoff and MaxBackoff bound the wait before reconnecting: it
	// doubles per failed attempt from MinBackoff up to MaxBackoff, and a
	// random half of it is jitter, so that instances restarted together do
	// not reconnect together (defaults 500ms and 30s).
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// IdleTimeout reconnects when nothing, not even a heartbeat, arrived
	// for this long (default 45s).
	IdleTimeout time.Duration
	// LastEventID resumes from a known id (one a previous Client reported);
	// "" starts at the newest event.
	LastEventID string
	// Dedupe is how many call ids are remembered (default DefaultDedupe).
	Dedupe int
	// Rand returns a number in [0, 1) for jitter (tests); default
	// math/rand/v2.
	Rand   func() float64
	Logger *slog.Logger
	// OnEvent, when set, is called after each event was applied, with the
	// number of entries it dropped (duplicates are not applied again and
	// report 0).
	OnEvent func(id string, m Message, invalidated int)
}

// Client follows purgehook's /v1/stream and invalidates the caches. It
// applies each event before it records the event's id, and resumes from
// that id after a reconnect, so every event is applied once even when the
// connection drops mid-stream.
type Client struct {
	opts   ClientOptions
	client *http.Client
	seen   *seen
	logger *slog.Logger

	mu    sync.Mutex
	last  string
	ready chan struct{}
	once  sync.Once
}

// NewClient returns a client; Run starts it.
func NewClient(opts ClientOptions) (*Client, error) {
	if opts.URL == "" {
		return nil, errors.New("httpinvalidate: client: URL is required")
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = DefaultMinBackoff
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = DefaultMaxBackoff
	}
	opts.MaxBackoff = max(opts.MaxBackoff, opts.MinBackoff)
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.Rand == nil {
		opts.Rand = rand.Float64
	}
	c := &Client{opts: opts, client: opts.HTTPClient, seen: newSeen(opts.Dedupe), last: opts.LastEventID, ready: make(chan struct{})}
	if c.client == nil {
		c.client = &http.Client{}
	}
	c.logger = opts.Logger
	if c.logger == nil {
		c.logger = slog.Default()
	}
	c.logger = c.logger.With("component", "httpinvalidate", "stream", redactURL(opts.URL))
	return c, nil
}

// LastEventID is the id of the last event applied (or announced by the
// server as the start), to resume from after a restart.
func (c *Client) LastEventID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

// Ready is closed once the first connection is established: an
// application that starts serving after it misses no invalidation.
func (c *Client) Ready() <-chan struct{} { return c.ready }

// Backoff returns the wait before reconnect attempt n (0-based): the
// doubling delay d = min(MaxBackoff, MinBackoff·2ⁿ), of which the upper
// half is random.
func (c *Client) backoff(n int) time.Duration {
	d := c.opts.MaxBackoff
	if n < 62 {
		if b := c.opts.MinBackoff << n; b > 0 && b < d {
			d = b
		}
	}
	return d/2 + time.Duration(c.opts.Rand()*float64(d/2))
}

// Run follows the stream until ctx ends, and returns ctx's error.
func (c *Client) Run(ctx context.Context) error {
	failures := 0
	for {
		streamed, err := c.follow(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if streamed {
			failures = 0
		}
		// A repeated failure is logged once at warn level, then at debug.
		level := slog.LevelDebug
		if failures == 0 {
			level = slog.LevelWarn
		}
		wait := c.backoff(failures)
		c.logger.Log(ctx, level, "stream interrupted, reconnecting", "err", err, "after", wait, "attempt", failures+1)
		failures++
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// follow makes one connection and reads it until it fails. streamed says
// whether the server accepted it (so the backoff starts over).
func (c *Client) follow(ctx context.Context) (streamed bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.opts.URL, nil)
	if err != nil {
		return false, fmt.Errorf("stream request: %w", err)
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	if c.opts.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.opts.Token)
	}
	if last := c.LastEventID(); last != "" {
		req.Header.Set("Last-Event-ID", last)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return false, c.redact(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return false, fmt.Errorf("stream: %s: %s", resp.Status, strings.TrimSpace(c.redactString(string(msg))))
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		return false, fmt.Errorf("stream: Content-Type %q, want text/event-stream", ct)
	}
	c.once.Do(func() { close(c.ready) })
	c.logger.Info("following the stream", "last_event_id", c.LastEventID())

	// Cancellation, by the caller or by silence longer than IdleTimeout,
	// closes the body too, for transports that do not watch the context.
	stop := context.AfterFunc(ctx, func() { resp.Body.Close() })
	defer stop()
	var silent atomic.Bool
	idle := time.AfterFunc(c.opts.IdleTimeout, func() {
		silent.Store(true)
		cancel()
	})
	defer idle.Stop()

	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	var (
		id, event string
		hasID     bool
		data      []string
	)
	for sc.Scan() {
		idle.Reset(c.opts.IdleTimeout)
		line := sc.Text()
		if line == "" {
			c.dispatch(id, hasID, event, data)
			id, hasID, event, data = "", false, "", data[:0]
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue // heartbeat
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			if !strings.ContainsRune(value, 0) {
				id, hasID = value, true
			}
		case "event":
			event = value
		case "data":
			data = append(data, value)
		}
	}
	err = sc.Err()
	if err == nil {
		err = io.ErrUnexpectedEOF
	}
	if silent.Load() {
		err = fmt.Errorf("no event or heartbeat for %s: %w", c.opts.IdleTimeout, err)
	}
	return true, c.redact(err)
}

// dispatch applies one complete message and then records its id.
func (c *Client) dispatch(id string, hasID bool, event string, data []string) {
	if len(data) > 0 && event == "invalidate" {
		var m Message
		n := 0
		if err := json.Unmarshal([]byte(strings.Join(data, "\n")), &m); err != nil || m.ID == "" {
			// What the event would have dropped is unknown; dropping
			// everything is the only safe reading.
			c.logger.Error("unreadable stream event; invalidating everything", "id", id, "err", err)
			m = Message{ID: "unreadable-" + id, Kind: KindEverything}
		}
		if !c.seen.has(m.ID) {
			n = Apply(m, c.opts.Caches...)
			c.seen.add(m.ID)
		}
		if c.opts.OnEvent != nil {
			c.opts.OnEvent(id, m, n)
		}
	}
	if hasID {
		c.mu.Lock()
		c.last = id
		c.mu.Unlock()
	}
}

// redact keeps the token out of errors: transports quote request URLs,
// and a misconfigured URL might carry credentials.
func (c *Client) redact(err error) error {
	if err == nil {
		return nil
	}
	return &redactedError{msg: c.redactString(err.Error()), err: err}
}

func (c *Client) redactString(s string) string {
	if c.opts.Token != "" {
		s = strings.ReplaceAll(s, c.opts.Token, "[redacted]")
	}
	if u := c.opts.URL; u != redactURL(u) {
		s = strings.ReplaceAll(s, u, redactURL(u))
	}
	return s
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
