// Package crawl walks a site to learn which cache tags its pages report:
// its sitemaps (urlset and sitemapindex, gzip'd or not) first, then the
// in-site links of every HTML page, breadth first. It fetches one URL at a
// time through warm's scoped client, so a crawl reaches only configured
// hosts, follows no redirect off its site and dials no private address a
// site is not configured on; what it finds (the page's response header,
// the links and sitemaps it names on the same site) goes back to the
// pipeline, which keeps the frontier durable, bounds the crawl in pages
// and rate, and records the tags as graph edges of origin "crawled".
//
// robots.txt is not read: purgehook crawls sites its operator configured,
// to learn what their own caches hold.
package crawl

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/purgehook/purgehook/warm"
)

// Limits on what one fetch reads.
const (
	// MaxHTML is the most of a page's body read for links.
	MaxHTML = 10 << 20
	// MaxSitemap is the sitemap protocol's limit on a sitemap, once
	// uncompressed (50 MB).
	MaxSitemap = 50 << 20
	// MaxURLLength is the sitemap protocol's limit on a URL; a longer link
	// is not followed.
	MaxURLLength = 2048
)

// UserAgent names the crawler to the sites it crawls.
const UserAgent = "purgehook-crawler (+https://github.com/purgehook/purgehook)"

// Options configure a Fetcher.
type Options struct {
	// Client makes the requests (nil: a 10s timeout); its redirects are
	// not followed, they are links.
	Client *http.Client
	// Header is added to every request (warm.header: X-Warmup: true, so
	// that analytics leave crawls out too).
	Header map[string]string
	// Scope limits the hosts dialled and redirects followed, as for
	// warm-ups (nil: tests only).
	Scope warm.Scope
}

// Fetcher fetches one URL of a crawl.
type Fetcher struct {
	client *http.Client
	header map[string]string
}

// New returns a Fetcher.
func New(o Options) *Fetcher {
	c := &http.Client{Timeout: 10 * time.Second}
	if o.Client != nil {
		cc := *o.Client
		c = &cc
	}
	// A redirect is a link like any other: the crawl decides whether to
	// follow it (only on the site) and fetches it in its turn. Scoped
	// refuses an off-site redirect before this runs.
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if o.Scope != nil {
		c = warm.Scoped(c, o.Scope)
	}
	return &Fetcher{client: c, header: o.Header}
}

// Timeout bounds one fetch: the client's timeout (30s when it has none).
func (f *Fetcher) Timeout() time.Duration {
	if f.client.Timeout > 0 {
		return f.client.Timeout
	}
	return 30 * time.Second
}

// Page is what fetching one URL found.
type Page struct {
	URL     string
	Sitemap bool
	Status  int
	// Header is the response's header (nil when there was none): the
	// page's cache tags are read from it.
	Header http.Header
	// Err is why there was no answer; OffSite says the URL or its redirect
	// leads off the site (errors.Is(Err, warm.ErrOffSite)).
	Err     error
	OffSite bool
	// Links are the site's pages the answer names: an HTML page's links,
	// a urlset's locations, a redirect's Location. Sitemaps are the
	// sitemaps a sitemap index names. Both are absolute, without
	// fragments, on the site, and without repeats.
	Links    []string
	Sitemaps []string
	// Skipped counts the links that lead off the site, or are too long.
	Skipped int
}

// InSite reports whether a URL is on the crawled site.
type InSite func(u *url.URL) bool

// Fetch GETs one URL of a crawl and reads what it names on the site.
func (f *Fetcher) Fetch(ctx context.Context, raw string, sitemap bool, inSite InSite) Page {
	p := Page{URL: raw, Sitemap: sitemap}
	u, err := url.Parse(raw)
	if err != nil {
		p.Err = err
		return p
	}
	if !inSite(u) {
		p.Err, p.OffSite = fmt.Errorf("%s: %w of the site", trim(u.Host), warm.ErrOffSite), true
		return p
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		p.Err = err
		return p
	}
	req.Header.Set("User-Agent", UserAgent)
	for k, v := range f.header {
		req.Header.Set(k, v)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // it repeats the URL the page names
		}
		p.Err, p.OffSite = err, errors.Is(err, warm.ErrOffSite)
		return p
	}
	defer resp.Body.Close()
	p.Status, p.Header = resp.StatusCode, resp.Header
	l := links{base: u, inSite: inSite, seen: map[string]bool{}}
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		if loc := resp.Header.Get("Location"); loc != "" {
			if !l.add(loc, &p.Links) {
				// Only reachable without a Scope: Scoped refuses it first.
				p.Err, p.OffSite = fmt.Errorf("redirect to %s: %w of the site", trim(loc), warm.ErrOffSite), true
			}
		}
	case resp.StatusCode < 200 || resp.StatusCode >= 300:
		// An error page names nothing to follow.
	case sitemap:
		body, err := readSitemap(resp.Body)
		if err != nil {
			p.Err = err
			return p
		}
		pages, sitemaps, err := ParseSitemap(body)
		if err != nil {
			p.Err = err
			return p
		}
		l.addAll(pages, &p.Links)
		l.addAll(sitemaps, &p.Sitemaps)
	case isHTML(resp.Header.Get("Content-Type")):
		hrefs, base := Links(io.LimitReader(resp.Body, MaxHTML))
		if base != "" {
			if b, err := u.Parse(base); err == nil {
				l.base = b
			}
		}
		l.addAll(hrefs, &p.Links)
	}
	// Read the rest: a cache stores an object only once it has it whole.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, MaxSitemap))
	p.Skipped = l.skipped
	return p
}

// links collects the site's URLs a response names.
type links struct {
	base    *url.URL
	inSite  InSite
	seen    map[string]bool
	skipped int
}

func (l *links) addAll(refs []string, to *[]string) {
	for _, r := range refs {
		l.add(r, to)
	}
}

// add appends ref, made absolute, when it is a page of the site; it
// reports whether the ref is one (a repeat is one).
func (l *links) add(ref string, to *[]string) bool {
	u, ok := Resolve(l.base, ref)
	if !ok || !l.inSite(u) {
		l.skipped++
		return false
	}
	s := u.String()
	if !l.seen[s] {
		l.seen[s] = true
		*to = append(*to, s)
	}
	return true
}

// Resolve makes ref absolute against base, without its fragment, and
// reports whether it is an http(s) URL worth fetching (not mailto:,
// javascript:, too long, …).
func Resolve(base *url.URL, ref string) (*url.URL, bool) {
	ref = strings.TrimSpace(ref)
	if ref == "" || strings.HasPrefix(ref, "#") {
		return nil, false
	}
	u, err := base.Parse(ref)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, false
	}
	u.Fragment, u.RawFragment = "", ""
	u.Host = strings.ToLower(u.Host)
	if u.Path == "" {
		u.Path = "/"
	}
	if len(u.String()) > MaxURLLength {
		return nil, false
	}
	return u, true
}

func isHTML(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "text/html" || mt == "application/xhtml+xml")
}

// readSitemap reads a sitemap's body, gunzipping a gzip'd one
// (sitemap.xml.gz; told by its magic bytes, not its name, since servers
// label it application/x-gzip, application/octet-stream or nothing).
func readSitemap(r io.Reader) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r, MaxSitemap+1))
	if err != nil {
		return nil, fmt.Errorf("sitemap: %w", err)
	}
	if bytes.HasPrefix(body, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("sitemap: gzip: %w", err)
		}
		body, err = io.ReadAll(io.LimitReader(zr, MaxSitemap+1))
		if err != nil {
			return nil, fmt.Errorf("sitemap: gzip: %w", err)
		}
	}
	if len(body) > MaxSitemap {
		return nil, fmt.Errorf("sitemap: larger than %d MB", MaxSitemap>>20)
	}
	return body, nil
}

// trim caps a host or URL taken from a response so that an error stays
// one short line.
func trim(s string) string {
	if len(s) > 100 {
		return s[:100] + "…"
	}
	return s
}
