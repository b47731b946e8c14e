package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/purgehook/purgehook/admin"
	"github.com/purgehook/purgehook/app"
	"github.com/purgehook/purgehook/config"
	"github.com/purgehook/purgehook/pipeline"
	"github.com/purgehook/purgehook/resolve"
	"github.com/purgehook/purgehook/store"
)

// directAttempts bounds the tries of one call in purge --direct: someone
// is waiting at a terminal or in a CI step.
const directAttempts = 5

// purgeDirect purges without a server: it runs the same pipeline a server
// runs (resolve, plan, layer by layer, pacing, retries, 413 splits,
// asynchronous completion) on a private in-memory store that lives as
// long as the command. It keeps no journal and no budget afterwards, and
// does not warm up: it is for emergencies and for setups without a
// server.
func purgeDirect(ctx context.Context, cmd *cobra.Command, cfgPath string, req admin.PurgeRequest, asJSON bool) error {
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		return err
	}
	cfg.Store = config.Store{Driver: store.SQLite, DSN: ":memory:"}
	cfg.Warm.Disabled = true
	cfg.Queue.MaxAttempts = directAttempts
	logger := newLogger(cmd.ErrOrStderr(), cfg.Log)
	svc, err := app.New(ctx, cfg, app.Options{Logger: logger, RetryPolicy: pipeline.SquareBackoff{}})
	if err != nil {
		return err
	}
	// Call keys reach providers with idempotency handles (CloudFront's
	// CallerReference): each run's must differ from every earlier run's,
	// which a fresh in-memory store alone would not ensure.
	svc.Store.SetCallKeyPrefix(fmt.Sprintf("purgehook-direct-%d", time.Now().UnixNano()))
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		svc.Close(cctx)
	}()

	out := cmd.OutOrStdout()
	res := svc.Resolver.Manual(resolve.ManualRequest{Site: req.Site, URLs: req.URLs, Tags: req.Tags, Prefixes: req.Prefixes, Hosts: req.Hosts, Everything: req.Everything, Reason: req.Reason})
	if !asJSON {
		for _, d := range res.Dropped {
			fmt.Fprintf(out, "dropped %s (%s)\n", d.Value, d.Reason)
		}
	}
	if len(res.Targets) == 0 {
		return usage(errors.New("nothing to purge: every target was dropped"))
	}
	if err := svc.Start(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	delivery, err := svc.Pipeline.Manual(ctx, "direct", res.Targets)
	if err != nil {
		return err
	}
	// The in-memory queue is polled every 100ms.
	o, err := waitDelivery(ctx, local{svc.Store}, delivery, 0, 50*time.Millisecond, newWatcher(out, asJSON))
	if err != nil {
		return err
	}
	return finish(out, asJSON, purged{Delivery: delivery, Targets: res.Targets, Dropped: res.Dropped}, &o)
}

// local is purge --direct's trail: its own store.
type local struct{ st *store.Store }

func (l local) progress(ctx context.Context, id int64) (admin.Progress, error) {
	return admin.ReadProgress(ctx, l.st, id)
}
