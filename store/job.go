package store

import (
	"context"
	"database/sql"
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
// them.
func (s *Store) JobCounts(ctx context.Context) (map[string]int, error) {
	counts := map[string]int{}
	for _, st := range rivertype.JobStates() {
		counts[string(st)] = 0
	}
	rows, err := s.q.QueryContext(ctx, `SELECT state, COUNT(*) FROM river_job GROUP BY state`)
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
