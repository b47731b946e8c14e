package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/purgehook/purgehook/pipeline"
)

func failuresCmd() *cobra.Command {
	var r remote
	var asJSON bool
	var n int
	cmd := &cobra.Command{
		Use:   "failures --server URL",
		Short: "Failed provider calls and jobs given up on, with their last error",
		Long: "failures lists the provider calls that failed (their batch stopped at that layer, outer layers\n" +
			"untouched) and the jobs the queue gave up on, newest first. `purgehook retry` makes them again.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var f json.RawMessage
			if err := r.do(cmd.Context(), http.MethodGet, fmt.Sprintf("/v1/failures?limit=%d", n), nil, &f); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, f)
			}
			var fs pipeline.Failures
			if err := json.Unmarshal(f, &fs); err != nil {
				return err
			}
			if len(fs.Calls)+len(fs.Jobs) == 0 {
				fmt.Fprintln(out, "no failures")
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			if len(fs.Calls) > 0 {
				fmt.Fprintln(tw, "CALL\tBATCH\tPROVIDER\tLAYER\tWHAT\tATTEMPTS\tFAILED\tERROR")
				for _, c := range fs.Calls {
					fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s ×%d\t%d\t%s\t%s\n", c.ID, c.Batch, c.Provider, c.Layer, c.Kind, len(c.Items), c.Attempts, when(c.DoneAt), oneLine(c.Error))
				}
			}
			if len(fs.Jobs) > 0 {
				if len(fs.Calls) > 0 {
					fmt.Fprintln(tw)
				}
				fmt.Fprintln(tw, "JOB\tKIND\tARGS\tATTEMPTS\tDISCARDED\tERROR")
				for _, j := range fs.Jobs {
					fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\n", j.ID, j.Kind, j.Args, j.Attempts, when(j.At), oneLine(j.Error))
				}
			}
			return tw.Flush()
		},
	}
	r.flags(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the API's JSON")
	cmd.Flags().IntVar(&n, "limit", 50, "list at most this many calls and this many jobs")
	return cmd
}

func retryCmd() *cobra.Command {
	var r remote
	var asJSON, all bool
	var jobs []int64
	cmd := &cobra.Command{
		Use:   "retry --server URL [CALL...] [--job ID]... | --all",
		Short: "Make failed calls (or jobs given up on) again, without replaying their deliveries",
		Long: "retry makes a failed provider call again as a new call of the same batch and layer; the calls of\n" +
			"that layer the failure stopped go with it, and once the layer is purged the batch goes on to its\n" +
			"outer layers and warm-up. Layers already purged are not purged again. --job gives a job the queue\n" +
			"gave up on one more attempt; --all retries everything `purgehook failures` lists. Needs the replay scope.",
		Example: "  purgehook failures --server https://purgehook.internal\n" +
			"  purgehook retry --server https://purgehook.internal 42\n" +
			"  purgehook retry --server https://purgehook.internal --all",
		RunE: func(cmd *cobra.Command, args []string) error {
			if all != (len(args)+len(jobs) == 0) {
				return usage(errors.New("give call ids, --job ids, or --all (alone)"))
			}
			ctx := cmd.Context()
			out := cmd.OutOrStdout()
			if all {
				var res json.RawMessage
				if err := r.do(ctx, http.MethodPost, "/v1/failures/retry?limit=1000", nil, &res); err != nil {
					return err
				}
				if asJSON {
					return printJSON(out, res)
				}
				var rt pipeline.Retried
				if err := json.Unmarshal(res, &rt); err != nil {
					return err
				}
				for from, to := range rt.Calls {
					fmt.Fprintf(out, "call %d retried as call %d\n", from, to)
				}
				for _, j := range rt.Jobs {
					fmt.Fprintf(out, "job %d retried\n", j)
				}
				for _, e := range rt.Errors {
					fmt.Fprintf(out, "not retried: %s\n", e)
				}
				if len(rt.Calls)+len(rt.Jobs)+len(rt.Errors) == 0 {
					fmt.Fprintln(out, "no failures")
				}
				if len(rt.Errors) > 0 {
					return errSilent
				}
				return nil
			}
			var results []json.RawMessage
			failed := false
			for _, a := range args {
				id, err := strconv.ParseInt(a, 10, 64)
				if err != nil || id <= 0 {
					return usage(fmt.Errorf("a call id is a positive number, got %q", a))
				}
				var res json.RawMessage
				if err := r.do(ctx, http.MethodPost, fmt.Sprintf("/v1/calls/%d/retry", id), nil, &res); err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "purgehook: %v\n", err)
					failed = true
					continue
				}
				results = append(results, res)
				if !asJSON {
					var c struct {
						Retry struct {
							ID int64 `json:"id"`
						} `json:"retry"`
					}
					_ = json.Unmarshal(res, &c)
					fmt.Fprintf(out, "call %d retried as call %d\n", id, c.Retry.ID)
				}
			}
			for _, id := range jobs {
				var res json.RawMessage
				if err := r.do(ctx, http.MethodPost, fmt.Sprintf("/v1/jobs/%d/retry", id), nil, &res); err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "purgehook: %v\n", err)
					failed = true
					continue
				}
				results = append(results, res)
				if !asJSON {
					fmt.Fprintf(out, "job %d retried\n", id)
				}
			}
			if asJSON {
				if err := printJSON(out, map[string]any{"retried": nonNilRaw(results)}); err != nil {
					return err
				}
			}
			if failed {
				return errSilent
			}
			return nil
		},
	}
	r.flags(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&all, "all", false, "retry every failed call and discarded job")
	cmd.Flags().Int64SliceVar(&jobs, "job", nil, "a discarded job's id (repeatable)")
	return cmd
}

func printJSON(w interface{ Write([]byte) (int, error) }, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func nonNilRaw(s []json.RawMessage) []json.RawMessage {
	if s == nil {
		return []json.RawMessage{}
	}
	return s
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// oneLine keeps a provider's error to one line of a table.
func oneLine(s string) string {
	for i, r := range s {
		if r == '\n' || r == '\r' {
			return s[:i] + " …"
		}
	}
	return s
}
