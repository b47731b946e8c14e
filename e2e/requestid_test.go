package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/purgehook/purgehook/app"
	"github.com/purgehook/purgehook/purger/cloudflare/cloudflaretest"
	"github.com/purgehook/purgehook/source/generic"
	"github.com/purgehook/purgehook/store"
)

// lockedBuffer is a log sink the service's goroutines write to at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// lines decodes every JSON log line written so far.
func (l *lockedBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(l.b.Bytes()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not a JSON log line: %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// startServiceLogging starts purgehook as startService does, logging JSON
// lines (log.format: json) to sink.
func startServiceLogging(t *testing.T, yaml string, sink *lockedBuffer) *service {
	t.Helper()
	dir := t.TempDir()
	cfg, err := app.ParseConfig([]byte(strings.ReplaceAll(yaml, "$DIR", dir)))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	logger := slog.New(slog.NewJSONHandler(sink, &slog.HandlerOptions{Level: slog.LevelInfo}))
	s, err := app.New(context.Background(), cfg, app.Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	svc := &service{Service: s, hooks: httptest.NewServer(s.Handler()), dir: dir}
	t.Cleanup(svc.stop)
	return svc
}

// TestRequestIDInLogs: the X-Request-Id a webhook came with is answered
// back, kept with the delivery, named in its trace, and carried into the
// JSON log lines of every job that handles it: its resolve, its batch's
// steps, the provider call and the warm-up.
func TestRequestIDInLogs(t *testing.T) {
	cf := cloudflaretest.NewServer(t, cloudflaretest.Options{})
	o := newOrigin(t)
	var sink lockedBuffer
	s := startServiceLogging(t, fmt.Sprintf(`
store: {driver: sqlite, dsn: $DIR/ph.db}
sites:
  - {name: site, base_url: %s}
sources:
  - {name: cms, kind: generic, secret: %s, site: site}
providers:
  - {name: cf, kind: cloudflare, zone: %s, token: %s, api_url: %s}
coalesce: 100ms
warm: {concurrency: 2, delay: 10ms}
log: {format: json}
`, o.URL, secret, cf.Zone(), cf.Token(), cf.APIURL()), &sink)

	const rid = "edge-7f3a9c:req/42"
	body, _ := json.Marshal(publishPayload("room-1", "/en/rooms/1"))
	req, _ := http.NewRequest(http.MethodPost, s.hooks.URL+"/hooks/cms", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(generic.SignatureHeader, generic.Sign(secret, body))
	req.Header.Set("X-Request-Id", rid)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || resp.Header.Get("X-Request-Id") != rid {
		t.Fatalf("status %d, X-Request-Id %q", resp.StatusCode, resp.Header.Get("X-Request-Id"))
	}
	waitBatches(t, s.Store, 30*time.Second)
	if o.warmed("/en/rooms/1") == 0 {
		t.Fatal("the page was not warmed")
	}

	ds, err := s.Store.DeliveryList(context.Background(), 10)
	if err != nil || len(ds) != 1 || ds[0].RequestID != rid {
		t.Fatalf("deliveries %+v %v", ds, err)
	}
	events, err := s.Store.EventList(context.Background(), ds[0].ID, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(events, func(e store.Event) bool { return e.Kind == "accepted" && strings.Contains(e.Message, rid) }) {
		t.Errorf("the trace does not name the request id: %+v", events)
	}

	// Every line the jobs wrote about this delivery names its request id;
	// these must be among them.
	want := map[string]bool{"webhook accepted": false, "delivery resolved": false, "batch taken": false, "step": false, "call done": false, "warmed": false}
	for _, l := range sink.lines(t) {
		msg, _ := l["msg"].(string)
		if _, ok := want[msg]; !ok {
			continue
		}
		if l["request_id"] == rid || slices.Contains(anyStrings(l["request_ids"]), rid) {
			want[msg] = true
		} else {
			t.Errorf("%q line without the request id: %v", msg, l)
		}
	}
	for msg, seen := range want {
		if !seen {
			t.Errorf("no %q line names request id %s", msg, rid)
		}
	}
}

func anyStrings(v any) []string {
	vs, _ := v.([]any)
	var out []string
	for _, x := range vs {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
