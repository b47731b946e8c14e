package depcache_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/purgehook/purgehook/depcache"
)

// A delivery API stand-in: rooms, each linking other content items.
var content = map[string]struct {
	title  string
	linked []string
}{
	"deluxe": {"Deluxe Room", []string{"spa"}},
	"suite":  {"Suite", []string{"butler", "spa"}},
}

// Example caches content items and a listing built from them. The item
// entries depend on the item and its linked items; the listing gets its
// items' dependencies through GetOrLoadDeps, so publishing a linked item
// (here the spa) drops both rooms and the listing.
func Example() {
	ctx := context.Background()
	items, _ := depcache.New(depcache.Options[string, string]{Name: "items", MaxEntries: 1000})
	listings, _ := depcache.New(depcache.Options[string, []string]{Name: "listings", MaxEntries: 100})

	loadItem := func(codename string) depcache.Loader[string] {
		return func(ctx context.Context) (string, []string, error) {
			fmt.Println("  fetch item", codename)
			c := content[codename]
			deps := []string{"item:" + codename}
			for _, l := range c.linked {
				deps = append(deps, "item:"+l)
			}
			return c.title, deps, nil
		}
	}
	loadRooms := func(ctx context.Context) ([]string, []string, error) {
		fmt.Println("  fetch listing rooms")
		deps := []string{"listing:rooms"}
		var titles []string
		for _, codename := range []string{"deluxe", "suite"} {
			title, itemDeps, err := items.GetOrLoadDeps(ctx, codename, loadItem(codename))
			if err != nil {
				return nil, nil, err
			}
			titles = append(titles, title)
			deps = append(deps, itemDeps...)
		}
		return titles, deps, nil
	}

	show := func() {
		rooms, _ := listings.GetOrLoad(ctx, "rooms", loadRooms)
		fmt.Println(strings.Join(rooms, ", "))
	}
	fmt.Println("first request:")
	show()
	fmt.Println("second request:")
	show()

	// The CMS publishes the spa; purgehook's app provider (through
	// depcache/httpinvalidate) calls Invalidate on every cache.
	content["deluxe"] = struct {
		title  string
		linked []string
	}{"Deluxe Room with Spa Access", []string{"spa"}}
	fmt.Println("invalidated:", items.Invalidate("item:spa")+listings.Invalidate("item:spa"))
	fmt.Println("after publishing the spa:")
	show()

	// Output:
	// first request:
	//   fetch listing rooms
	//   fetch item deluxe
	//   fetch item suite
	// Deluxe Room, Suite
	// second request:
	// Deluxe Room, Suite
	// invalidated: 3
	// after publishing the spa:
	//   fetch listing rooms
	//   fetch item deluxe
	//   fetch item suite
	// Deluxe Room with Spa Access, Suite
}
