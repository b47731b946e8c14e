package pipeline

import (
	"context"
	"log/slog"
	"strings"
)

// riverLog is the handler River logs through. It moves River's INFO
// records to DEBUG, so they show only with `log.level: debug`; warnings and
// errors pass unchanged.
//
// River (v0.51) logs at INFO what is its heartbeat, not news: the
// producer's job counts every 5 s while jobs run, each maintenance
// service's "Ran successfully" after a pass that touched a row (the job
// scheduler's every few seconds while retries are pending), client
// started/stopped, and "Job errored; retrying" on every failed attempt,
// which for provider calls repeats what the pipeline has already logged
// once in its own words. A panic River logs at ERROR as well.
//
// Two INFO records are kept: they report work that is lost, and nothing
// else logs it. "Job errored" (without "; retrying") is a job that failed
// its last attempt and was discarded (a provider's error never gets
// there: the pipeline fails the call itself and completes the job), and a
// maintenance record with num_jobs_discarded > 0 is the rescuer discarding
// jobs that were stuck on their last attempt.
type riverLog struct {
	slog.Handler
}

// Handle demotes a record after the logger has asked Enabled (the
// embedded handler's) about its original level, so it asks again for the
// level it now has: at `log.level: info` a demoted record is dropped here.
func (h riverLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelInfo && r.Level < slog.LevelWarn && !lostWork(r) {
		r.Level = slog.LevelDebug
		if !h.Enabled(ctx, r.Level) {
			return nil
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h riverLog) WithAttrs(as []slog.Attr) slog.Handler {
	return riverLog{h.Handler.WithAttrs(as)}
}

func (h riverLog) WithGroup(name string) slog.Handler {
	return riverLog{h.Handler.WithGroup(name)}
}

// lostWork reports whether a River INFO record says that jobs were
// discarded. River's messages are "<service>: <text>".
func lostWork(r slog.Record) bool {
	if strings.HasSuffix(r.Message, ": Job errored") {
		return true
	}
	lost := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "num_jobs_discarded" {
			lost = a.Value.Kind() == slog.KindInt64 && a.Value.Int64() > 0
			return false
		}
		return true
	})
	return lost
}
