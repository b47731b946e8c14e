package admin

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/resolve"
	"github.com/purgehook/purgehook/store"
)

// Why is the answer of GET /v1/why?url=U: what purgehook knows of a page
// and the recent purges that reached it, each with the chain that led
// there, or why none did.
type Why struct {
	URL  string `json:"url"`
	Site string `json:"site,omitempty"`
	// Graph is what the content graph knows the page shows.
	Graph  []WhyEdge  `json:"graph"`
	Purges []WhyPurge `json:"purges"`
	// Verdict says why no purge reached the page ("" when one did).
	Verdict string `json:"verdict,omitempty"`
}

// WhyEdge is one key the page shows, as the graph learned it.
type WhyEdge struct {
	Kind      string    `json:"kind"`
	Value     string    `json:"value"`
	Origin    string    `json:"origin"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	// Removed: the page no longer reports it.
	Removed bool `json:"removed,omitempty"`
}

// WhyPurge is one batch that purged the page.
type WhyPurge struct {
	Batch int64     `json:"batch"`
	At    time.Time `json:"at"`
	Calls []WhyCall `json:"calls"`
	// Chain says how the page came into the batch, one line per reason:
	// the delivery, then the target and where it came from.
	Chain []string `json:"chain"`
}

// WhyCall is a provider call that carried the page.
type WhyCall struct {
	ID       int64           `json:"id"`
	Provider string          `json:"provider"`
	Layer    string          `json:"layer"`
	State    store.CallState `json:"state"`
}

func (a *API) why(w http.ResponseWriter, r *http.Request) {
	raw := strings.TrimSpace(r.URL.Query().Get("url"))
	if raw == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "url is required (?url=https://www.example.com/page)"})
		return
	}
	out, err := a.explainURL(r.Context(), raw, r.URL.Query().Get("site"), limit(r))
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) explainURL(ctx context.Context, raw, site string, n int) (Why, error) {
	out := Why{URL: raw, Graph: []WhyEdge{}, Purges: []WhyPurge{}}
	res := a.res.Manual(resolve.ManualRequest{Site: site, URLs: []string{raw}})
	if len(res.Targets) == 0 {
		why := "not a page of a configured site"
		if len(res.Dropped) > 0 {
			why = res.Dropped[0].Reason
		}
		out.Verdict = "dropped as off-site: " + why + "; purgehook never purges or fetches it"
		return out, nil
	}
	page := res.Targets[0]
	out.URL, out.Site = page.Value, page.Site
	edges, err := a.st.GraphEdgesOfURL(ctx, page.Value)
	if err != nil {
		return out, err
	}
	tagged := map[string]store.GraphEdge{}
	for _, e := range edges {
		out.Graph = append(out.Graph, WhyEdge{Kind: e.Kind, Value: e.Value, Origin: e.Origin, FirstSeen: e.FirstSeen, LastSeen: e.LastSeen, Removed: e.Removed})
		if e.Kind == "tag" {
			tagged[e.Value] = e
		}
	}
	calls, err := a.st.CallFindItem(ctx, page.Value, n)
	if err != nil {
		return out, err
	}
	byBatch := map[int64]int{}
	for _, c := range calls {
		i, ok := byBatch[c.Batch]
		if !ok {
			b, err := a.st.BatchGet(ctx, c.Batch)
			if err != nil {
				return out, err
			}
			chain, err := a.chain(ctx, c.Batch, page.Value, tagged)
			if err != nil {
				return out, err
			}
			i = len(out.Purges)
			byBatch[c.Batch] = i
			out.Purges = append(out.Purges, WhyPurge{Batch: c.Batch, At: b.CreatedAt, Chain: chain})
		}
		out.Purges[i].Calls = append(out.Purges[i].Calls, WhyCall{ID: c.ID, Provider: c.Provider, Layer: c.Layer.String(), State: c.State})
	}
	if len(out.Purges) == 0 {
		if len(edges) == 0 {
			out.Verdict = "never seen: no delivery named this page and no warm-up learned its tags"
		} else {
			out.Verdict = fmt.Sprintf("known to the graph (%d edge(s)), but no recent purge carried this page", len(edges))
		}
	}
	return out, nil
}

// chain explains how a page came into a batch: the batch's targets that
// name it, or carry a tag it reports.
func (a *API) chain(ctx context.Context, batch int64, page string, tagged map[string]store.GraphEdge) ([]string, error) {
	targets, err := a.st.BatchTargets(ctx, batch)
	if err != nil {
		return nil, err
	}
	deliveries := map[int64]string{}
	describe := func(id int64) string {
		if d, ok := deliveries[id]; ok {
			return d
		}
		s := fmt.Sprintf("delivery %d", id)
		if d, err := a.st.DeliveryGet(ctx, id); err == nil {
			s = fmt.Sprintf("delivery %d (%s %s)", id, d.Source, d.DeliveryID)
			if d.RequestID != "" {
				s = fmt.Sprintf("delivery %d (%s %s, request id %s)", id, d.Source, d.DeliveryID, d.RequestID)
			}
		}
		deliveries[id] = s
		return s
	}
	host := ""
	if u, err := url.Parse(page); err == nil {
		host = strings.ToLower(u.Hostname())
	}
	var out []string
	for _, t := range targets {
		tg := t.Target
		var line string
		switch {
		case tg.Kind == change.URL && tg.Value == page:
			line = fmt.Sprintf("%s: %s", describe(t.Delivery), tg.Reason)
		case tg.Kind == change.Tag && tagged[tg.Value].URL != "":
			e := tagged[tg.Value]
			line = fmt.Sprintf("%s: tag %s (%s); the page reports it (%s from %s, first seen %s)",
				describe(t.Delivery), tg.Value, tg.Reason, e.Origin, page, e.FirstSeen.UTC().Format(time.RFC3339))
		case tg.Kind == change.Prefix && strings.HasPrefix(page, tg.Value):
			line = fmt.Sprintf("%s: prefix %s (%s)", describe(t.Delivery), tg.Value, tg.Reason)
		case tg.Kind == change.Host && tg.Value == host:
			line = fmt.Sprintf("%s: host %s (%s)", describe(t.Delivery), tg.Value, tg.Reason)
		case tg.Kind == change.Everything:
			line = fmt.Sprintf("%s: everything (%s)", describe(t.Delivery), tg.Reason)
		default:
			continue
		}
		out = append(out, line)
	}
	if len(out) == 0 {
		// A broader purge the planner chose (a budget's purge-everything,
		// an escalation): the batch's notes say which.
		out = append(out, fmt.Sprintf("batch %d: a broader call the planner chose (see GET /v1/batches/%d)", batch, batch))
	}
	return out, nil
}
