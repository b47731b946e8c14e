package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/purgehook/purgehook/admin"
	"github.com/purgehook/purgehook/store"
)

func crawlCmd() *cobra.Command {
	var r remote
	var site string
	var wait, asJSON bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "crawl --server URL [--site NAME] [--wait]",
		Short: "Crawl a site's sitemaps and links to learn which cache tags its pages report",
		Long: "crawl asks a running purgehook (token with the crawl scope) to crawl a site: its sitemap (or\n" +
			"sitemap index), then the links of its pages, on the site's own hosts only, up to the site's\n" +
			"crawl.max_pages at crawl.rate requests per second. Each page's Cache-Tag, Surrogate-Key and xkey\n" +
			"headers become its crawled tags in the content graph. A crawl already running is followed\n" +
			"rather than started again. --wait shows its progress until it is done; exit 1 if it failed.",
		Example: "  purgehook crawl --server https://purgehook.internal --site www --wait",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			out := cmd.OutOrStdout()
			var res admin.CrawlStarted
			if err := r.do(ctx, http.MethodPost, "/v1/crawl", admin.CrawlRequest{Site: site}, &res); err != nil {
				return err
			}
			if !asJSON {
				if res.Started {
					fmt.Fprintf(out, "crawl %d of site %s started\n", res.Crawl, res.Site)
				} else {
					fmt.Fprintf(out, "crawl %d of site %s is already running\n", res.Crawl, res.Site)
				}
			}
			var c *store.Crawl
			if wait {
				got, err := waitCrawl(ctx, &r, res.Crawl, 500*time.Millisecond, newWatcher(out, asJSON))
				if err != nil {
					return err
				}
				c = &got
				if !asJSON {
					printCrawl(out, got)
				}
			}
			if asJSON {
				v := struct {
					admin.CrawlStarted
					Outcome *store.Crawl `json:"outcome,omitempty"`
				}{res, c}
				if err := printJSON(out, v); err != nil {
					return err
				}
			}
			if c != nil && c.State == store.CrawlFailed {
				return errSilent
			}
			return nil
		},
	}
	r.flags(cmd)
	cmd.Flags().StringVar(&site, "site", "", "the site to crawl (default: the only site)")
	cmd.Flags().BoolVar(&wait, "wait", false, "follow the crawl until it is done; exit 1 if it failed (the crawl or read scope is enough)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the crawl (and with --wait its outcome) as one JSON object")
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Hour, "give up waiting after this long (the crawl goes on)")
	return cmd
}

// crawlTrail is where crawl --wait reads a crawl's progress.
type crawlTrail interface {
	crawl(ctx context.Context, id int64) (store.Crawl, error)
}

// crawl reads a crawl's progress from the admin API.
func (r *remote) crawl(ctx context.Context, id int64) (store.Crawl, error) {
	var v struct {
		Crawl store.Crawl `json:"crawl"`
	}
	err := r.do(ctx, http.MethodGet, fmt.Sprintf("/v1/crawl/%d", id), nil, &v)
	return v.Crawl, err
}

// waitCrawl follows a crawl until it is no longer running, showing the
// URLs fetched of those found so far on w.
func waitCrawl(ctx context.Context, t crawlTrail, id int64, poll time.Duration, w watcher) (store.Crawl, error) {
	for {
		c, err := t.crawl(ctx, id)
		if err != nil {
			return c, err
		}
		w.progress(c.Fetched, c.Pages+c.Sitemaps, fmt.Sprintf("crawl %d: %d of at most %d page(s) found", c.ID, c.Pages, c.MaxPages))
		if c.State != store.CrawlRunning {
			w.end(string(c.State))
			return c, nil
		}
		select {
		case <-ctx.Done():
			return c, fmt.Errorf("crawl %d not done: %w", id, ctx.Err())
		case <-time.After(poll):
		}
	}
}

// printCrawl sums a finished crawl up in a line or two.
func printCrawl(out io.Writer, c store.Crawl) {
	fmt.Fprintf(out, "%d page(s) and %d sitemap(s) fetched: %d failed, %d off the site\n", c.Pages, c.Sitemaps, c.Failed, c.OffSite)
	if c.Capped > 0 {
		fmt.Fprintf(out, "%d link(s) not followed: max_pages (%d) reached\n", c.Capped, c.MaxPages)
	}
	if c.Error != "" {
		fmt.Fprintf(out, "error: %s\n", c.Error)
	}
}
