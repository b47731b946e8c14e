package httpcall

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/purgehook/purgehook/purger/purgertest"
)

// cacheService is a fake internal cache service with two endpoints, the
// shapes a user would point the http provider at:
//
//	POST   /v1/invalidate         Authorization: Bearer <token>
//	       {"kind": "url"|"tag"|"everything", "items": [...], "request_id": "..."}
//	       at most maxBatch items (413 above); answers 202 {"accepted": n}
//	DELETE /v1/cache?url=<url>&key=<api key>
//	       one URL; answers 204, or 404 {"error":{"message":"not cached"}}
//	       which the service documents as success… but only 2xx is success
//	       to purgehook, so the fake answers 204 for unknown URLs too.
//
// Errors are {"error":{"message": "..."}}; over its rate it answers 429 with
// Retry-After in seconds.
type cacheService struct {
	*httptest.Server
	token, apiKey string
	maxBatch      int

	mu       sync.Mutex
	log      []seen
	maxItems int
	next     []purgertest.Failure
	raw      []response // scripted answers, before failures
}

type seen struct {
	Method, Path, Query string
	Header              http.Header
	Body                string
	Items               []string
}

type response struct {
	status int
	header http.Header
	body   string
}

const (
	serviceRetryAfter = 12 * time.Second
	serviceClientMsg  = "index pages is read-only"
)

var _ purgertest.Fake = (*cacheService)(nil)

func newCacheService(t *testing.T, token, apiKey string, maxBatch int) *cacheService {
	s := &cacheService{token: token, apiKey: apiKey, maxBatch: maxBatch}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *cacheService) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rec := seen{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: string(body)}
	var req struct {
		Kind      string   `json:"kind"`
		Items     []string `json:"items"`
		RequestID string   `json:"request_id"`
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/invalidate":
		if err := json.Unmarshal(body, &req); err != nil {
			s.record(rec)
			writeErr(w, http.StatusBadRequest, "body is not JSON: "+err.Error())
			return
		}
		rec.Items = req.Items
	case r.Method == http.MethodDelete && r.URL.Path == "/v1/cache":
		rec.Items = r.URL.Query()["url"]
	}
	s.record(rec)

	s.mu.Lock()
	var fail purgertest.Failure
	var raw *response
	if len(s.raw) > 0 {
		raw = &s.raw[0]
		s.raw = s.raw[1:]
	} else if len(s.next) > 0 {
		fail = s.next[0]
		s.next = s.next[1:]
	}
	s.mu.Unlock()
	if fail == purgertest.Stall {
		<-r.Context().Done()
		return
	}

	switch r.URL.Path {
	case "/v1/invalidate":
		if r.Method != http.MethodPost {
			writeErr(w, http.StatusMethodNotAllowed, "POST only")
			return
		}
		if got := r.Header.Get("Authorization"); got != "Bearer "+s.token {
			// Some services echo what they got; the provider must redact it.
			writeErr(w, http.StatusUnauthorized, fmt.Sprintf("invalid credentials %q", got))
			return
		}
		if r.Header.Get("Content-Type") != "application/json" {
			writeErr(w, http.StatusUnsupportedMediaType, "want application/json")
			return
		}
		if !slices.Contains([]string{"url", "tag", "everything"}, req.Kind) {
			writeErr(w, http.StatusBadRequest, fmt.Sprintf("unknown kind %q", req.Kind))
			return
		}
		if req.Kind == "everything" && len(req.Items) > 0 || req.Kind != "everything" && len(req.Items) == 0 {
			writeErr(w, http.StatusBadRequest, "items do not match the kind")
			return
		}
		if req.RequestID == "" {
			writeErr(w, http.StatusBadRequest, "request_id is required")
			return
		}
		if len(req.Items) > s.maxBatch {
			writeErr(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("too many items: %d > %d", len(req.Items), s.maxBatch))
			return
		}
	case "/v1/cache":
		if r.Method != http.MethodDelete {
			writeErr(w, http.StatusMethodNotAllowed, "DELETE only")
			return
		}
		if r.URL.Query().Get("key") != s.apiKey {
			writeErr(w, http.StatusUnauthorized, "invalid key "+r.URL.Query().Get("key"))
			return
		}
		if u := r.URL.Query()["url"]; len(u) != 1 || !strings.HasPrefix(u[0], "http") {
			writeErr(w, http.StatusBadRequest, "want one absolute url")
			return
		}
	default:
		writeErr(w, http.StatusNotFound, "no such endpoint")
		return
	}

	if raw != nil {
		for k, v := range raw.header {
			w.Header()[k] = v
		}
		w.WriteHeader(raw.status)
		io.WriteString(w, raw.body)
		return
	}
	switch fail {
	case purgertest.RateLimited:
		w.Header().Set("Retry-After", fmt.Sprint(int(serviceRetryAfter.Seconds())))
		writeErr(w, http.StatusTooManyRequests, "rate limited")
		return
	case purgertest.ServerError:
		writeErr(w, http.StatusServiceUnavailable, "index is rebuilding")
		return
	case purgertest.ClientError:
		writeErr(w, http.StatusBadRequest, serviceClientMsg)
		return
	}
	if r.URL.Path == "/v1/cache" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	fmt.Fprintf(w, `{"accepted":%d}`, len(req.Items))
}

func (s *cacheService) record(r seen) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = append(s.log, r)
	s.maxItems = max(s.maxItems, len(r.Items))
}

func writeErr(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"message": msg}}) // the status is sent
}

func (s *cacheService) seen() []seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.log)
}

// script makes the next answers exactly these (after auth and shape checks).
func (s *cacheService) script(rs ...response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.raw = append(s.raw, rs...)
}

func (s *cacheService) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.log)
}

func (s *cacheService) MaxItems() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxItems
}

func (s *cacheService) FailNext(f purgertest.Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next = append(s.next, f)
}

func (s *cacheService) RetryAfter() time.Duration  { return serviceRetryAfter }
func (s *cacheService) ClientErrorMessage() string { return serviceClientMsg }
