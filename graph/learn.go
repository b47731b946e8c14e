package graph

import (
	"net/http"
	"slices"
	"strings"
)

// TagHeaders reads the cache tags a page reports in its response headers
// (Cache-Tag, Surrogate-Key, xkey, …).
type TagHeaders struct {
	// Names are the headers to read; several of each are allowed.
	Names []string
	// Separators are the characters between tags (", ": comma or space).
	Separators string
}

// Tags returns the tags h reports, sorted and without duplicates.
func (t TagHeaders) Tags(h http.Header) []string {
	var out []string
	for _, name := range t.Names {
		for _, v := range h.Values(name) {
			for _, tag := range strings.FieldsFunc(v, func(r rune) bool { return strings.ContainsRune(t.Separators, r) }) {
				if tag = strings.TrimSpace(tag); tag != "" {
					out = append(out, tag)
				}
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
