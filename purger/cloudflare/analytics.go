package cloudflare

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// Defaults of the analytics block.
const (
	DefaultAnalyticsInterval = 5 * time.Minute
	DefaultAnalyticsWindow   = time.Hour
	// MinAnalyticsInterval keeps the poll well inside the GraphQL API's
	// rate limits (300 queries per 5 minutes per user).
	MinAnalyticsInterval = time.Minute
	// MaxAnalyticsWindow is the longest range httpRequestsAdaptiveGroups
	// takes on every plan.
	MaxAnalyticsWindow = 24 * time.Hour
)

// AnalyticsConfig is the cloudflare provider's optional analytics block:
// when present, purgehook reads the zone's cache hit ratio from the
// GraphQL Analytics API (the token needs Analytics Read as well as Cache
// Purge). Absent: off.
type AnalyticsConfig struct {
	// Interval is how often to ask (default 5m, at least 1m).
	Interval time.Duration `yaml:"interval"`
	// Window is how far back each answer counts (default 1h, at most 24h).
	Window time.Duration `yaml:"window"`
}

func (a *AnalyticsConfig) setDefaults() {
	if a.Interval == 0 {
		a.Interval = DefaultAnalyticsInterval
	}
	if a.Window == 0 {
		a.Window = DefaultAnalyticsWindow
	}
}

func (a AnalyticsConfig) validate() []error {
	var errs []error
	if a.Interval != 0 && a.Interval < MinAnalyticsInterval {
		errs = append(errs, fmt.Errorf("analytics.interval: at least %s, got %s", MinAnalyticsInterval, a.Interval))
	}
	if a.Window < 0 || a.Window > MaxAnalyticsWindow {
		errs = append(errs, fmt.Errorf("analytics.window: between 0 and %s, got %s", MaxAnalyticsWindow, a.Window))
	}
	return errs
}

// ErrAnalyticsNotAuthorized is a query refused for want of permission: the
// token lacks Analytics Read on the zone, or the plan has no such data.
var ErrAnalyticsNotAuthorized = errors.New("not authorized to read the zone's analytics")

// Analytics reads a zone's cache hit ratio from Cloudflare's GraphQL
// Analytics API.
type Analytics struct {
	name, url, zone, token string
	cfg                    AnalyticsConfig
	client                 *http.Client
	log                    *slog.Logger
	now                    func() time.Time
}

// AnalyticsOptions build an Analytics.
type AnalyticsOptions struct {
	Name   string
	Config Config
	Client *http.Client
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// NewAnalytics returns the reader of a provider whose config has an
// analytics block, or nil when it has none.
func NewAnalytics(o AnalyticsOptions) *Analytics {
	if o.Config.Analytics == nil {
		return nil
	}
	cfg := *o.Config.Analytics
	cfg.setDefaults()
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 30 * time.Second}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	api := o.Config.APIURL
	if api == "" {
		api = DefaultAPIURL
	}
	return &Analytics{name: o.Name, url: strings.TrimRight(api, "/") + "/graphql", zone: o.Config.Zone, token: o.Config.Token,
		cfg: cfg, client: o.Client, log: o.Logger.With("provider", o.Name, "component", "cloudflare-analytics"), now: o.Now}
}

// analyticsQuery counts the zone's requests by cache status over a window.
const analyticsQuery = `query ($zoneTag: string!, $since: Time!, $until: Time!) {
  viewer {
    zones(filter: {zoneTag: $zoneTag}) {
      httpRequestsAdaptiveGroups(limit: 100, filter: {datetime_geq: $since, datetime_lt: $until}) {
        count
        dimensions { cacheStatus }
      }
    }
  }
}`

// Counts are a window's requests that a cache could have served, by
// whether it did.
type Counts struct{ Hits, Misses int64 }

// Ratio is the hit ratio; ok is false when nothing cacheable was counted.
func (c Counts) Ratio() (float64, bool) {
	if c.Hits+c.Misses == 0 {
		return 0, false
	}
	return float64(c.Hits) / float64(c.Hits+c.Misses), true
}

// cacheStatus sorts Cloudflare's cacheStatus values as the warm-ups'
// cf-cache-status is sorted: served from the copy (hit, stale, updating,
// revalidated), fetched for it (miss, expired); anything else (dynamic,
// bypass, none, unknown) was not cacheable and counts neither way.
func cacheStatus(s string) (hit, miss bool) {
	switch strings.ToLower(s) {
	case "hit", "stale", "updating", "revalidated":
		return true, false
	case "miss", "expired":
		return false, true
	}
	return false, false
}

// Query asks for the last window's counts. A refusal for want of
// permission is ErrAnalyticsNotAuthorized.
func (a *Analytics) Query(ctx context.Context) (Counts, error) {
	until := a.now().UTC().Truncate(time.Minute)
	body, _ := json.Marshal(map[string]any{"query": analyticsQuery, "variables": map[string]any{
		"zoneTag": a.zone, "since": until.Add(-a.cfg.Window).Format(time.RFC3339), "until": until.Format(time.RFC3339),
	}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.url, bytes.NewReader(body))
	if err != nil {
		return Counts{}, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		return Counts{}, fmt.Errorf("cloudflare analytics: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Counts{}, fmt.Errorf("cloudflare analytics: %w", err)
	}
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return Counts{}, fmt.Errorf("cloudflare analytics: status %d: %w", resp.StatusCode, ErrAnalyticsNotAuthorized)
	}
	if resp.StatusCode != http.StatusOK {
		return Counts{}, fmt.Errorf("cloudflare analytics: status %d", resp.StatusCode)
	}
	var out struct {
		Data *struct {
			Viewer struct {
				Zones []struct {
					Groups []struct {
						Count      int64 `json:"count"`
						Dimensions struct {
							CacheStatus string `json:"cacheStatus"`
						} `json:"dimensions"`
					} `json:"httpRequestsAdaptiveGroups"`
				} `json:"zones"`
			} `json:"viewer"`
		} `json:"data"`
		Errors []struct {
			Message    string `json:"message"`
			Extensions struct {
				Code string `json:"code"`
			} `json:"extensions"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return Counts{}, fmt.Errorf("cloudflare analytics: unreadable answer: %w", err)
	}
	if len(out.Errors) > 0 {
		e := out.Errors[0]
		// Cloudflare's message may name the zone; it names nothing secret.
		msg := strings.ReplaceAll(e.Message, "\n", " ")
		if e.Extensions.Code == "authz" || strings.Contains(strings.ToLower(msg), "not authorized") {
			return Counts{}, fmt.Errorf("cloudflare analytics: %s: %w", msg, ErrAnalyticsNotAuthorized)
		}
		return Counts{}, fmt.Errorf("cloudflare analytics: %s", msg)
	}
	if out.Data == nil || len(out.Data.Viewer.Zones) == 0 {
		return Counts{}, errors.New("cloudflare analytics: the answer names no zone")
	}
	var c Counts
	for _, g := range out.Data.Viewer.Zones[0].Groups {
		switch hit, miss := cacheStatus(g.Dimensions.CacheStatus); {
		case hit:
			c.Hits += g.Count
		case miss:
			c.Misses += g.Count
		}
	}
	return c, nil
}

// Run asks at once and then every interval until ctx ends, reporting each
// answer's hit ratio (ok false: the window had nothing cacheable, or the
// reading stopped). A refusal for want of permission turns the reading
// off with one log line: the token was made for purging, and asking again
// would only fail again. Other failures are logged once until a query
// works again, and the last ratio is withdrawn meanwhile.
func (a *Analytics) Run(ctx context.Context, report func(ratio float64, ok bool)) {
	t := time.NewTicker(a.cfg.Interval)
	defer t.Stop()
	failing := false
	for {
		c, err := a.Query(ctx)
		switch {
		case errors.Is(err, ErrAnalyticsNotAuthorized):
			report(0, false)
			a.log.Warn("cache hit ratio from Cloudflare analytics turned off: the token lacks Analytics Read on the zone", "err", err)
			return
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			report(0, false)
			if !failing {
				a.log.Warn("cloudflare analytics query failed; will keep trying", "err", err)
			}
			failing = true
		default:
			if failing {
				a.log.Info("cloudflare analytics query works again")
			}
			failing = false
			report(c.Ratio())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
