package crawl

import (
	"io"
	"strings"

	"golang.org/x/net/html"
)

// Links returns the href of every <a> and <area> in an HTML document, in
// document order (those marked rel="nofollow" left out), and the href of
// its <base>, if any, which relative links resolve against.
func Links(r io.Reader) (hrefs []string, base string) {
	z := html.NewTokenizer(r)
	for {
		switch z.Next() {
		case html.ErrorToken:
			// io.EOF or a read error: what was read is what there is.
			return hrefs, base
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			tag := string(name)
			if !hasAttr || (tag != "a" && tag != "area" && tag != "base") {
				continue
			}
			var href string
			nofollow := false
			for {
				k, v, more := z.TagAttr()
				switch string(k) {
				case "href":
					href = string(v)
				case "rel":
					nofollow = hasWord(string(v), "nofollow")
				}
				if !more {
					break
				}
			}
			switch {
			case tag == "base":
				if base == "" {
					base = href
				}
			case href != "" && !nofollow:
				hrefs = append(hrefs, href)
			}
		}
	}
}

func hasWord(s, w string) bool {
	for _, f := range strings.Fields(s) {
		if strings.EqualFold(f, w) {
			return true
		}
	}
	return false
}
