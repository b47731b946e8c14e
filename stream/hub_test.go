package stream

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

const token = "read-token"

func authorize(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer "+token }

// msg is one parsed SSE message (or comment block).
type msg struct {
	id, event, data string
	hasID           bool
	comment         string
	retry           string
}

// reader parses a text/event-stream the way the SSE specification says.
type reader struct{ r *bufio.Reader }

func (rd *reader) next() (msg, error) {
	var m msg
	var data []string
	seen := false
	for {
		line, err := rd.r.ReadString('\n')
		if err != nil {
			return m, err
		}
		line = strings.TrimRight(line, "\n")
		if line == "" {
			if !seen {
				continue
			}
			m.data = strings.Join(data, "\n")
			return m, nil
		}
		seen = true
		if c, ok := strings.CutPrefix(line, ":"); ok {
			m.comment = strings.TrimSpace(c)
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			m.id, m.hasID = value, true
		case "event":
			m.event = value
		case "data":
			data = append(data, value)
		case "retry":
			m.retry = value
		}
	}
}

// nextEvent skips comments and retry-only blocks.
func (rd *reader) nextEvent(t *testing.T) msg {
	t.Helper()
	for {
		m, err := rd.next()
		if err != nil {
			t.Fatalf("reading the stream: %v", err)
		}
		if m.comment != "" || (m.retry != "" && !m.hasID) {
			continue
		}
		return m
	}
}

func newHub(t *testing.T, opts Options) *Hub {
	t.Helper()
	if opts.Authorize == nil {
		opts.Authorize = authorize
	}
	h, err := NewHub(opts)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// newServer serves h; it is closed after the test's streams (cleanups run
// last-registered first), since Close waits for open handlers.
func newServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func publish(t *testing.T, h *Hub, id string) int64 {
	t.Helper()
	n, err := h.Publish(t.Context(), fmt.Appendf(nil, `{"id":%q,"kind":"tag","items":["item:%s"]}`, id, id))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// connect opens the stream; lastID "" sends no Last-Event-ID.
func connect(t *testing.T, url, lastID string, query bool) *reader {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second) // a hang fails rather than blocks
	t.Cleanup(cancel)
	u := url
	if lastID != "" && query {
		u += "?last_event_id=" + lastID
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if lastID != "" && !query {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	return &reader{r: bufio.NewReader(resp.Body)}
}

func wantEvent(t *testing.T, m msg, id int64, callID string) {
	t.Helper()
	if m.id != strconv.FormatInt(id, 10) || m.event != EventType {
		t.Fatalf("got id %q event %q, want id %d event %s", m.id, m.event, id, EventType)
	}
	var body struct {
		ID    string   `json:"id"`
		Kind  string   `json:"kind"`
		Items []string `json:"items"`
	}
	if err := json.Unmarshal([]byte(m.data), &body); err != nil {
		t.Fatalf("data %q: %v", m.data, err)
	}
	if body.ID != callID {
		t.Fatalf("event %d carries call %q, want %q", id, body.ID, callID)
	}
}

func TestRejections(t *testing.T) {
	t.Parallel()
	h := newHub(t, Options{})
	srv := newServer(t, h)
	for _, tc := range []struct {
		name   string
		method string
		auth   string
		last   string
		want   int
	}{
		{"no token", http.MethodGet, "", "", http.StatusUnauthorized},
		{"wrong token", http.MethodGet, "Bearer nope", "", http.StatusUnauthorized},
		{"post", http.MethodPost, "Bearer " + token, "", http.StatusMethodNotAllowed},
		{"bad last event id", http.MethodGet, "Bearer " + token, "abc", http.StatusBadRequest},
		{"negative last event id", http.MethodGet, "Bearer " + token, "-3", http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), tc.method, srv.URL, nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			if tc.last != "" {
				req.Header.Set("Last-Event-ID", tc.last)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.want)
			}
			if tc.want == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
	// Without an Authorize function nobody gets in.
	open, err := NewHub(Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/v1/stream", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	open.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("hub without Authorize: status %d, want 401", rec.Code)
	}
}

func TestReplayThenLive(t *testing.T) {
	t.Parallel()
	for _, query := range []bool{false, true} {
		t.Run(fmt.Sprintf("query=%v", query), func(t *testing.T) {
			t.Parallel()
			h := newHub(t, Options{Batch: 2}) // several Since calls per replay
			srv := newServer(t, h)
			ids := []int64{publish(t, h, "a"), publish(t, h, "b"), publish(t, h, "c"), publish(t, h, "d")}
			rd := connect(t, srv.URL, strconv.FormatInt(ids[0], 10), query)
			for i, call := range []string{"b", "c", "d"} {
				wantEvent(t, rd.nextEvent(t), ids[i+1], call)
			}
			live := publish(t, h, "e")
			wantEvent(t, rd.nextEvent(t), live, "e")
		})
	}
}

func TestNewClientStartsAtLatest(t *testing.T) {
	t.Parallel()
	h := newHub(t, Options{})
	srv := newServer(t, h)
	publish(t, h, "old1")
	old := publish(t, h, "old2")
	rd := connect(t, srv.URL, "", false)
	m := rd.nextEvent(t)
	if m.id != strconv.FormatInt(old, 10) || m.event != "" || m.data != "" {
		t.Fatalf("first message %+v, want an id-only message with id %d", m, old)
	}
	n := publish(t, h, "new")
	wantEvent(t, rd.nextEvent(t), n, "new")
}

func TestTruncatedHistoryResets(t *testing.T) {
	t.Parallel()
	log := NewMemLog(4)
	h := newHub(t, Options{Log: log})
	srv := newServer(t, h)
	var ids []int64
	for i := range 10 {
		ids = append(ids, publish(t, h, fmt.Sprint(i)))
	}
	rd := connect(t, srv.URL, strconv.FormatInt(ids[0], 10), false)
	m := rd.nextEvent(t)
	kept, _ := log.Since(t.Context(), ids[0]-1000, 0)
	if len(kept) != 0 {
		t.Fatalf("Since before the history: %d events", len(kept))
	}
	var te *TruncatedError
	if _, err := log.Since(t.Context(), ids[0], 10); !errors.As(err, &te) {
		t.Fatalf("Since(first id) after truncation: %v", err)
	}
	wantEvent(t, m, te.Oldest-1, fmt.Sprintf("stream-reset-%d", te.Oldest-1))
	if !strings.Contains(m.data, `"kind":"everything"`) {
		t.Errorf("reset event %q is not an everything invalidation", m.data)
	}
	for id := te.Oldest; id <= ids[9]; id++ {
		wantEvent(t, rd.nextEvent(t), id, fmt.Sprint(id-ids[0]))
	}
}

func TestIDFromAnotherLogResets(t *testing.T) {
	t.Parallel()
	h := newHub(t, Options{})
	srv := newServer(t, h)
	latest := publish(t, h, "a")
	rd := connect(t, srv.URL, strconv.FormatInt(latest+1000, 10), false)
	m := rd.nextEvent(t)
	wantEvent(t, m, latest, fmt.Sprintf("stream-reset-%d", latest))
	n := publish(t, h, "b")
	wantEvent(t, rd.nextEvent(t), n, "b")
}

func TestMultiLineData(t *testing.T) {
	t.Parallel()
	h := newHub(t, Options{})
	srv := newServer(t, h)
	first := publish(t, h, "x")
	body := "{\n  \"id\": \"pretty\",\n  \"kind\": \"url\",\n  \"items\": [\"https://www.example.com/a\"]\n}"
	id, err := h.Publish(t.Context(), []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	rd := connect(t, srv.URL, strconv.FormatInt(first, 10), false)
	m := rd.nextEvent(t)
	if m.id != strconv.FormatInt(id, 10) || m.data != body {
		t.Fatalf("got %+v, want the body back intact", m)
	}
	if _, err := h.Publish(t.Context(), []byte("not json")); err == nil {
		t.Error("published a body that is not JSON")
	}
}

// recorder is a streaming ResponseWriter for tests inside a synctest bubble
// (no sockets, so time can advance).
type recorder struct {
	mu  sync.Mutex
	hdr http.Header
	buf bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.hdr }
func (r *recorder) WriteHeader(int)     {}
func (r *recorder) Flush()              {}
func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.Write(p)
}
func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.String()
}

func TestHeartbeat(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		reg := prometheus.NewRegistry()
		h := newHub(t, Options{Heartbeat: 15 * time.Second, Registerer: reg})
		ctx, cancel := context.WithCancel(t.Context())
		req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/v1/stream", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		w := &recorder{hdr: http.Header{}}
		done := make(chan struct{})
		go func() {
			h.ServeHTTP(w, req)
			close(done)
		}()
		synctest.Wait()
		if h.Subscribers() != 1 {
			t.Fatalf("%d subscribers", h.Subscribers())
		}
		time.Sleep(15*time.Second - time.Nanosecond)
		synctest.Wait()
		if strings.Contains(w.String(), "heartbeat") {
			t.Fatal("heartbeat before 15s")
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if n := strings.Count(w.String(), ": heartbeat\n\n"); n != 1 {
			t.Fatalf("%d heartbeats after 15s:\n%s", n, w.String())
		}
		id, _ := h.Publish(t.Context(), []byte(`{"id":"k","kind":"everything","items":[]}`))
		synctest.Wait()
		want := fmt.Sprintf("id: %d\nevent: invalidate\ndata: {\"id\":\"k\",\"kind\":\"everything\",\"items\":[]}\n\n", id)
		if !strings.HasSuffix(w.String(), want) {
			t.Fatalf("stream ends with %q, want %q", w.String(), want)
		}
		time.Sleep(30 * time.Second)
		synctest.Wait()
		if n := strings.Count(w.String(), ": heartbeat\n\n"); n != 3 {
			t.Fatalf("%d heartbeats after 45s", n)
		}
		cancel()
		<-done
		if h.Subscribers() != 0 {
			t.Errorf("%d subscribers after the client left", h.Subscribers())
		}
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() == "purgehook_stream_events_total" && mf.GetMetric()[0].GetCounter().GetValue() != 1 {
				t.Errorf("events_total = %v", mf.GetMetric()[0].GetCounter().GetValue())
			}
		}
	})
}

// A broken client (writes fail) ends its handler and unsubscribes.
type failingWriter struct{ recorder }

func (f *failingWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

func TestWriteFailureEndsStream(t *testing.T) {
	t.Parallel()
	h := newHub(t, Options{})
	req := httptest.NewRequest(http.MethodGet, "/v1/stream", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	h.ServeHTTP(&failingWriter{recorder{hdr: http.Header{}}}, req)
	if h.Subscribers() != 0 {
		t.Errorf("%d subscribers after a failed write", h.Subscribers())
	}
}

// TestOutlivesServerTimeouts: purgehook's server has a ReadTimeout and
// may have a WriteTimeout; neither may cut a stream that is in use. (The
// wait is real time because net/http's own deadlines are being tested.)
func TestOutlivesServerTimeouts(t *testing.T) {
	t.Parallel()
	h := newHub(t, Options{})
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ReadTimeout = 100 * time.Millisecond
	srv.Config.WriteTimeout = 100 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	rd := connect(t, srv.URL, "", false)
	rd.nextEvent(t) // the id-only start message
	time.Sleep(400 * time.Millisecond)
	id := publish(t, h, "late")
	wantEvent(t, rd.nextEvent(t), id, "late")
}

// TestWakeSendsAnotherHubsEvents: two hubs on one log stand for two
// replicas on one store. An event published through one reaches a
// follower of the other when the other is woken (purgehook wakes it on
// PostgreSQL's NOTIFY), with no heartbeat to wait for.
func TestWakeSendsAnotherHubsEvents(t *testing.T) {
	t.Parallel()
	log := NewMemLog(0)
	a := newHub(t, Options{Log: log, Heartbeat: time.Hour})
	b := newHub(t, Options{Log: log, Heartbeat: time.Hour})
	rd := connect(t, newServer(t, b).URL, "", false)
	if m := rd.nextEvent(t); m.event != "" {
		t.Fatalf("first message %+v, want the id-only one", m)
	}
	n := publish(t, a, "elsewhere")
	b.Wake()
	wantEvent(t, rd.nextEvent(t), n, "elsewhere")
}
