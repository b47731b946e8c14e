package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/purgehook/purgehook/admin"
	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/resolve"
	"github.com/purgehook/purgehook/store"
)

// remote is how a command reaches a running server's admin API.
type remote struct {
	server, token string
	client        *http.Client
}

func (r *remote) flags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&r.server, "server", os.Getenv("PURGEHOOK_SERVER"), "purgehook's base URL (env PURGEHOOK_SERVER)")
	cmd.Flags().StringVar(&r.token, "token", "", "admin token (default: env PURGEHOOK_TOKEN)")
}

func (r *remote) do(ctx context.Context, method, path string, body any, out any) error {
	if r.server == "" {
		return usage(errors.New("--server (or PURGEHOOK_SERVER) is required"))
	}
	token := r.token
	if token == "" {
		token = os.Getenv("PURGEHOOK_TOKEN")
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(r.server, "/")+path, rd)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	c := r.client
	if c == nil {
		c = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(b, &e)
		if e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		err := fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, e.Error)
		switch resp.StatusCode {
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden:
			return usage(err)
		}
		return err
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

func purgeCmd() *cobra.Command {
	var r remote
	var req admin.PurgeRequest
	var noWarm, wait, direct, asJSON bool
	var cfgPath string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "purge [--server URL --token T | --direct --config FILE] [--url U]... [--tag T]... [--prefix P]... [--host H]... [--everything]",
		Short: "Purge URLs, tags, prefixes, hosts or everything (for CI/CD after a deploy)",
		Long: "purge asks a running purgehook (--server, token with the purge scope) to purge, through the same\n" +
			"planning, budgets, layers and warm-up as webhooks; --wait follows the batch until it is done.\n" +
			"With --direct it calls the configured providers itself, layer by layer, without a server.",
		Example: "  purgehook purge --server https://purgehook.internal --tag module:heroSlider --reason \"deploy $CI_COMMIT_SHA\" --wait\n" +
			"  purgehook purge --direct --config purgehook.yaml --url /en/ --url /pt/",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(req.URLs)+len(req.Tags)+len(req.Prefixes)+len(req.Hosts) == 0 && !req.Everything {
				return usage(errors.New("nothing to purge: give --url, --tag, --prefix, --host or --everything"))
			}
			if noWarm {
				f := false
				req.Warm = &f
			}
			ctx := cmd.Context()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			out := cmd.OutOrStdout()
			if direct {
				return purgeDirect(ctx, cmd, cfgPath, req, asJSON)
			}
			var res purged
			if err := r.do(ctx, http.MethodPost, "/v1/purge", req, &res); err != nil {
				return err
			}
			if !asJSON {
				fmt.Fprintf(out, "queued delivery %d: %d target(s)\n", res.Delivery, len(res.Targets))
				for _, d := range res.Dropped {
					fmt.Fprintf(out, "  dropped %s (%s)\n", d.Value, d.Reason)
				}
			}
			if !wait {
				return finish(out, asJSON, res, nil)
			}
			o, err := waitDelivery(ctx, &r, res.Delivery, 0, 250*time.Millisecond, newWatcher(out, asJSON))
			if err != nil {
				return err
			}
			return finish(out, asJSON, res, &o)
		},
	}
	r.flags(cmd)
	f := cmd.Flags()
	f.StringVar(&req.Site, "site", "", "site that relative URLs and prefixes belong to (default: the only site)")
	f.StringArrayVar(&req.URLs, "url", nil, "URL or site-relative path (repeatable)")
	f.StringArrayVar(&req.Tags, "tag", nil, "cache tag (repeatable)")
	f.StringArrayVar(&req.Prefixes, "prefix", nil, "URL prefix (repeatable)")
	f.StringArrayVar(&req.Hosts, "host", nil, "every page of a host (repeatable)")
	f.BoolVar(&req.Everything, "everything", false, "everything the providers cache")
	f.StringVar(&req.Reason, "reason", "", "kept in the audit trail")
	f.BoolVar(&noWarm, "no-warm", false, "do not fetch the purged URLs again")
	f.BoolVar(&wait, "wait", false, "wait until the purge (and warm-up) is done; exit 1 if it failed (a token with the purge scope is enough)")
	f.BoolVar(&asJSON, "json", false, "print the queued delivery (and with --wait its outcome) as one JSON object")
	f.BoolVar(&direct, "direct", false, "call the providers of --config directly instead of a server")
	f.StringVarP(&cfgPath, "config", "c", "", "config file, with --direct")
	f.DurationVar(&timeout, "timeout", 10*time.Minute, "give up after this long")
	return cmd
}

// purged is POST /v1/purge's answer.
type purged struct {
	Delivery int64             `json:"delivery"`
	Targets  []change.Target   `json:"targets"`
	Dropped  []resolve.Dropped `json:"dropped"`
}

// finish ends purge: with --json it prints what was queued and, after
// --wait, its outcome, as one object; a failed outcome exits 1.
func finish(out io.Writer, asJSON bool, p purged, o *Outcome) error {
	if asJSON {
		v := struct {
			purged
			*Outcome
		}{p, o}
		if v.Targets == nil {
			v.Targets = []change.Target{}
		}
		if v.Dropped == nil {
			v.Dropped = []resolve.Dropped{}
		}
		if err := printJSON(out, v); err != nil {
			return err
		}
	}
	if o != nil && o.State == outcomeFailed {
		return errSilent
	}
	return nil
}

// progress reads a delivery's progress from the admin API.
func (r *remote) progress(ctx context.Context, id int64) (admin.Progress, error) {
	var p admin.Progress
	err := r.do(ctx, http.MethodGet, fmt.Sprintf("/v1/deliveries/%d/progress", id), nil, &p)
	return p, err
}

func statusCmd() *cobra.Command {
	var r remote
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status --server URL",
		Short: "Budgets and the latest batches of a running purgehook",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var b struct {
				Budgets []admin.Budget `json:"budgets"`
			}
			if err := r.do(ctx, http.MethodGet, "/v1/budgets", nil, &b); err != nil {
				return err
			}
			var bs struct {
				Batches []store.Batch `json:"batches"`
			}
			if err := r.do(ctx, http.MethodGet, "/v1/batches?limit=10", nil, &bs); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), map[string]any{"budgets": b.Budgets, "batches": bs.Batches})
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PROVIDER\tLAYER\tTODAY\tSPENT\tREMAINING\tALLOWED NOW\tRESERVE\tPROJECTED")
			for _, x := range b.Budgets {
				rem, now, reserve, projected := "unlimited", "-", "-", "-"
				if x.PerDay > 0 {
					rem = fmt.Sprintf("%d of %d", x.Remaining, x.PerDay)
					now, reserve = fmt.Sprint(x.AllowanceNow), fmt.Sprint(x.Reserve)
					projected = fmt.Sprintf("%d by %s", x.Projected, x.Resets.Format("15:04 MST"))
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", x.Provider, x.Layer, x.Day, x.Spent, rem, now, reserve, projected)
			}
			fmt.Fprintln(tw, "\nBATCH\tCREATED\tSTATE\tERROR")
			for _, x := range bs.Batches {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", x.ID, x.CreatedAt.Format(time.RFC3339), x.State, x.Error)
			}
			return tw.Flush()
		},
	}
	r.flags(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print budgets and batches as JSON")
	return cmd
}

func replayCmd() *cobra.Command {
	var r remote
	var wait, asJSON bool
	cmd := &cobra.Command{
		Use:   "replay --server URL DELIVERY",
		Short: "Purge a journaled delivery again (re-resolved with the current rules)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return usage(fmt.Errorf("delivery must be a positive number, got %q", args[0]))
			}
			ctx := cmd.Context()
			out := cmd.OutOrStdout()
			from := 0
			if wait {
				// Only the batches the replay makes count.
				p, err := r.progress(ctx, id)
				if err != nil {
					return err
				}
				from = len(p.Events)
			}
			if err := r.do(ctx, http.MethodPost, fmt.Sprintf("/v1/deliveries/%d/replay", id), nil, nil); err != nil {
				return err
			}
			if !asJSON {
				fmt.Fprintf(out, "replaying delivery %d\n", id)
			}
			var o *Outcome
			if wait {
				res, err := waitDelivery(ctx, &r, id, from, 250*time.Millisecond, newWatcher(out, asJSON))
				if err != nil {
					return err
				}
				o = &res
			}
			if asJSON {
				v := struct {
					Delivery int64 `json:"delivery"`
					Replayed bool  `json:"replayed"`
					*Outcome
				}{id, true, o}
				if err := printJSON(out, v); err != nil {
					return err
				}
			}
			if o != nil && o.State == outcomeFailed {
				return errSilent
			}
			return nil
		},
	}
	r.flags(cmd)
	cmd.Flags().BoolVar(&wait, "wait", false, "follow until done; exit 1 if it failed")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the outcome as JSON")
	return cmd
}

func whyCmd() *cobra.Command {
	var r remote
	var site string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "why --server URL PAGE_URL",
		Short: "Which recent deliveries purged a page, and the chain that led there (or why none did)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{"url": {args[0]}}
			if site != "" {
				q.Set("site", site)
			}
			var w admin.Why
			if err := r.do(cmd.Context(), http.MethodGet, "/v1/why?"+q.Encode(), nil, &w); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(w)
			}
			fmt.Fprintf(out, "%s", w.URL)
			if w.Site != "" {
				fmt.Fprintf(out, " (site %s)", w.Site)
			}
			fmt.Fprintln(out)
			if len(w.Graph) > 0 {
				fmt.Fprintln(out, "\nthe graph knows it shows:")
				for _, e := range w.Graph {
					state := ""
					if e.Removed {
						state = ", no longer"
					}
					fmt.Fprintf(out, "  %s %s  (%s, first seen %s, last seen %s%s)\n", e.Kind, e.Value, e.Origin,
						e.FirstSeen.UTC().Format(time.RFC3339), e.LastSeen.UTC().Format(time.RFC3339), state)
				}
			}
			for _, p := range w.Purges {
				fmt.Fprintf(out, "\nbatch %d at %s:\n", p.Batch, p.At.UTC().Format(time.RFC3339))
				for _, c := range p.Chain {
					fmt.Fprintf(out, "  because %s\n", c)
				}
				for _, c := range p.Calls {
					fmt.Fprintf(out, "  call %d: %s (%s) %s\n", c.ID, c.Provider, c.Layer, c.State)
				}
			}
			if w.Verdict != "" {
				fmt.Fprintf(out, "\nnot purged recently: %s\n", w.Verdict)
			}
			return nil
		},
	}
	r.flags(cmd)
	cmd.Flags().StringVar(&site, "site", "", "the site of a relative PAGE_URL (default: the only site)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
