package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// Item is a content item as the pages use it: its linked items resolved.
type Item struct {
	Codename string
	Type     string
	Title    string
	Body     string
	Linked   []Item
}

// The delivery API's JSON, shaped like Kontent.ai's Delivery API: an item's
// linked items come inline in modular_content.
type apiItem struct {
	System struct {
		Codename string `json:"codename"`
		Type     string `json:"type"`
	} `json:"system"`
	Elements struct {
		Title       string   `json:"title"`
		Body        string   `json:"body"`
		LinkedItems []string `json:"linked_items"`
	} `json:"elements"`
}

type itemResponse struct {
	Item           apiItem            `json:"item"`
	ModularContent map[string]apiItem `json:"modular_content"`
}

type listingResponse struct {
	Items          []apiItem          `json:"items"`
	ModularContent map[string]apiItem `json:"modular_content"`
}

// errNotFound is a content item the delivery API does not have.
var errNotFound = errors.New("not found")

// Delivery reads the delivery API.
type Delivery struct {
	base   string
	client *http.Client
}

func (d *Delivery) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.base+path, nil)
	if err != nil {
		return err
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return fmt.Errorf("delivery api: %w", err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return errNotFound
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("delivery api: GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// Item fetches one item with its linked items.
func (d *Delivery) Item(ctx context.Context, codename string) (Item, error) {
	var r itemResponse
	if err := d.get(ctx, "/items/"+url.PathEscape(codename), &r); err != nil {
		return Item{}, err
	}
	return resolve(r.Item, r.ModularContent, 0), nil
}

// Codenames lists the items of a content type, in the API's order.
func (d *Delivery) Codenames(ctx context.Context, typ string) ([]string, error) {
	var r listingResponse
	if err := d.get(ctx, "/items?system.type="+url.QueryEscape(typ), &r); err != nil {
		return nil, err
	}
	out := make([]string, len(r.Items))
	for i, it := range r.Items {
		out[i] = it.System.Codename
	}
	return out, nil
}

// resolve builds an Item from the API's item and modular content, two
// levels deep like the Delivery API's default depth.
func resolve(a apiItem, mc map[string]apiItem, depth int) Item {
	it := Item{Codename: a.System.Codename, Type: a.System.Type, Title: a.Elements.Title, Body: a.Elements.Body}
	if depth >= 2 {
		return it
	}
	for _, c := range a.Elements.LinkedItems {
		if l, ok := mc[c]; ok {
			it.Linked = append(it.Linked, resolve(l, mc, depth+1))
		}
	}
	return it
}

// FakeDelivery is an in-memory delivery API with a small hotel's content.
// The app runs against it with -delivery empty, and the tests publish
// through it.
type FakeDelivery struct {
	mu       sync.Mutex
	items    map[string]*apiItem
	order    []string
	requests map[string]int
}

// reply writes v as the response. Writing fails only when the client has
// gone, and a fake has nobody to tell.
func reply(w http.ResponseWriter, v any) {
	_ = json.NewEncoder(w).Encode(v)
}

// NewFakeDelivery returns the seeded fake.
func NewFakeDelivery() *FakeDelivery {
	f := &FakeDelivery{items: map[string]*apiItem{}, requests: map[string]int{}}
	add := func(codename, typ, title, body string, linked ...string) {
		a := &apiItem{}
		a.System.Codename, a.System.Type = codename, typ
		a.Elements.Title, a.Elements.Body, a.Elements.LinkedItems = title, body, linked
		f.items[codename] = a
		f.order = append(f.order, codename)
	}
	add("deluxe", "room", "Deluxe Room", "A room with a view of the river.", "spa", "breakfast")
	add("suite", "room", "Palace Suite", "Two rooms, one terrace.", "butler", "spa")
	add("spa", "amenity", "Spa", "Open 8:00 to 20:00.")
	add("breakfast", "amenity", "Breakfast", "Served until 10:30.")
	add("butler", "amenity", "Butler service", "On call day and night.")
	return f
}

// Publish changes an item's title, as an editor publishing in the CMS.
func (f *FakeDelivery) Publish(codename, title string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.items[codename].Elements.Title = title
}

// Requests is how often path (without query) was fetched.
func (f *FakeDelivery) Requests(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[path]
}

// modular collects the linked items of items, two levels deep.
func (f *FakeDelivery) modular(roots []*apiItem) map[string]apiItem {
	mc := map[string]apiItem{}
	var walk func(a *apiItem, depth int)
	walk = func(a *apiItem, depth int) {
		if depth >= 2 {
			return
		}
		for _, c := range a.Elements.LinkedItems {
			if l, ok := f.items[c]; ok {
				mc[c] = *l
				walk(l, depth+1)
			}
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
	return mc
}

func (f *FakeDelivery) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests[r.URL.Path]++
	w.Header().Set("Content-Type", "application/json")
	if codename, ok := strings.CutPrefix(r.URL.Path, "/items/"); ok {
		a, ok := f.items[codename]
		if !ok {
			http.Error(w, `{"message":"The requested content item was not found."}`, http.StatusNotFound)
			return
		}
		reply(w, itemResponse{Item: *a, ModularContent: f.modular([]*apiItem{a})})
		return
	}
	if r.URL.Path == "/items" {
		typ := r.URL.Query().Get("system.type")
		var roots []*apiItem
		for _, c := range f.order {
			if a := f.items[c]; typ == "" || a.System.Type == typ {
				roots = append(roots, a)
			}
		}
		resp := listingResponse{Items: []apiItem{}, ModularContent: f.modular(roots)}
		for _, a := range roots {
			resp.Items = append(resp.Items, *a)
		}
		reply(w, resp)
		return
	}
	http.NotFound(w, r)
}
