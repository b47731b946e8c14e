package cloudflaretest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// GraphQLPath is where the fake serves the GraphQL Analytics API, like the
// real https://api.cloudflare.com/client/v4/graphql.
const GraphQLPath = BasePath + "/graphql"

// graphqlState is the fake's analytics: what it answers and what it was
// asked.
type graphqlState struct {
	mu      sync.Mutex
	counts  map[string]int64 // cacheStatus → requests
	denied  bool
	queries int
}

// SetAnalytics sets the requests per cacheStatus (hit, miss, expired,
// dynamic, …) the fake reports for any window.
func (s *Server) SetAnalytics(counts map[string]int64) {
	s.gql.mu.Lock()
	defer s.gql.mu.Unlock()
	s.gql.counts = counts
}

// DenyAnalytics makes the fake answer as Cloudflare does a token without
// the Analytics Read permission: 200, data null, an errors array saying
// the zone is not authorized.
func (s *Server) DenyAnalytics() {
	s.gql.mu.Lock()
	defer s.gql.mu.Unlock()
	s.gql.denied = true
}

// AnalyticsQueries counts the GraphQL requests the fake answered.
func (s *Server) AnalyticsQueries() int {
	s.gql.mu.Lock()
	defer s.gql.mu.Unlock()
	return s.gql.queries
}

// gqlRequest is a GraphQL request body.
type gqlRequest struct {
	Query     string         `json:"query"`
	Variables map[string]any `json:"variables"`
}

// gqlError is one entry of a GraphQL errors array, as Cloudflare sends it.
type gqlError struct {
	Message    string         `json:"message"`
	Path       []string       `json:"path,omitempty"`
	Extensions map[string]any `json:"extensions,omitempty"`
}

// graphql serves POST /graphql: bearer auth as the REST API, a query on
// viewer.zones(filter: {zoneTag}).httpRequestsAdaptiveGroups with
// count and dimensions.cacheStatus, the zone and an RFC 3339 window in
// variables. Errors come in the GraphQL way: status 200, data null, an
// errors array (Cloudflare's error responses page).
func (s *Server) graphql(w http.ResponseWriter, r *http.Request) {
	s.gql.mu.Lock()
	s.gql.queries++
	counts, denied := s.gql.counts, s.gql.denied
	s.gql.mu.Unlock()
	if r.Method != http.MethodPost {
		s.reply(w, &Call{}, http.StatusMethodNotAllowed, codeMethod, "Method not allowed")
		return
	}
	auth := r.Header.Get("Authorization")
	if tok, ok := strings.CutPrefix(auth, "Bearer "); !ok || tok != s.opts.Token {
		s.reply(w, &Call{}, http.StatusForbidden, codeAuth, "Authentication error")
		return
	}
	var req gqlRequest
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err := json.Unmarshal(raw, &req); err != nil {
		gqlFail(w, gqlError{Message: "failed to parse the request body"})
		return
	}
	for _, want := range []string{"viewer", "zones", "zoneTag", "httpRequestsAdaptiveGroups", "datetime_geq", "datetime_lt", "count", "cacheStatus"} {
		if !strings.Contains(req.Query, want) {
			gqlFail(w, gqlError{Message: "the fake expects a query on viewer.zones.httpRequestsAdaptiveGroups; missing " + want})
			return
		}
	}
	zone, _ := req.Variables["zoneTag"].(string)
	since, err1 := time.Parse(time.RFC3339, str(req.Variables["since"]))
	until, err2 := time.Parse(time.RFC3339, str(req.Variables["until"]))
	switch {
	case zone != s.opts.Zone:
		gqlFail(w, gqlError{Message: "zone '" + zone + "' does not exist or is not authorized", Path: []string{"viewer", "zones", "0"}, Extensions: map[string]any{"code": "authz"}})
		return
	case err1 != nil || err2 != nil || !since.Before(until):
		gqlFail(w, gqlError{Message: "datetime_geq and datetime_lt must be RFC 3339 times, the first before the second"})
		return
	case denied:
		gqlFail(w, gqlError{Message: "not authorized for that account", Path: []string{"viewer", "zones", "0", "httpRequestsAdaptiveGroups"},
			Extensions: map[string]any{"code": "authz", "timestamp": time.Now().UTC().Format(time.RFC3339)}})
		return
	}
	type group struct {
		Count      int64             `json:"count"`
		Dimensions map[string]string `json:"dimensions"`
	}
	groups := []group{}
	for status, n := range counts {
		groups = append(groups, group{Count: n, Dimensions: map[string]string{"cacheStatus": status}})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"data":   map[string]any{"viewer": map[string]any{"zones": []any{map[string]any{"httpRequestsAdaptiveGroups": groups}}}},
		"errors": nil,
	})
}

func gqlFail(w http.ResponseWriter, e gqlError) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"data": nil, "errors": []gqlError{e}})
}

func str(v any) string { s, _ := v.(string); return s }
