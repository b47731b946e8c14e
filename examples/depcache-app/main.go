// Command depcache-app is a small web site that caches CMS content in
// memory with depcache and is kept fresh by purgehook: it reads rooms and
// their amenities from a delivery API (a built-in fake unless -delivery is
// given), sets Cache-Control, CDN-Cache-Control and Cache-Tag headers as
// the Umbraco/Cloudflare guide's §3 table says, and is invalidated either
// by purgehook's app provider calling POST /_purgehook/invalidate (-secret)
// or by following purgehook's /v1/stream (-stream with a read token).
//
//	PURGEHOOK_APP_SECRET=s3cret go run ./examples/depcache-app -listen 127.0.0.1:8081 -base-url http://127.0.0.1:8081
//
// and in purgehook's config:
//
//	providers:
//	  - {name: apps, kind: app, instances: [http://127.0.0.1:8081/_purgehook/invalidate], secret: ${PURGEHOOK_APP_SECRET}}
//
// See docs/depcache.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/purgehook/purgehook/depcache/httpinvalidate"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "depcache-app:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		listen    = flag.String("listen", "127.0.0.1:8081", "address to serve on")
		baseURL   = flag.String("base-url", "", "public URL of the site (default http://<listen>)")
		delivery  = flag.String("delivery", "", "delivery API base URL (default: a built-in fake)")
		streamURL = flag.String("stream", "", "purgehook's /v1/stream URL to follow (token in PURGEHOOK_STREAM_TOKEN)")
		ttl       = flag.Duration("ttl", time.Hour, "longest an entry lives without an invalidation")
	)
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	if *baseURL == "" {
		*baseURL = "http://" + ln.Addr().String()
	}
	if *delivery == "" {
		fake := &http.Server{Handler: NewFakeDelivery(), ReadHeaderTimeout: 5 * time.Second}
		fln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		go func() {
			if err := fake.Serve(fln); !errors.Is(err, http.ErrServerClosed) {
				logger.Error("built-in fake delivery API stopped", "err", err)
			}
		}()
		defer fake.Close()
		*delivery = "http://" + fln.Addr().String()
		logger.Info("using the built-in fake delivery API", "url", *delivery)
	}
	var secrets []string
	for s := range strings.SplitSeq(os.Getenv("PURGEHOOK_APP_SECRET"), ",") {
		if s = strings.TrimSpace(s); s != "" {
			secrets = append(secrets, s)
		}
	}
	if len(secrets) == 0 && *streamURL == "" {
		return errors.New("set PURGEHOOK_APP_SECRET (for the app provider's calls) or -stream")
	}
	reg := prometheus.NewRegistry()
	app, err := NewApp(Config{DeliveryURL: *delivery, BaseURL: *baseURL, Secrets: secrets, TTL: *ttl, Registry: reg, Logger: logger})
	if err != nil {
		return err
	}
	if *streamURL != "" {
		client, err := httpinvalidate.NewClient(httpinvalidate.ClientOptions{
			URL: *streamURL, Token: os.Getenv("PURGEHOOK_STREAM_TOKEN"), Caches: app.Caches(), Logger: logger,
		})
		if err != nil {
			return err
		}
		go func() { _ = client.Run(ctx) }() // it returns ctx's error only
		// Serve only once the stream is followed, so that nothing cached
		// from here on can miss its invalidation.
		select {
		case <-client.Ready():
		case <-ctx.Done():
			return nil
		}
	}
	srv := &http.Server{Handler: app.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			logger.Warn("shutdown", "err", err)
		}
	}()
	logger.Info("serving", "url", *baseURL)
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
