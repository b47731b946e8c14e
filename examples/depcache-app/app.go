package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/purgehook/purgehook/depcache"
	"github.com/purgehook/purgehook/depcache/httpinvalidate"
)

// Response headers, from the Umbraco/Cloudflare guide's §3 table: HTML is
// cached by the CDN for a year (purgehook purges it) and not by browsers;
// fingerprinted assets are immutable; API responses are never cached.
const (
	htmlCacheControl  = "public, max-age=0, s-maxage=31536000"
	cdnCacheControl   = "max-age=31536000"
	assetCacheControl = "public, max-age=31536000, immutable"
	apiCacheControl   = "private, no-store"
	// maxCacheTag is Cloudflare's limit on the Cache-Tag header.
	maxCacheTag = 16 * 1024
)

// Config is what the app needs.
type Config struct {
	// DeliveryURL is the delivery API's base URL.
	DeliveryURL string
	// BaseURL is this site's public URL; pages depend on their own URL, so
	// purgehook's URL purges reach the cache too.
	BaseURL string
	// Secrets enable POST /_purgehook/invalidate for purgehook's app
	// provider (empty: the endpoint is off, e.g. with the stream client).
	Secrets []string
	// TTL bounds an entry's life if no invalidation ever comes (0: none).
	TTL        time.Duration
	MaxEntries int
	Registry   *prometheus.Registry
	Client     *http.Client
	Logger     *slog.Logger
}

// App is the example site: rooms and their amenities from the delivery
// API, cached with depcache.
type App struct {
	delivery *Delivery
	base     string
	items    *depcache.Cache[string, Item]
	listings *depcache.Cache[string, []Item]
	mux      *http.ServeMux
	logger   *slog.Logger
}

// NewApp wires the caches and the routes.
func NewApp(cfg Config) (*App, error) {
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	a := &App{
		delivery: &Delivery{base: strings.TrimRight(cfg.DeliveryURL, "/"), client: cfg.Client},
		base:     strings.TrimRight(cfg.BaseURL, "/"),
		mux:      http.NewServeMux(),
		logger:   cfg.Logger,
	}
	var reg prometheus.Registerer
	if cfg.Registry != nil {
		reg = cfg.Registry
	}
	var err error
	if a.items, err = depcache.New(depcache.Options[string, Item]{Name: "items", TTL: cfg.TTL, MaxEntries: cfg.MaxEntries, Registerer: reg}); err != nil {
		return nil, err
	}
	if a.listings, err = depcache.New(depcache.Options[string, []Item]{Name: "listings", TTL: cfg.TTL, MaxEntries: cfg.MaxEntries, Registerer: reg}); err != nil {
		return nil, err
	}

	a.mux.HandleFunc("GET /rooms", a.rooms)
	a.mux.HandleFunc("GET /rooms/{codename}", a.room)
	a.mux.HandleFunc("GET /api/items/{codename}", a.apiItem)
	a.mux.HandleFunc("GET /static/site.css", a.css)
	a.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	if len(cfg.Secrets) > 0 {
		h, err := httpinvalidate.NewHandler(httpinvalidate.Options{Secrets: cfg.Secrets, Caches: a.Caches(), Logger: cfg.Logger})
		if err != nil {
			return nil, err
		}
		a.mux.Handle("POST /_purgehook/invalidate", h)
	}
	if cfg.Registry != nil {
		a.mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{}))
	}
	return a, nil
}

// Caches are what invalidations apply to.
func (a *App) Caches() []httpinvalidate.Invalidator {
	return []httpinvalidate.Invalidator{a.items, a.listings}
}

// Handler serves the site.
func (a *App) Handler() http.Handler { return a.mux }

// loadItem loads one item. It depends on itself, its content type, every
// linked item it shows, and, for items with a page, that page's URL.
func (a *App) loadItem(codename string) depcache.Loader[Item] {
	return func(ctx context.Context) (Item, []string, error) {
		it, err := a.delivery.Item(ctx, codename)
		if err != nil {
			return Item{}, nil, err
		}
		deps := []string{"item:" + it.Codename, "type:" + it.Type}
		var linked func(Item)
		linked = func(it Item) {
			for _, l := range it.Linked {
				deps = append(deps, "item:"+l.Codename)
				linked(l)
			}
		}
		linked(it)
		if it.Type == "room" {
			deps = append(deps, a.base+"/rooms/"+it.Codename)
		}
		return it, deps, nil
	}
}

// loadRooms builds the room listing from the item entries: it depends on
// the listing itself, its page, and (through GetOrLoadDeps) everything each
// room depends on, so publishing an amenity refreshes the listing too.
func (a *App) loadRooms(ctx context.Context) ([]Item, []string, error) {
	codenames, err := a.delivery.Codenames(ctx, "room")
	if err != nil {
		return nil, nil, err
	}
	deps := []string{"listing:room", a.base + "/rooms"}
	rooms := make([]Item, 0, len(codenames))
	for _, c := range codenames {
		it, d, err := a.items.GetOrLoadDeps(ctx, c, a.loadItem(c))
		if err != nil {
			return nil, nil, err
		}
		rooms = append(rooms, it)
		deps = append(deps, d...)
	}
	return rooms, deps, nil
}

// cacheTag is the Cache-Tag header for an entry's dependencies: the same
// names the app cache uses, so that one tag purge reaches both layers.
func cacheTag(deps []string) string {
	var tags []string
	n := 0
	for _, d := range deps {
		if strings.Contains(d, "://") {
			continue // page URLs are purged by URL
		}
		if n+len(d)+1 > maxCacheTag {
			break
		}
		tags = append(tags, d)
		n += len(d) + 1
	}
	return strings.Join(tags, ",")
}

func htmlHeaders(w http.ResponseWriter, deps []string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", htmlCacheControl)
	h.Set("CDN-Cache-Control", cdnCacheControl)
	h.Set("Cache-Tag", cacheTag(deps))
}

func (a *App) fail(w http.ResponseWriter, r *http.Request, err error) {
	w.Header().Set("Cache-Control", apiCacheControl)
	if errors.Is(err, errNotFound) {
		http.NotFound(w, r)
		return
	}
	a.logger.Error("page failed", "path", r.URL.Path, "err", err)
	http.Error(w, "the content service is unavailable", http.StatusBadGateway)
}

// sent logs a page that failed after its status was sent: the reader got
// a page cut short, and only the log can say why.
func (a *App) sent(r *http.Request, err error) {
	if err != nil {
		a.logger.Warn("page cut short", "path", r.URL.Path, "err", err)
	}
}

var roomsPage = template.Must(template.New("rooms").Parse(`<!doctype html>
<title>Rooms</title><link rel="stylesheet" href="/static/site.css">
<h1>Rooms</h1>
<ul>{{range .}}
<li><a href="/rooms/{{.Codename}}">{{.Title}}</a>:{{range .Linked}} {{.Title}};{{end}}</li>{{end}}
</ul>
`))

var roomPage = template.Must(template.New("room").Parse(`<!doctype html>
<title>{{.Title}}</title><link rel="stylesheet" href="/static/site.css">
<h1>{{.Title}}</h1>
<p>{{.Body}}</p>
<ul>{{range .Linked}}
<li>{{.Title}}: {{.Body}}</li>{{end}}
</ul>
`))

func (a *App) rooms(w http.ResponseWriter, r *http.Request) {
	rooms, deps, err := a.listings.GetOrLoadDeps(r.Context(), "rooms", a.loadRooms)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	htmlHeaders(w, deps)
	a.sent(r, roomsPage.Execute(w, rooms))
}

func (a *App) room(w http.ResponseWriter, r *http.Request) {
	c := r.PathValue("codename")
	it, deps, err := a.items.GetOrLoadDeps(r.Context(), c, a.loadItem(c))
	if err == nil && it.Type != "room" {
		err = errNotFound
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	htmlHeaders(w, deps)
	a.sent(r, roomPage.Execute(w, it))
}

func (a *App) apiItem(w http.ResponseWriter, r *http.Request) {
	c := r.PathValue("codename")
	it, err := a.items.GetOrLoad(r.Context(), c, a.loadItem(c))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", apiCacheControl)
	a.sent(r, json.NewEncoder(w).Encode(it))
}

func (a *App) css(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/css")
	w.Header().Set("Cache-Control", assetCacheControl)
	fmt.Fprintln(w, "body { font-family: Georgia, serif; max-width: 40em; margin: 2em auto; }")
}
