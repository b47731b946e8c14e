package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/purgehook/purgehook/pipeline"
	"github.com/purgehook/purgehook/store"
)

// CrawlRequest is the body of POST /v1/crawl.
type CrawlRequest struct {
	// Site is the site to crawl (default: the only site).
	Site string `json:"site,omitempty"`
}

// CrawlStarted is POST /v1/crawl's answer: the crawl started, or the one
// already running (Started false).
type CrawlStarted struct {
	Crawl   int64  `json:"crawl"`
	Site    string `json:"site"`
	Started bool   `json:"started"`
}

// startCrawl starts a crawl of a site (POST /v1/crawl), or points at the
// one running: a site is crawled once at a time.
func (a *API) startCrawl(w http.ResponseWriter, r *http.Request) {
	var req CrawlRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "malformed request: " + err.Error()})
		return
	}
	if req.Site == "" {
		if sites := a.res.Sites(); len(sites) == 1 {
			req.Site = sites[0].Name
		} else {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "site: required when several sites are configured"})
			return
		}
	}
	if a.res.Site(req.Site) == nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("site: no site named %q", req.Site)})
		return
	}
	name, _ := a.tokens.Authorize(r, ScopeCrawl)
	id, started, err := a.pl.StartCrawl(r.Context(), req.Site, "token "+name)
	if errors.Is(err, pipeline.ErrNoCrawl) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	if err != nil {
		a.fail(w, err)
		return
	}
	if started {
		a.audit(r.Context(), name, "crawl", fmt.Sprintf("crawl %d of site %s", id, req.Site))
	}
	writeJSON(w, http.StatusAccepted, CrawlStarted{Crawl: id, Site: req.Site, Started: started})
}

// crawl is GET /v1/crawl/{id}: a crawl's progress, and with ?pages=STATE
// (pending, done, failed, offsite, all) up to limit of its URLs in that
// state.
func (a *API) crawl(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	c, err := a.st.CrawlGet(ctx, id)
	if err != nil {
		a.fail(w, err)
		return
	}
	out := map[string]any{"crawl": c}
	if state := r.URL.Query().Get("pages"); state != "" {
		if state == "all" {
			state = ""
		}
		pages, err := a.st.CrawlPages(ctx, id, store.CrawlPageState(state), limit(r))
		if err != nil {
			a.fail(w, err)
			return
		}
		out["pages"] = nonNil(pages)
	}
	writeJSON(w, http.StatusOK, out)
}

// crawls is GET /v1/crawl: the latest crawls, newest first.
func (a *API) crawls(w http.ResponseWriter, r *http.Request) {
	cs, err := a.st.CrawlList(r.Context(), limit(r))
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"crawls": nonNil(cs)})
}
