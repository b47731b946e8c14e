package pipeline

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/purgehook/purgehook/config"
	"github.com/purgehook/purgehook/resolve"
	"github.com/purgehook/purgehook/store"
)

// syncBuffer is written by River's goroutines and read by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRiverLogLevels(t *testing.T) {
	t.Parallel()
	// River's own messages, as v0.51 logs them.
	for _, tt := range []struct {
		level slog.Level
		msg   string
		attrs []any
		// want is the level the record comes out at; at log.level info a
		// record demoted to debug does not come out at all.
		want slog.Level
	}{
		{slog.LevelInfo, "producer: Producer job counts", []any{"num_completed_jobs", uint64(3), "num_jobs_running", 1, "queue", "default"}, slog.LevelDebug},
		{slog.LevelInfo, "River client started", []any{"client_id", "x"}, slog.LevelDebug},
		{slog.LevelInfo, "maintenance.JobScheduler: Ran successfully", []any{"num_jobs_scheduled", 2}, slog.LevelDebug},
		{slog.LevelInfo, "maintenance.JobRescuer: Ran successfully", []any{slog.Int64("num_jobs_discarded", 0), slog.Int64("num_jobs_retry_scheduled", 1)}, slog.LevelDebug},
		{slog.LevelInfo, "JobExecutor: Job errored; retrying", []any{"error", "boom", "job_id", 7}, slog.LevelDebug},
		{slog.LevelInfo, "JobExecutor: Job panicked", []any{"error", "boom", "job_id", 7}, slog.LevelDebug},
		// Lost work stays at INFO.
		{slog.LevelInfo, "JobExecutor: Job errored", []any{"error", "boom", "job_id", 7}, slog.LevelInfo},
		{slog.LevelInfo, "maintenance.JobRescuer: Ran successfully", []any{slog.Int64("num_jobs_discarded", 2), slog.Int64("num_jobs_retry_scheduled", 0)}, slog.LevelInfo},
		// Warnings and errors pass unchanged, and debug stays debug.
		{slog.LevelWarn, "JobExecutor: Job appears to be stuck", []any{"job_id", 7}, slog.LevelWarn},
		{slog.LevelError, "producer: Error fetching jobs", []any{"error", "boom"}, slog.LevelError},
		{slog.LevelDebug, "producer: Run loop started", nil, slog.LevelDebug},
	} {
		for _, at := range []slog.Level{slog.LevelDebug, slog.LevelInfo} {
			var buf bytes.Buffer
			inner := slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: at})
			log := slog.New(riverLog{inner}).With("component", "river")
			log.Log(context.Background(), tt.level, tt.msg, tt.attrs...)
			out := buf.String()
			if tt.want < at {
				if out != "" {
					t.Errorf("at %s, %s %q: logged %q, want nothing", at, tt.level, tt.msg, out)
				}
				continue
			}
			if !strings.Contains(out, "level="+tt.want.String()+" ") || !strings.Contains(out, "component=river") {
				t.Errorf("at %s, %s %q: logged %q, want level=%s with component=river", at, tt.level, tt.msg, out, tt.want)
			}
		}
	}
}

// TestRiverLogsThroughRiverLog runs a real River client through New and
// checks that its INFO lines reach the log at DEBUG.
func TestRiverLogsThroughRiverLog(t *testing.T) {
	t.Parallel()
	for _, at := range []slog.Level{slog.LevelDebug, slog.LevelInfo} {
		t.Run(at.String(), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st, err := store.Open(ctx, store.SQLite, filepath.Join(t.TempDir(), "p.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			r, err := resolve.New([]config.Site{{Name: "a", BaseURL: "https://a.example"}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			var buf syncBuffer
			pl, err := New(Options{Store: st, Resolver: r, Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: at}))})
			if err != nil {
				t.Fatal(err)
			}
			if err := pl.Start(ctx); err != nil {
				t.Fatal(err)
			}
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := pl.Stop(sctx); err != nil {
				t.Fatal(err)
			}
			// River logs "River client stopped" before Stop returns.
			out := buf.String()
			const stopped = `level=DEBUG msg="River client stopped" component=river`
			switch at {
			case slog.LevelDebug:
				if !strings.Contains(out, stopped) {
					t.Errorf("log at debug has no %q:\n%s", stopped, out)
				}
			case slog.LevelInfo:
				if strings.Contains(out, "component=river") {
					t.Errorf("log at info has River lines:\n%s", out)
				}
			}
		})
	}
}
