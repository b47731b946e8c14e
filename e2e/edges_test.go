package e2e

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/purgehook/purgehook/graph"
)

func edgesRequest(t *testing.T, method, base, token, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, base+"/v1/graph/edges", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A CMS plugin registers which pages show which content; a page it names
// is purged for a change that names only the content's id.
func TestRegisteringEdges(t *testing.T) {
	o := newOrigin(t)
	s := startService(t, fmt.Sprintf(`
store: {driver: sqlite, dsn: $DIR/ph.db}
admin:
  tokens:
    - {name: plugin, secret: graph-token-1, scopes: [graph]}
    - {name: dash, secret: read-token-2, scopes: [read]}
sites:
  - {name: site, base_url: %s}
sources:
  - {name: cms, kind: generic, secret: %s, site: site}
providers:
  - {name: log, kind: log}
coalesce: 50ms
warm: {disabled: true}
`, o.URL, secret))
	g := s.Pipeline.Graph()
	rooms := o.URL + "/en/rooms"
	good := fmt.Sprintf(`{"edges": [{"kind": "id", "value": "1234", "url": %q}, {"kind": "tag", "value": "rooms", "url": %q, "site": "site"}]}`, rooms, rooms)

	for _, tc := range []struct {
		token, body string
		status      int
		want        string
	}{
		{"read-token-2", good, http.StatusForbidden, "lacks the graph scope"},
		{"graph-token-1", `{"edges": []}`, http.StatusBadRequest, "want 1 to 10000 edges"},
		{"graph-token-1", `{"edges": [{"kind": "id", "value": "1", "url": "https://evil.example/x"}]}`, http.StatusBadRequest, "edges[0].url: outside every configured site"},
		{"graph-token-1", fmt.Sprintf(`{"edges": [{"kind": "id", "value": "1", "url": %q}, {"kind": "page", "value": "1", "url": %q}]}`, rooms, rooms), http.StatusBadRequest, "edges[1].kind: want id, codename or tag"},
		{"graph-token-1", fmt.Sprintf(`{"edges": [{"kind": "id", "value": " ", "url": %q}]}`, rooms), http.StatusBadRequest, "edges[0].value: required"},
		{"graph-token-1", fmt.Sprintf(`{"edges": [{"kind": "id", "value": "1", "url": %q, "site": "other"}]}`, rooms), http.StatusBadRequest, "but the URL is a page of site"},
		{"graph-token-1", `{"edges": [{"kind": "id", "value": "1", "url": "/en/x", "extra": 1}]}`, http.StatusBadRequest, "malformed request"},
	} {
		status, body := edgesRequest(t, http.MethodPut, s.hooks.URL, tc.token, tc.body)
		if status != tc.status || !strings.Contains(body, tc.want) {
			t.Errorf("PUT %s: %d %s, want %d %q", tc.body, status, body, tc.status, tc.want)
		}
	}
	if n := g.Len(); n != 0 {
		t.Fatalf("refused requests wrote %d edges", n)
	}

	if status, body := edgesRequest(t, http.MethodPut, s.hooks.URL, "graph-token-1", good); status != http.StatusOK || !strings.Contains(body, `"registered": 2`) {
		t.Fatalf("PUT: %d %s", status, body)
	}
	if got := g.URLs("site", graph.Tag, "rooms"); !slices.Equal(got, []string{rooms}) {
		t.Errorf("tag rooms → %q", got)
	}
	// An unpublish by id purges the registered page.
	p := publishPayload("1234")
	p.Event = "ContentUnpublished"
	if status, _ := send(t, s.hooks.URL, p); status != http.StatusAccepted {
		t.Fatalf("status %d", status)
	}
	bs := waitBatches(t, s.Store, 30*time.Second)
	if got := urlCalls(t, s.Store, bs, 0); !slices.Equal(got, []string{rooms}) {
		t.Errorf("unpublish purged %q", got)
	}

	if status, body := edgesRequest(t, http.MethodDelete, s.hooks.URL, "graph-token-1", good); status != http.StatusOK || !strings.Contains(body, `"removed": 2`) {
		t.Fatalf("DELETE: %d %s", status, body)
	}
	if g.Len() != 0 {
		t.Errorf("after DELETE the graph has %d edges", g.Len())
	}
}
