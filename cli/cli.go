// Package cli holds purgehook's subcommands. Each command parses its flags
// and calls into app (serve), config (check-config) or the pipeline's pure
// stages (explain); none of them holds logic of its own.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/purgehook/purgehook/app"
	"github.com/purgehook/purgehook/change"
	"github.com/purgehook/purgehook/config"
	"github.com/purgehook/purgehook/pipeline"
	"github.com/purgehook/purgehook/plan"
)

// errSilent marks an error whose message was already printed.
var errSilent = errors.New("")

// Execute runs the command line and returns the process exit code:
// ExitDone, ExitFailed or ExitUsage.
func Execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := Root(stdout, stderr)
	root.SetArgs(args)
	// Cobra parses flags and checks arguments before this hook; an error
	// before it is a usage error.
	started := false
	root.PersistentPreRun = func(*cobra.Command, []string) { started = true }
	err := root.ExecuteContext(ctx)
	if err != nil && !errors.Is(err, errSilent) {
		fmt.Fprintln(stderr, "purgehook:", err)
	}
	return exitCode(err, started)
}

// Root builds the command tree.
func Root(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "purgehook",
		Short:         "Keep cached websites fresh: CMS webhooks in, cache purges and warm-ups out",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(serveCmd(), checkConfigCmd(), explainCmd(), purgeCmd(), statusCmd(), replayCmd(), whyCmd(), failuresCmd(), retryCmd(), crawlCmd())
	return root
}

func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return nil, usage(errors.New("--config is required"))
	}
	cfg, err := app.LoadConfig(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

func newLogger(w io.Writer, cfg config.Log) *slog.Logger {
	var level slog.Level
	switch cfg.Level {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func serveCmd() *cobra.Command {
	var path string
	var grace time.Duration
	cmd := &cobra.Command{
		Use:   "serve --config FILE",
		Short: "Run the service: receive webhooks, purge, warm",
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(path)
			if err != nil {
				return err
			}
			logger := newLogger(cmd.ErrOrStderr(), cfg.Log)
			slog.SetDefault(logger)
			return app.Run(cmd.Context(), cfg, app.Options{Logger: logger}, grace)
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "", "config file (YAML)")
	cmd.Flags().DurationVar(&grace, "grace", 20*time.Second, "on SIGTERM, how long in-flight requests and jobs may finish before they are released")
	return cmd
}

func checkConfigCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "check-config --config FILE",
		Short: "Validate a config file; print every problem by field path",
		RunE: func(cmd *cobra.Command, args []string) error {
			if path == "" {
				return usage(errors.New("--config is required"))
			}
			cfg, err := app.LoadConfig(path)
			if err != nil {
				var p config.Problems
				if errors.As(err, &p) {
					for _, line := range p {
						fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", path, line)
					}
					return errSilent
				}
				return fmt.Errorf("%s: %s", path, config.Redact(err.Error()))
			}
			// Build the adapters too: what only building finds (the AWS
			// SDK's shared configuration, a source's own checks) shows
			// here rather than at serve time.
			if _, err := app.Providers(cfg, http.DefaultClient, slog.New(slog.DiscardHandler)); err != nil {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", path, config.Redact(err.Error()))
				return errSilent
			}
			if _, err := app.Endpoints(cfg); err != nil {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", path, config.Redact(err.Error()))
				return errSilent
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok: %d site(s), %d source(s), %d provider(s), %d rule(s); store %s\n",
				path, len(cfg.Sites), len(cfg.Sources), len(cfg.Providers), len(cfg.Rules), cfg.Store.Driver)
			return nil
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "", "config file (YAML)")
	return cmd
}

func explainCmd() *cobra.Command {
	var path, sourceName string
	var asJSON bool
	var headers []string
	cmd := &cobra.Command{
		Use:   "explain --config FILE --source NAME [-H 'Name: value']... PAYLOAD_FILE",
		Short: "Show what a webhook payload would purge, per provider, without calling anything",
		Long: "explain parses a payload as the named source would (without checking its signature), resolves it\n" +
			"into targets and plans each provider's calls within its limits, assuming a full budget. It calls nothing.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(path)
			if err != nil {
				return err
			}
			var sc *config.Source
			for i := range cfg.Sources {
				if cfg.Sources[i].Name == sourceName {
					sc = &cfg.Sources[i]
				}
			}
			if sc == nil {
				return usage(fmt.Errorf("no source named %q in %s", sourceName, path))
			}
			body, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			src, err := app.NewSource(*sc)
			if err != nil {
				return err
			}
			hdr := http.Header{}
			for _, h := range headers {
				name, value, ok := strings.Cut(h, ":")
				if !ok || strings.TrimSpace(name) == "" {
					return fmt.Errorf("-H %q: want 'Name: value'", h)
				}
				hdr.Add(strings.TrimSpace(name), strings.TrimSpace(value))
			}
			changes, err := src.Parse(body, hdr)
			if err != nil {
				return fmt.Errorf("parse %s: %w", args[0], err)
			}
			for i := range changes {
				changes[i].Source = sc.Name
			}
			providers, err := app.Providers(cfg, http.DefaultClient, slog.New(slog.DiscardHandler))
			if err != nil {
				return err
			}
			var pps []plan.Provider
			for _, p := range providers {
				pps = append(pps, p.Provider)
			}
			r, err := app.Resolver(cfg)
			if err != nil {
				return err
			}
			// Offline, purgehook has no graph: tags for providers that
			// cannot purge them are explained as having no known page.
			unknownTags, err := plan.ParseUnknownTags(cfg.Graph.UnknownTags)
			if err != nil {
				return err
			}
			e := pipeline.Explain(r, pps, sc.Site, changes, time.Now(), func([]change.Target) plan.Graph { return plan.Graph{UnknownTags: unknownTags} })
			res, notes := e.Resolved, e.Notes()
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"changes": changes, "targets": res.Targets, "dropped": res.Dropped, "capped": e.Capped, "calls": e.Calls(), "notes": notes})
			}
			fmt.Fprintf(out, "%d change(s) from %s:\n", len(changes), sc.Name)
			for _, c := range changes {
				fmt.Fprintf(out, "  %s (%s) id=%s type=%s\n", c.Event, c.Kind, c.ContentID, c.ContentType)
			}
			fmt.Fprintf(out, "\n%d target(s):\n", len(res.Targets))
			for _, t := range res.Targets {
				v := t.Value
				if t.Kind == "everything" {
					v = "(all sites)"
				}
				fmt.Fprintf(out, "  %-10s %s  [%s]\n", t.Kind, v, t.Reason)
			}
			for _, d := range res.Dropped {
				fmt.Fprintf(out, "  dropped    %s  (%s)\n", d.Value, d.Reason)
			}
			if e.Capped != "" {
				fmt.Fprintf(out, "  capped     %s\n", e.Capped)
			}
			fmt.Fprintln(out, "\ncalls, innermost layer first:")
			for _, s := range e.Steps {
				for _, p := range pps {
					calls := s.CallsOf(p.Name)
					if len(calls) == 0 {
						continue
					}
					fmt.Fprintf(out, "  %s (%s): %d call(s)\n", p.Name, p.Layer, len(calls))
					for i, c := range calls {
						fmt.Fprintf(out, "    %d. %s ×%d %s\n", i+1, c.Call.Kind, len(c.Call.Items), preview(c.Call.Items))
					}
				}
			}
			for _, n := range notes {
				fmt.Fprintf(out, "note: %s\n", n)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "", "config file (YAML)")
	cmd.Flags().StringVar(&sourceName, "source", "", "the source the payload is for")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().StringArrayVarP(&headers, "header", "H", nil, "a request header the source reads ('Name: value'; Umbraco's event header, Strapi's); repeatable")
	if err := cmd.MarkFlagRequired("source"); err != nil {
		panic(err) // a flag defined just above
	}
	return cmd
}

func preview(items []string) string {
	if len(items) == 0 {
		return ""
	}
	if len(items) <= 3 {
		return strings.Join(items, " ")
	}
	return strings.Join(items[:3], " ") + fmt.Sprintf(" … (+%d)", len(items)-3)
}
