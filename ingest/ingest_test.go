package ingest_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/purgehook/purgehook/config"
	"github.com/purgehook/purgehook/ingest"
	"github.com/purgehook/purgehook/pipeline"
	"github.com/purgehook/purgehook/resolve"
	"github.com/purgehook/purgehook/source"
	"github.com/purgehook/purgehook/source/generic"
	"github.com/purgehook/purgehook/source/standard"
	"github.com/purgehook/purgehook/store"
)

const secret = "ingest-test-secret"

type env struct {
	st  *store.Store
	srv *httptest.Server
}

func newEnv(t *testing.T, allow []string) *env {
	t.Helper()
	return newEnvOf(t, genericSource(), allow, pipeline.Options{})
}

func genericSource() source.Source {
	return generic.New(source.Options{Name: "cms", Secrets: []string{secret}})
}

func newEnvWith(t *testing.T, src source.Source) *env {
	t.Helper()
	return newEnvOf(t, src, nil, pipeline.Options{})
}

func newEnvOf(t *testing.T, src source.Source, allow []string, o pipeline.Options) *env {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite", filepath.Join(t.TempDir(), "ph.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r, _ := resolve.New([]config.Site{{Name: "a", BaseURL: "https://a.example"}}, nil)
	o.Store, o.Resolver = st, r
	pl, err := pipeline.New(o)
	if err != nil {
		t.Fatal(err)
	}
	e := ingest.Endpoint{Name: "cms", Source: src, MaxBody: 4096, HashDedupe: 5 * time.Minute}
	for _, a := range allow {
		n, _ := config.ParseCIDR(a)
		e.Allow = append(e.Allow, n)
	}
	h, err := ingest.New([]ingest.Endpoint{e}, pl, slogDiscard(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /hooks/{source}", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &env{st: st, srv: srv}
}

func (e *env) post(t *testing.T, path, body string, hdr map[string]string) (int, map[string]any) {
	t.Helper()
	status, m, _ := e.postHeader(t, path, body, hdr)
	return status, m
}

func (e *env) postHeader(t *testing.T, path, body string, hdr map[string]string) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m, resp.Header
}

// journaled counts what a request may have written: deliveries, changes
// and queued jobs.
func (e *env) journaled(t *testing.T) int {
	t.Helper()
	ctx := context.Background()
	ds, err := e.st.DeliveryList(ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	total := len(ds)
	for _, d := range ds {
		cs, err := e.st.ChangeList(ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		total += len(cs)
	}
	events, err := e.st.EventList(ctx, 0, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := e.st.JobCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	total += len(events)
	for _, n := range jobs {
		total += n
	}
	return total
}

const good = `{"event":"ContentPublished","timestamp":"2026-03-05T14:30:00Z","content":{"id":"g1","contentType":"roomDetailPage","cultures":["pt","en"],"urls":["/pt/a","/en/a"]},"dependencies":["/pt/","/en/"]}`

func sig(body string) map[string]string {
	return map[string]string{generic.SignatureHeader: generic.Sign(secret, []byte(body))}
}

func TestAcceptAndRedelivery(t *testing.T) {
	e := newEnv(t, nil)
	status, m := e.post(t, "/hooks/cms", good, sig(good))
	if status != http.StatusAccepted || m["changes"] != 1.0 || m["delivery"] != source.BodyHash([]byte(good)) {
		t.Fatalf("status %d body %v", status, m)
	}
	before := e.journaled(t)
	status, m = e.post(t, "/hooks/cms", good, sig(good))
	if status != http.StatusOK || m["duplicate"] != true {
		t.Fatalf("redelivery: status %d body %v", status, m)
	}
	if after := e.journaled(t); after != before {
		t.Errorf("redelivery wrote %d rows", after-before)
	}
	// X-Webhook-Id is not signed: the same signed body under a fresh id
	// is still the same delivery (the sha256= prefix is accepted).
	for _, id := range []string{"evt-1", "evt-2"} {
		h := map[string]string{generic.SignatureHeader: "sha256=" + generic.Sign(secret, []byte(good)), generic.IDHeader: id}
		status, m = e.post(t, "/hooks/cms", good, h)
		if status != http.StatusOK || m["duplicate"] != true || m["delivery"] != source.BodyHash([]byte(good)) {
			t.Fatalf("replay with fresh id %s: status %d body %v", id, status, m)
		}
	}
	if after := e.journaled(t); after != before {
		t.Errorf("replays with fresh ids wrote %d rows", after-before)
	}
}

func TestBodyHashDedupesWithinItsWindow(t *testing.T) {
	e := newEnv(t, nil)
	now := time.Now()
	e.st.SetClock(func() time.Time { return now })
	if status, _ := e.post(t, "/hooks/cms", good, sig(good)); status != http.StatusAccepted {
		t.Fatal(status)
	}
	now = now.Add(4 * time.Minute)
	if status, m := e.post(t, "/hooks/cms", good, sig(good)); status != http.StatusOK || m["duplicate"] != true {
		t.Fatalf("a retry within the window: %d %v", status, m)
	}
	// The same body ten minutes later is a new event (say, the same
	// unpublish after a publish in between): it must purge again.
	now = now.Add(6 * time.Minute)
	status, m := e.post(t, "/hooks/cms", good, sig(good))
	if status != http.StatusAccepted || !strings.HasPrefix(m["delivery"].(string), source.BodyHash([]byte(good))+"@") {
		t.Fatalf("the same body later: %d %v", status, m)
	}
	if n, _ := e.st.DeliveryCount(context.Background()); n != 2 {
		t.Errorf("%d deliveries journaled, want 2", n)
	}
	// A captured body re-sent under fresh unsigned ids within the window
	// is a duplicate every time: replays cannot spend the budget.
	for i := range 8 {
		now = now.Add(time.Second)
		h := map[string]string{generic.SignatureHeader: generic.Sign(secret, []byte(good)), generic.IDHeader: fmt.Sprintf("fresh-%d", i)}
		if status, m := e.post(t, "/hooks/cms", good, h); status != http.StatusOK || m["duplicate"] != true {
			t.Errorf("replay %d under a fresh id: %d %v", i, status, m)
		}
	}
	if n, _ := e.st.DeliveryCount(context.Background()); n != 2 {
		t.Errorf("%d deliveries journaled after the replays, want 2", n)
	}
}

// Every supported CMS sends a JSON type; a missing Content-Type is read as
// JSON too.
func TestJSONContentTypesAreAccepted(t *testing.T) {
	for i, ct := range []string{"", "application/json", "application/json; charset=utf-8", "application/vnd.contentful.management.v1+json"} {
		e := newEnv(t, nil)
		body := strings.Replace(good, `"id":"g1"`, fmt.Sprintf(`"id":"ct%d"`, i), 1)
		h := sig(body)
		if ct != "" {
			h["Content-Type"] = ct
		}
		if status, m := e.post(t, "/hooks/cms", body, h); status != http.StatusAccepted {
			t.Errorf("Content-Type %q: %d %v", ct, status, m)
		}
	}
}

// A signed timestamp in the generic contract is held to the replay window.
func TestGenericTimestampIsCheckedAgainstTheReplayWindow(t *testing.T) {
	now := time.Date(2026, 3, 5, 14, 30, 0, 0, time.UTC)
	e := newEnvWith(t, generic.New(source.Options{Name: "cms", Secrets: []string{secret}, Tolerance: 5 * time.Minute, Now: func() time.Time { return now }}))
	if status, m := e.post(t, "/hooks/cms", good, sig(good)); status != http.StatusAccepted {
		t.Fatalf("fresh: %d %v", status, m)
	}
	now = now.Add(6 * time.Minute)
	other := strings.Replace(good, `"id":"g1"`, `"id":"g2"`, 1)
	before := e.journaled(t)
	if status, m := e.post(t, "/hooks/cms", other, sig(other)); status != http.StatusUnauthorized {
		t.Fatalf("a signed timestamp 6m old: %d %v, want 401", status, m)
	}
	bad := strings.Replace(good, "2026-03-05T14:30:00Z", "yesterday", 1)
	if status, m := e.post(t, "/hooks/cms", bad, sig(bad)); status != http.StatusBadRequest || !strings.Contains(m["error"].(string), "timestamp") {
		t.Fatalf("an unreadable timestamp: %d %v, want 400", status, m)
	}
	if after := e.journaled(t); after != before {
		t.Errorf("rejections wrote %d rows", after-before)
	}
}

// A delivery id longer than source.MaxDeliveryID is a 400, never stored.
func TestLongDeliveryIDIsRejected(t *testing.T) {
	src, err := standard.New(source.Options{Name: "cms", Secrets: []string{"whsec_" + base64.StdEncoding.EncodeToString([]byte(secret))}})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvWith(t, src)
	body := `{"type":"content.published","data":{"id":"42","urls":["/en/news/spring-menu"]}}`
	post := func(id string) (int, map[string]any) {
		sigv, err := standard.Sign("whsec_"+base64.StdEncoding.EncodeToString([]byte(secret)), id, time.Now(), []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		return e.post(t, "/hooks/cms", body, map[string]string{standard.IDHeader: id, standard.TimestampHeader: strconv.FormatInt(time.Now().Unix(), 10), standard.SignatureHeader: sigv})
	}
	if status, m := post(strings.Repeat("x", source.MaxDeliveryID+1)); status != http.StatusBadRequest || m["error"] != fmt.Sprintf("delivery id longer than %d bytes", source.MaxDeliveryID) {
		t.Fatalf("long id: %d %v", status, m)
	}
	if n := e.journaled(t); n != 0 {
		t.Errorf("a rejected delivery wrote %d rows", n)
	}
	if status, m := post(strings.Repeat("x", source.MaxDeliveryID)); status != http.StatusAccepted {
		t.Fatalf("an id at the cap: %d %v", status, m)
	}
}

func withCT(h map[string]string, ct string) map[string]string {
	h["Content-Type"] = ct
	return h
}

// badUTF8 is good with an invalid byte in a URL: decoded, it would become
// U+FFFD and another URL would be purged.
var (
	badUTF8 = strings.Replace(good, "/pt/a", "/pt/a\xff", 1)
	badDep  = strings.Replace(good, `"/pt/"`, `"/pt/\ud800"`, 1)
	newline = strings.Replace(good, "/pt/a", `/pt/a\r\nX: 1`, 1)
)

func TestBadInputIsNotJournaled(t *testing.T) {
	big := `{"event":"x","content":{"id":"1","urls":["/` + strings.Repeat("a", 5000) + `"]}}`
	tests := []struct {
		name   string
		path   string
		body   string
		hdr    map[string]string
		status int
		reason string
	}{
		{"missing signature", "/hooks/cms", good, nil, 401, "authentication failed"},
		{"bad signature", "/hooks/cms", good, map[string]string{generic.SignatureHeader: strings.Repeat("0", 64)}, 401, "authentication failed"},
		{"signature of another body", "/hooks/cms", good, sig(good + " "), 401, "authentication failed"},
		{"signed with another secret", "/hooks/cms", good, map[string]string{generic.SignatureHeader: generic.Sign("other", []byte(good))}, 401, "authentication failed"},
		{"malformed JSON", "/hooks/cms", `{"event":`, sig(`{"event":`), 400, "malformed payload: invalid JSON"},
		{"missing event", "/hooks/cms", `{"content":{"id":"1"}}`, sig(`{"content":{"id":"1"}}`), 400, "missing field event"},
		{"missing content.id", "/hooks/cms", `{"event":"x","content":{}}`, sig(`{"event":"x","content":{}}`), 400, "missing field content.id"},
		{"too large", "/hooks/cms", big, sig(big), 413, "body larger than 4096 bytes"},
		{"unknown source", "/hooks/nope", good, sig(good), 404, `no source named "nope"`},
		{"unknown source, long name", "/hooks/" + strings.Repeat("n", 5000), good, sig(good), 404, `no source named "` + strings.Repeat("n", 64) + `…"`},
		{"text/plain", "/hooks/cms", good, withCT(sig(good), "text/plain"), 415, "Content-Type text/plain, want application/json"},
		{"form", "/hooks/cms", good, withCT(sig(good), "application/x-www-form-urlencoded"), 415, "want application/json"},
		{"unreadable Content-Type", "/hooks/cms", good, withCT(sig(good), "bogus;;"), 415, "unreadable Content-Type"},
		{"invalid UTF-8 in a URL", "/hooks/cms", badUTF8, sig(badUTF8), 400, "a URL is not valid UTF-8"},
		{"invalid UTF-8 in a dependency", "/hooks/cms", badDep, sig(badDep), 400, "a URL is not valid UTF-8"},
		{"a newline in a URL", "/hooks/cms", newline, sig(newline), 400, "control character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			status, m := e.post(t, tt.path, tt.body, tt.hdr)
			if status != tt.status {
				t.Errorf("status %d, want %d (%v)", status, tt.status, m)
			}
			msg, _ := m["error"].(string)
			if !strings.Contains(msg, tt.reason) || strings.Contains(msg, "\n") {
				t.Errorf("reason %q, want one line containing %q", msg, tt.reason)
			}
			if strings.Contains(msg, secret) {
				t.Error("the secret leaked into the response")
			}
			if n := e.journaled(t); n != 0 {
				t.Errorf("%d rows journaled for a rejected webhook", n)
			}
		})
	}
}

func TestAllowIPs(t *testing.T) {
	e := newEnv(t, []string{"20.0.0.0/8"})
	status, m := e.post(t, "/hooks/cms", good, sig(good))
	if status != http.StatusForbidden {
		t.Fatalf("status %d (%v), want 403", status, m)
	}
	if n := e.journaled(t); n != 0 {
		t.Errorf("%d rows journaled", n)
	}
	e = newEnv(t, []string{"127.0.0.1", "::1"})
	if status, m := e.post(t, "/hooks/cms", good, sig(good)); status != http.StatusAccepted {
		t.Fatalf("allowed client: status %d (%v)", status, m)
	}
}

// When the journal's writer falls behind, a webhook is answered 503 with
// Retry-After at once and not journaled. The writer is held back by a
// transaction the test keeps open on SQLite's one writing connection.
func TestBusyJournalAnswersRetryAfter(t *testing.T) {
	e := newEnvOf(t, genericSource(), nil, pipeline.Options{GroupWindow: -1, GroupMax: 1, AcceptQueue: 1})
	held, release := make(chan struct{}), make(chan struct{})
	go func() {
		_ = e.st.InTx(context.Background(), func(*store.Tx) error {
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	type result struct {
		status int
		msg    string
		retry  string
	}
	// The writer holds at most one group of one, and one more waits: of
	// three webhooks, at least one is pushed back.
	results := make(chan result, 3)
	for i := range 3 {
		body := strings.Replace(good, `"g1"`, `"busy`+strconv.Itoa(i)+`"`, 1)
		go func() {
			status, m, h := e.postHeader(t, "/hooks/cms", body, sig(body))
			msg, _ := m["error"].(string)
			results <- result{status, msg, h.Get("Retry-After")}
		}()
	}
	r := <-results
	if r.status != http.StatusServiceUnavailable || r.retry != "1" || r.msg == "" || strings.Contains(r.msg, "\n") {
		t.Fatalf("first answer with the writer held: %+v, want 503, Retry-After 1 and a one-line reason", r)
	}
	close(release)
	accepted := 0
	for range 2 {
		switch r := <-results; r.status {
		case http.StatusAccepted:
			accepted++
		case http.StatusServiceUnavailable:
		default:
			t.Errorf("answer %+v", r)
		}
	}
	if n, _ := e.st.DeliveryCount(context.Background()); n != accepted {
		t.Errorf("%d deliveries journaled, %d acknowledged", n, accepted)
	}
}
