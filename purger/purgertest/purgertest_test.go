package purgertest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/purger"
	"github.com/purgehook/purgehook/purger/purgertest"
)

// This file runs the suite against a small example provider, both to test
// the suite and to show a provider author the shape of a harness: a JSON API
// taking {"kind": k, "items": [...]} with a bearer token, a limit of 3 items,
// and, in the async variant, a purge id to poll.

const token = "example-secret-token"

type exampleFake struct {
	purgertest.Tally

	srv   *httptest.Server
	limit int
	async bool

	mu    sync.Mutex
	polls map[string]int
}

func newExampleFake(t *testing.T, limit int, async bool) *exampleFake {
	f := &exampleFake{limit: limit, async: async, polls: map[string]int{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *exampleFake) serve(w http.ResponseWriter, r *http.Request) {
	fail := f.Begin()

	if r.Header.Get("Authorization") != "Bearer "+token {
		http.Error(w, `{"error":"bad token"}`, http.StatusUnauthorized)
		return
	}
	if r.Method == http.MethodGet { // completion poll
		f.mu.Lock()
		f.polls[r.URL.Query().Get("id")]++
		n := f.polls[r.URL.Query().Get("id")]
		f.mu.Unlock()
		fmt.Fprintf(w, `{"done":%t}`, n >= 3)
		return
	}
	var body struct {
		Kind  string   `json:"kind"`
		Items []string `json:"items"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, `{"error":"bad json"}`, http.StatusBadRequest)
		return
	}
	f.Saw(len(body.Items))
	switch fail {
	case purgertest.RateLimited:
		w.Header().Set("Retry-After", "17")
		http.Error(w, `{"error":"slow down"}`, http.StatusTooManyRequests)
		return
	case purgertest.ServerError:
		http.Error(w, `{"error":"oops"}`, http.StatusBadGateway)
		return
	case purgertest.ClientError:
		http.Error(w, `{"error":"item 0 is not in this zone"}`, http.StatusBadRequest)
		return
	case purgertest.Stall:
		<-r.Context().Done()
		return
	}
	if len(body.Items) > f.limit {
		http.Error(w, `{"error":"too many items"}`, http.StatusBadRequest)
		return
	}
	fmt.Fprintf(w, `{"id":"p%d"}`, f.Requests())
}

func (f *exampleFake) RetryAfter() time.Duration  { return 17 * time.Second }
func (f *exampleFake) ClientErrorMessage() string { return "item 0 is not in this zone" }

type example struct {
	url    string
	limit  int
	async  bool
	logger *slog.Logger
}

var (
	_ purger.Purger    = (*example)(nil)
	_ purger.Completer = (*example)(nil)
)

func (p *example) Name() string { return "example" }

func (p *example) Limits() change.Limits {
	return change.Limits{
		Kinds:   []change.TargetKind{change.URL, change.Tag, change.Everything},
		PerCall: map[change.TargetKind]int{change.URL: p.limit, change.Tag: p.limit},
		Async:   p.async,
	}
}

func (p *example) do(ctx context.Context, method, url string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("example: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, &purger.Error{Provider: "example", Class: purger.Retry, Err: err}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e struct{ Error string }
	_ = json.Unmarshal(b, &e)
	after := purger.RetryAfter(resp.Header.Get("Retry-After"), time.Now())
	if err := purger.FromStatus("example", resp.StatusCode, after, e.Error); err != nil {
		return nil, err
	}
	p.logger.Debug("purged", "status", resp.StatusCode)
	return b, nil
}

func (p *example) Purge(ctx context.Context, call change.Call) (purger.Result, error) {
	if !p.Limits().Supports(call.Kind) {
		return purger.Result{}, &purger.Error{Provider: "example", Class: purger.Permanent, Msg: "unsupported kind " + string(call.Kind)}
	}
	if call.Kind != change.Everything && len(call.Items) == 0 {
		return purger.Result{}, nil
	}
	if err := ctx.Err(); err != nil {
		return purger.Result{}, err
	}
	body, _ := json.Marshal(map[string]any{"kind": call.Kind, "items": call.Items})
	b, err := p.do(ctx, http.MethodPost, p.url, body)
	if err != nil {
		return purger.Result{}, err
	}
	var r struct{ ID string }
	_ = json.Unmarshal(b, &r)
	return purger.Result{Ref: r.ID, Pending: p.async, CheckAfter: time.Second}, nil
}

func (p *example) Completed(ctx context.Context, call change.Call) (bool, time.Duration, error) {
	b, err := p.do(ctx, http.MethodGet, p.url+"?id="+call.Ref, nil)
	if err != nil {
		return false, 0, err
	}
	var r struct{ Done bool }
	_ = json.Unmarshal(b, &r)
	return r.Done, time.Second, nil
}

func TestExampleProvider(t *testing.T) {
	for _, async := range []bool{false, true} {
		t.Run("async="+strconv.FormatBool(async), func(t *testing.T) {
			purgertest.Run(t, purgertest.Harness{
				New: func(t *testing.T, logger *slog.Logger) (purger.Purger, purgertest.Fake) {
					f := newExampleFake(t, 3, async)
					return &example{url: f.srv.URL, limit: 3, async: async, logger: logger}, f
				},
				Secrets: []string{token},
			})
		})
	}
}

func TestDefaultItems(t *testing.T) {
	for _, k := range []change.TargetKind{change.URL, change.Tag, change.Prefix, change.Host} {
		items := purgertest.DefaultItems(k, 5)
		seen := map[string]bool{}
		for _, it := range items {
			if it == "" || seen[it] {
				t.Errorf("DefaultItems(%s): empty or repeated item %q in %v", k, it, items)
			}
			seen[it] = true
		}
		if len(items) != 5 {
			t.Errorf("DefaultItems(%s, 5) returned %d items", k, len(items))
		}
	}
	if items := purgertest.DefaultItems(change.Everything, 3); items != nil {
		t.Errorf("DefaultItems(everything) = %v, want nil", items)
	}
}
