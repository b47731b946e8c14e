package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/purgehook/purgehook/admin"
	"github.com/purgehook/purgehook/app"
	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/pipeline"
	"github.com/purgehook/purgehook/plan"
	"github.com/purgehook/purgehook/purger"
	"github.com/purgehook/purgehook/resolve"
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
		return errors.New("--server (or PURGEHOOK_SERVER) is required")
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
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, e.Error)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

func purgeCmd() *cobra.Command {
	var r remote
	var req admin.PurgeRequest
	var noWarm, wait, direct bool
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
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(req.URLs)+len(req.Tags)+len(req.Prefixes)+len(req.Hosts) == 0 && !req.Everything {
				return errors.New("nothing to purge: give --url, --tag, --prefix, --host or --everything")
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
				return purgeDirect(ctx, cmd, cfgPath, req)
			}
			var res struct {
				Delivery int64             `json:"delivery"`
				Targets  []change.Target   `json:"targets"`
				Dropped  []resolve.Dropped `json:"dropped"`
			}
			if err := r.do(ctx, http.MethodPost, "/v1/purge", req, &res); err != nil {
				return err
			}
			fmt.Fprintf(out, "queued delivery %d: %d target(s)\n", res.Delivery, len(res.Targets))
			for _, d := range res.Dropped {
				fmt.Fprintf(out, "  dropped %s (%s)\n", d.Value, d.Reason)
			}
			if !wait {
				return nil
			}
			return waitDelivery(ctx, out, &r, res.Delivery, 0)
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
	f.BoolVar(&wait, "wait", false, "wait until the purge (and warm-up) is done; exit 1 if it failed")
	f.BoolVar(&direct, "direct", false, "call the providers of --config directly instead of a server")
	f.StringVarP(&cfgPath, "config", "c", "", "config file, with --direct")
	f.DurationVar(&timeout, "timeout", 10*time.Minute, "give up after this long")
	return cmd
}

// waitDelivery follows a delivery until every batch that its events
// after the first `from` name has settled, printing the events as they
// come. It fails when a batch failed.
func waitDelivery(ctx context.Context, out io.Writer, r *remote, id int64, from int) error {
	seen := from
	for {
		var d struct {
			Delivery struct {
				State string `json:"state"`
			} `json:"delivery"`
			Events []struct {
				Kind    string `json:"kind"`
				Message string `json:"message"`
				Batch   int64  `json:"batch"`
			} `json:"events"`
		}
		if err := r.do(ctx, http.MethodGet, fmt.Sprintf("/v1/deliveries/%d", id), nil, &d); err != nil {
			return err
		}
		batches := map[int64]bool{}
		for i, e := range d.Events {
			if i >= seen {
				fmt.Fprintf(out, "  %-8s %s\n", e.Kind, e.Message)
			}
			if i >= from && e.Batch != 0 {
				batches[e.Batch] = true
			}
		}
		seen = max(seen, len(d.Events))
		if d.Delivery.State == "nothing to purge" {
			fmt.Fprintln(out, "nothing to purge")
			return nil
		}
		settled, failed := len(batches) > 0, false
		for b := range batches {
			var bs struct {
				Batch struct {
					State string `json:"state"`
				} `json:"batch"`
			}
			if err := r.do(ctx, http.MethodGet, fmt.Sprintf("/v1/batches/%d", b), nil, &bs); err != nil {
				return err
			}
			switch bs.Batch.State {
			case "done":
			case "failed":
				failed = true
			default:
				settled = false
			}
		}
		if settled {
			if failed {
				return errSilent
			}
			fmt.Fprintln(out, "done")
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("delivery %d not done: %w", id, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// eventCount is how many events a delivery has so far.
func eventCount(ctx context.Context, r *remote, id int64) (int, error) {
	var d struct {
		Events []json.RawMessage `json:"events"`
	}
	err := r.do(ctx, http.MethodGet, fmt.Sprintf("/v1/deliveries/%d", id), nil, &d)
	return len(d.Events), err
}

// purgeDirect plans and makes the calls itself, innermost layer first,
// honouring rate limits and retrying transient failures a few times. It
// keeps no journal and no budget: it is for emergencies and for setups
// without a server.
func purgeDirect(ctx context.Context, cmd *cobra.Command, cfgPath string, req admin.PurgeRequest) error {
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		return err
	}
	logger := newLogger(cmd.ErrOrStderr(), cfg.Log)
	providers, err := app.Providers(cfg, nil, logger)
	if err != nil {
		return err
	}
	r, err := app.Resolver(cfg)
	if err != nil {
		return err
	}
	res := r.Manual(resolve.ManualRequest{Site: req.Site, URLs: req.URLs, Tags: req.Tags, Prefixes: req.Prefixes, Hosts: req.Hosts, Everything: req.Everything})
	out := cmd.OutOrStdout()
	for _, d := range res.Dropped {
		fmt.Fprintf(out, "dropped %s (%s)\n", d.Value, d.Reason)
	}
	if len(res.Targets) == 0 {
		return errors.New("nothing to purge")
	}
	var pps []plan.Provider
	for _, p := range providers {
		pps = append(pps, p.Provider)
	}
	for _, layer := range plan.Layers(pps) {
		for _, p := range providers {
			if p.Layer != layer {
				continue
			}
			calls, notes := plan.Calls(p.Provider, res.Targets)
			for _, n := range notes {
				fmt.Fprintf(out, "note: %s\n", n)
			}
			for i, c := range calls {
				c.Key = fmt.Sprintf("purgehook-direct-%d-%s-%d", time.Now().Unix(), p.Name, i)
				if err := callDirect(ctx, p, c); err != nil {
					return fmt.Errorf("%s (%s): %w; outer layers not purged", p.Name, layer, err)
				}
				fmt.Fprintf(out, "%s (%s): purged %s ×%d\n", p.Name, layer, c.Kind, max(len(c.Items), 1))
			}
		}
	}
	return nil
}

func callDirect(ctx context.Context, p pipeline.Provider, c change.Call) error {
	const attempts = 5
	for attempt := 1; ; attempt++ {
		res, err := p.Purger.Purge(ctx, c)
		if err == nil {
			if !res.Pending {
				return nil
			}
			c.Ref = res.Ref
			return waitComplete(ctx, p.Purger, c, res.CheckAfter)
		}
		class, after := purger.Classify(err)
		switch class {
		case purger.Permanent, purger.TooLarge:
			return err
		case purger.Retry:
			if attempt >= attempts {
				return err
			}
			after = time.Duration(attempt*attempt) * time.Second
		}
		slog.Debug("retrying", "provider", p.Name, "after", after, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(after):
		}
	}
}

func waitComplete(ctx context.Context, p purger.Purger, c change.Call, after time.Duration) error {
	comp, ok := p.(purger.Completer)
	if !ok {
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(max(after, 250*time.Millisecond)):
		}
		done, next, err := comp.Completed(ctx, c)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		after = next
	}
}

func statusCmd() *cobra.Command {
	var r remote
	cmd := &cobra.Command{
		Use:   "status --server URL",
		Short: "Budgets and the latest batches of a running purgehook",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var b struct {
				Budgets []admin.Budget `json:"budgets"`
			}
			if err := r.do(ctx, http.MethodGet, "/v1/budgets", nil, &b); err != nil {
				return err
			}
			var bs struct {
				Batches []struct {
					ID        int64     `json:"id"`
					CreatedAt time.Time `json:"created_at"`
					State     string    `json:"state"`
					Error     string    `json:"error"`
				} `json:"batches"`
			}
			if err := r.do(ctx, http.MethodGet, "/v1/batches?limit=10", nil, &bs); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PROVIDER\tLAYER\tTODAY\tSPENT\tREMAINING")
			for _, x := range b.Budgets {
				rem := "unlimited"
				if x.PerDay > 0 {
					rem = fmt.Sprintf("%d of %d", x.Remaining, x.PerDay)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", x.Provider, x.Layer, x.Day, x.Spent, rem)
			}
			fmt.Fprintln(tw, "\nBATCH\tCREATED\tSTATE\tERROR")
			for _, x := range bs.Batches {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", x.ID, x.CreatedAt.Format(time.RFC3339), x.State, x.Error)
			}
			return tw.Flush()
		},
	}
	r.flags(cmd)
	return cmd
}

func replayCmd() *cobra.Command {
	var r remote
	var wait bool
	cmd := &cobra.Command{
		Use:   "replay --server URL DELIVERY",
		Short: "Purge a journaled delivery again (re-resolved with the current rules)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var id int64
			if _, err := fmt.Sscan(args[0], &id); err != nil {
				return fmt.Errorf("delivery must be a number, got %q", args[0])
			}
			from := 0
			if wait {
				n, err := eventCount(cmd.Context(), &r, id)
				if err != nil {
					return err
				}
				from = n
			}
			if err := r.do(cmd.Context(), http.MethodPost, fmt.Sprintf("/v1/deliveries/%d/replay", id), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "replaying delivery %d\n", id)
			if wait {
				return waitDelivery(cmd.Context(), cmd.OutOrStdout(), &r, id, from)
			}
			return nil
		},
	}
	r.flags(cmd)
	cmd.Flags().BoolVar(&wait, "wait", false, "follow until done")
	return cmd
}
