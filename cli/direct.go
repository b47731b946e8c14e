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
func purgeDirect(ctx context.Context, cmd *cobra.Command, cfgPath string, req admin.PurgeRequest) error {
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
	for _, d := range res.Dropped {
		fmt.Fprintf(out, "dropped %s (%s)\n", d.Value, d.Reason)
	}
	if len(res.Targets) == 0 {
		return errors.New("nothing to purge")
	}
	if err := svc.Start(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	delivery, err := svc.Pipeline.Manual(ctx, "direct", res.Targets)
	if err != nil {
		return err
	}
	// The in-memory queue is polled every 100ms.
	return waitDelivery(ctx, out, local{svc.Store}, delivery, 0, 50*time.Millisecond)
}

// local is purge --direct's trail: its own store.
type local struct{ st *store.Store }

func (l local) delivery(ctx context.Context, id int64) (string, []trailEvent, error) {
	d, err := l.st.DeliveryGet(ctx, id)
	if err != nil {
		return "", nil, err
	}
	events, err := l.st.EventList(ctx, id, 0, 10_000)
	if err != nil {
		return "", nil, err
	}
	out := make([]trailEvent, len(events))
	for i, e := range events {
		// EventList is newest first.
		out[len(events)-1-i] = trailEvent{Kind: e.Kind, Message: e.Message, Batch: e.Batch}
	}
	return string(d.State), out, nil
}

func (l local) batchState(ctx context.Context, id int64) (string, error) {
	b, err := l.st.BatchGet(ctx, id)
	return string(b.State), err
}
