package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivertype"
)

// Queue is River's client on the store's database. Jobs are inserted and
// completed through a Tx, so that they commit with the state they hand
// over.
type Queue = river.Client[*sql.Tx]

// NewQueue makes a River client on the store's database with the store's
// driver (not yet started).
func (s *Store) NewQueue(cfg *river.Config) (*Queue, error) {
	q, err := river.NewClient(s.riverDriver(), cfg)
	if err != nil {
		return nil, fmt.Errorf("store: queue: %w", err)
	}
	return q, nil
}

// JobInsert queues a job that becomes visible when tx commits.
func (tx *Tx) JobInsert(ctx context.Context, q *Queue, args river.JobArgs, opts *river.InsertOpts) error {
	if _, err := q.InsertTx(ctx, tx.tx, args, opts); err != nil {
		return fmt.Errorf("store: insert %s job: %w", args.Kind(), err)
	}
	return nil
}

// JobComplete marks a job done inside tx, so that the job and the state it
// produced commit together. River wants the driver's own type for that.
func JobComplete[T river.JobArgs](ctx context.Context, tx *Tx, job *river.Job[T]) error {
	var err error
	if tx.env.driver == Postgres {
		_, err = river.JobCompleteTx[*riverdatabasesql.Driver](ctx, tx.tx, job)
	} else {
		_, err = river.JobCompleteTx[*riversqlite.Driver](ctx, tx.tx, job)
	}
	if err != nil {
		return fmt.Errorf("store: complete job %d: %w", job.ID, err)
	}
	return nil
}

// JobCounts counts River's jobs by state (River's words: available,
// running, completed, …), every state present, whichever process made
// them. Given kinds, it counts only jobs of those kinds.
func (s *Store) JobCounts(ctx context.Context, kinds ...string) (map[string]int, error) {
	counts := map[string]int{}
	for _, st := range rivertype.JobStates() {
		counts[string(st)] = 0
	}
	query := `SELECT state, COUNT(*) FROM river_job GROUP BY state`
	var args []any
	if len(kinds) > 0 {
		var in string
		in, args = inList(kinds)
		query = `SELECT state, COUNT(*) FROM river_job WHERE kind IN ` + in + ` GROUP BY state`
	}
	rows, err := s.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: count jobs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("store: count jobs: %w", err)
		}
		counts[st] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: count jobs: %w", err)
	}
	return counts, nil
}

// JobsDiscarded lists the jobs River gave up on (their attempts used up,
// or a permanent error), newest first, with every attempt's error.
func (s *Store) JobsDiscarded(ctx context.Context, q *Queue, limit int) ([]*rivertype.JobRow, error) {
	res, err := q.JobList(ctx, river.NewJobListParams().
		States(rivertype.JobStateDiscarded).
		OrderBy(river.JobListOrderByFinalizedAt, river.SortOrderDesc).
		First(limit))
	if err != nil {
		return nil, fmt.Errorf("store: discarded jobs: %w", err)
	}
	return res.Jobs, nil
}

// ErrJobNotDiscarded is returned, wrapped, by JobRetry for a job that is
// not discarded: a job still queued or already done is not retried.
var ErrJobNotDiscarded = errors.New("store: job is not discarded")

// JobRetry makes a discarded job available again, when tx commits; the
// job gets one more attempt.
func (tx *Tx) JobRetry(ctx context.Context, q *Queue, id int64) (*rivertype.JobRow, error) {
	j, err := q.JobGetTx(ctx, tx.tx, id)
	if errors.Is(err, river.ErrNotFound) {
		return nil, fmt.Errorf("store: job %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: job %d: %w", id, err)
	}
	if j.State != rivertype.JobStateDiscarded {
		return j, fmt.Errorf("store: job %d is %s: %w", id, j.State, ErrJobNotDiscarded)
	}
	j, err = q.JobRetryTx(ctx, tx.tx, id)
	if err != nil {
		return nil, fmt.Errorf("store: retry job %d: %w", id, err)
	}
	return j, nil
}
