package graph

import (
	"net/http"
	"slices"
	"testing"
)

func TestTagHeaders(t *testing.T) {
	t.Parallel()
	h := http.Header{}
	h.Add("Cache-Tag", "site:savoy-palace,module:heroSlider, page:room-detail")
	h.Add("Surrogate-Key", "rooms  home")
	h.Add("Xkey", "room-1234")
	h.Add("Xkey", "rooms")
	h.Set("X-Other", "not-a-tag")
	th := TagHeaders{Names: []string{"Cache-Tag", "Surrogate-Key", "xkey"}, Separators: ", "}
	want := []string{"home", "module:heroSlider", "page:room-detail", "room-1234", "rooms", "site:savoy-palace"}
	if got := th.Tags(h); !slices.Equal(got, want) {
		t.Errorf("tags %q, want %q", got, want)
	}
	// Another separator: a tag may then hold a space.
	semi := TagHeaders{Names: []string{"X-Tags"}, Separators: ";"}
	h = http.Header{"X-Tags": {"a b;c"}}
	if got := semi.Tags(h); !slices.Equal(got, []string{"a b", "c"}) {
		t.Errorf("semicolon tags %q", got)
	}
	if got := th.Tags(http.Header{}); got != nil {
		t.Errorf("no header: %q", got)
	}
}
