package crawl_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/purgehook/purgehook/config"
	"github.com/purgehook/purgehook/crawl"
	"github.com/purgehook/purgehook/resolve"
	"github.com/purgehook/purgehook/warm"
)

func TestParseSitemap(t *testing.T) {
	pages, sitemaps, err := crawl.ParseSitemap([]byte(`<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" xmlns:xhtml="http://www.w3.org/1999/xhtml">
  <url><loc> https://a.example/ </loc><lastmod>2026-01-01</lastmod></url>
  <url><loc>https://a.example/news?page=2&amp;x=1</loc><xhtml:link rel="alternate" hreflang="pt" href="https://a.example/pt/"/></url>
  <url><loc></loc></url>
</urlset>`))
	if err != nil || !slices.Equal(pages, []string{"https://a.example/", "https://a.example/news?page=2&x=1"}) || sitemaps != nil {
		t.Errorf("urlset: %q %q %v", pages, sitemaps, err)
	}
	pages, sitemaps, err = crawl.ParseSitemap([]byte(`<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sitemap><loc>https://a.example/s1.xml</loc></sitemap><sitemap><loc>https://a.example/s2.xml.gz</loc></sitemap>
</sitemapindex>`))
	if err != nil || pages != nil || !slices.Equal(sitemaps, []string{"https://a.example/s1.xml", "https://a.example/s2.xml.gz"}) {
		t.Errorf("index: %q %q %v", pages, sitemaps, err)
	}
	if _, _, err := crawl.ParseSitemap([]byte(`<html><body>not found</body></html>`)); !errors.Is(err, crawl.ErrNotSitemap) {
		t.Errorf("html: %v", err)
	}
	if _, _, err := crawl.ParseSitemap([]byte(`<urlset><url><loc>x`)); err == nil {
		t.Error("truncated sitemap: no error")
	}
}

func TestLinks(t *testing.T) {
	hrefs, base := crawl.Links(strings.NewReader(`<!doctype html><html><head><base href="/en/"></head><body>
<a href="about">About</a> <a href="/news#top">News</a> <A HREF='https://b.example/'>B</A>
<a href="/login" rel="nofollow noopener">Login</a> <a name="x">no href</a>
<map><area href="/map"></map><a href="mailto:x@a.example">mail</a>`))
	if base != "/en/" || !slices.Equal(hrefs, []string{"about", "/news#top", "https://b.example/", "/map", "mailto:x@a.example"}) {
		t.Errorf("links: %q base %q", hrefs, base)
	}
}

func TestResolve(t *testing.T) {
	base, _ := url.Parse("https://A.example/en/page")
	for ref, want := range map[string]string{
		"about":              "https://a.example/en/about",
		"/news#top":          "https://a.example/news",
		"https://A.EXAMPLE":  "https://a.example/",
		"?page=2":            "https://a.example/en/page?page=2",
		"mailto:x@a.example": "",
		"javascript:void(0)": "",
		"#top":               "",
		"/" + strings.Repeat("x", crawl.MaxURLLength): "",
	} {
		u, ok := crawl.Resolve(base, ref)
		got := ""
		if ok {
			got = u.String()
		}
		if got != want {
			t.Errorf("%.40q: %q, want %q", ref, got, want)
		}
	}
}

// site serves pages from a map; a value starting with "→" redirects.
func site(t *testing.T, hits *atomic.Int64, pages map[string]string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		body, ok := pages[r.URL.RequestURI()]
		switch {
		case !ok:
			http.NotFound(w, r)
		case strings.HasPrefix(body, "→"):
			http.Redirect(w, r, strings.TrimPrefix(body, "→"), http.StatusMovedPermanently)
		case strings.HasSuffix(r.URL.Path, ".gz"):
			var b bytes.Buffer
			zw := gzip.NewWriter(&b)
			fmt.Fprint(zw, body)
			zw.Close()
			w.Header().Set("Content-Type", "application/x-gzip")
			w.Write(b.Bytes())
		case strings.HasSuffix(r.URL.Path, ".xml"):
			w.Header().Set("Content-Type", "application/xml")
			fmt.Fprint(w, body)
		default:
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Cache-Tag", "page:"+r.URL.Path)
			fmt.Fprint(w, body)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestFetch(t *testing.T) {
	var hits, offHits atomic.Int64
	off := site(t, &offHits, map[string]string{"/": "elsewhere"})
	a := site(t, &hits, map[string]string{
		"/":         `<a href="/one">1</a><a href="` + off.URL + `/">off</a><a href="/one">again</a><a href="/img.png">png</a>`,
		"/away":     "→" + off.URL + "/",
		"/moved":    "→/one",
		"/s.xml.gz": `<urlset><url><loc>/rel-is-resolved</loc></url></urlset>`,
	})
	r, _ := resolve.New([]config.Site{{Name: "a", BaseURL: a.URL}}, nil)
	inSite := func(u *url.URL) bool { s := r.SiteOfURL(u.String()); return s != nil && s.Name == "a" }
	f := crawl.New(crawl.Options{Scope: r, Header: map[string]string{"X-Warmup": "true"}})
	ctx := context.Background()

	p := f.Fetch(ctx, a.URL+"/", false, inSite)
	if p.Err != nil || p.Status != 200 || p.Header.Get("Cache-Tag") != "page:/" ||
		!slices.Equal(p.Links, []string{a.URL + "/one", a.URL + "/img.png"}) || p.Skipped != 1 {
		t.Errorf("page: %+v", p)
	}

	p = f.Fetch(ctx, a.URL+"/away", false, inSite)
	if !p.OffSite || !errors.Is(p.Err, warm.ErrOffSite) || len(p.Links) != 0 {
		t.Errorf("off-site redirect: %+v", p)
	}
	if n := offHits.Load(); n != 0 {
		t.Errorf("the off-site host got %d request(s)", n)
	}
	p = f.Fetch(ctx, a.URL+"/moved", false, inSite)
	if p.Err != nil || p.Status != http.StatusMovedPermanently || !slices.Equal(p.Links, []string{a.URL + "/one"}) {
		t.Errorf("in-site redirect is a link: %+v", p)
	}
	p = f.Fetch(ctx, off.URL+"/", false, inSite)
	if !p.OffSite || offHits.Load() != 0 {
		t.Errorf("off-site URL fetched: %+v", p)
	}
	p = f.Fetch(ctx, a.URL+"/s.xml.gz", true, inSite)
	if p.Err != nil || !slices.Equal(p.Links, []string{a.URL + "/rel-is-resolved"}) {
		t.Errorf("gzip'd sitemap: %+v", p)
	}
	p = f.Fetch(ctx, a.URL+"/", true, inSite)
	if !errors.Is(p.Err, crawl.ErrNotSitemap) {
		t.Errorf("an HTML page as a sitemap: %+v", p)
	}
	p = f.Fetch(ctx, a.URL+"/missing", false, inSite)
	if p.Err != nil || p.Status != 404 || len(p.Links) != 0 {
		t.Errorf("404: %+v", p)
	}
}
