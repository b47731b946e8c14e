package crawl

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// sitemapDoc is either root of the sitemap protocol: a urlset, whose
// <url><loc> are pages, or a sitemapindex, whose <sitemap><loc> are more
// sitemaps. Elements match by local name, whatever namespace.
type sitemapDoc struct {
	XMLName  xml.Name
	URLs     []loc `xml:"url"`
	Sitemaps []loc `xml:"sitemap"`
}

type loc struct {
	Loc string `xml:"loc"`
}

// ErrNotSitemap is the error of a document that is neither a urlset nor a
// sitemapindex.
var ErrNotSitemap = errors.New("sitemap: not a urlset or sitemapindex")

// ParseSitemap reads a sitemap (uncompressed): the pages a urlset lists,
// or the sitemaps a sitemapindex lists, in document order.
func ParseSitemap(body []byte) (pages, sitemaps []string, err error) {
	var d sitemapDoc
	dec := xml.NewDecoder(bytes.NewReader(body))
	// Sitemaps are UTF-8 by the protocol; a declared charset of another
	// name (UTF8, utf-8) is read as UTF-8 rather than refused.
	dec.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	if err := dec.Decode(&d); err != nil {
		return nil, nil, fmt.Errorf("sitemap: %w", err)
	}
	switch d.XMLName.Local {
	case "urlset":
		return locs(d.URLs), nil, nil
	case "sitemapindex":
		return nil, locs(d.Sitemaps), nil
	}
	return nil, nil, fmt.Errorf("%w (root <%s>)", ErrNotSitemap, d.XMLName.Local)
}

func locs(ls []loc) []string {
	out := make([]string, 0, len(ls))
	for _, l := range ls {
		if v := strings.TrimSpace(l.Loc); v != "" {
			out = append(out, v)
		}
	}
	return out
}
