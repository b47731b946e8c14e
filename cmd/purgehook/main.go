// Command purgehook keeps cached websites fresh: it receives CMS webhooks,
// journals them, and purges and warms every cache layer that shows the
// changed content. Run `purgehook --help` for the subcommands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/purgehook/purgehook/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	os.Exit(cli.Execute(ctx, os.Args[1:], os.Stdout, os.Stderr))
}
