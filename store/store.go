// Package store is purgehook's one persistence boundary: the journal of
// accepted deliveries and their changes, the targets waiting for a batch,
// batches and their provider calls, daily budgets, warm-up outcomes, the
// audit trail and the stream log. It also owns the database River's durable
// jobs live in, and River's driver for it, so that a journal write and the
// job that will process it commit in one transaction and nothing outside
// this package writes SQL or picks a driver.
//
// SQLite (modernc.org/sqlite, pure Go) is the embedded default, for one
// process; PostgreSQL (pgx) is for several replicas sharing the work, the
// budgets and the journal. Queries are written once, with ? placeholders,
// and rebound for PostgreSQL.
//
// As in River, one set of methods, named noun then verb, runs either on the
// pool (a *Store) or inside a transaction (a *Tx, from Store.InTx), so
// callers compose several writes and the job that follows them into one
// commit.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/url"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib" // the PostgreSQL driver
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"
	_ "modernc.org/sqlite" // the embedded driver
)

//go:embed migrations
var migrations embed.FS

// ErrNotFound is returned, wrapped, when a Get or Find names a row that
// does not exist.
var ErrNotFound = errors.New("store: not found")

// querier is a *sql.DB, a *sql.Tx or a *sql.Conn.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// env is what a Store and every Tx begun from it share.
type env struct {
	driver string
	now    func() time.Time
	// keyPrefix starts every call's idempotency key.
	keyPrefix string
}

// queries is the one query set, embedded in Store (running on the pool)
// and in Tx (running in a transaction).
type queries struct {
	q   querier // placeholders already rebound for the driver
	env *env
}

func (q *queries) now() time.Time { return q.env.now() }

// Store is an open database.
type Store struct {
	queries
	db   *sql.DB
	lock *os.File
	// read is a pool for the acknowledgement's reads, so that a
	// redelivery is answered without waiting for the journal's writer
	// and a burst of them does not hold the connections the writer
	// needs: for a SQLite file, read-only connections (WAL lets them read
	// while the one writing connection is in a transaction); on
	// PostgreSQL, a second, smaller pool. nil (SQLite in memory): reads
	// use db.
	read *sql.DB
	// journal, on PostgreSQL, is the connection of the transactions
	// whose commit someone waits for (Store.InTxDurable); nil: they use
	// db.
	journal *sql.DB
	// listen, on PostgreSQL, gives the connections that LISTEN: River's
	// (new jobs, leadership) and the stream's (events other replicas
	// appended). They are taken out of the pool for good, so it holds
	// none otherwise.
	listen *pgxpool.Pool
	// prep and readPrep, on SQLite, keep the prepared statements of the
	// pool's and the read pool's queries (see prepared); nil otherwise.
	prep, readPrep *prepared
	// lazySync: the SQLite connection commits with synchronous=NORMAL and
	// InTxDurable raises it to FULL (a DSN of ours, not a file: DSN).
	lazySync bool
	// gate, on SQLite, lets the acknowledgements' transactions go first
	// (see writeGate); nil on PostgreSQL, where they have a connection of
	// their own.
	gate *writeGate
}

// Tx is a transaction begun by Store.InTx.
type Tx struct {
	queries
	tx    *sql.Tx
	after []func()
}

// AfterCommit runs fn once the transaction has committed (never when it
// rolls back): for what must not happen twice when a transaction is
// retried, such as observing a metric.
func (tx *Tx) AfterCommit(fn func()) { tx.after = append(tx.after, fn) }

// Drivers.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Open opens (creating if needed) the database and runs purgehook's and
// River's migrations.
func Open(ctx context.Context, driver, dsn string) (*Store, error) {
	switch driver {
	case SQLite:
		return openSQLite(ctx, dsn)
	case Postgres:
		return openPostgres(ctx, dsn)
	}
	return nil, fmt.Errorf("store: unknown driver %q (want sqlite or postgres)", driver)
}

func newStore(db *sql.DB, driver string, lock *os.File) *Store {
	e := &env{driver: driver, now: time.Now, keyPrefix: DefaultCallKeyPrefix}
	return &Store{queries: queries{q: e.rebound(db), env: e}, db: db, lock: lock}
}

func openPostgres(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors quote the DSN with its password masked.
		return nil, fmt.Errorf("store: postgres dsn: %w", err)
	}
	// pool opens a pool of at most conns connections on the DSN, with
	// params set on each of its sessions.
	pool := func(conns int, params map[string]string) *sql.DB {
		c := cfg.Copy()
		maps.Copy(c.RuntimeParams, params)
		db := stdlib.OpenDB(*c)
		db.SetMaxOpenConns(conns)
		db.SetConnMaxIdleTime(5 * time.Minute)
		return db
	}
	// The job workers' pool commits without waiting for the WAL flush:
	// a server crash can lose its last commits, never a part of one, and
	// what is lost is redone (a purge sent twice). What someone waits for
	// commits on the journal's connection below, which waits for the
	// flush, and the WAL is flushed in order, so theirs are flushed first.
	db := pool(20, map[string]string{"synchronous_commit": "off"})
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		// pgx's errors name host and user, never the password.
		return nil, fmt.Errorf("store: connect to postgres: %w", err)
	}
	s := newStore(db, Postgres, nil)
	// The acknowledgement's reads (is this a redelivery?) get a pool of
	// their own: in the shared one, a burst of requests took every
	// connection and the journal's writer waited behind them (bench/load
	// on PostgreSQL: 500/s acknowledged in seconds, not milliseconds).
	s.read = pool(postgresReaders, nil)
	// And its writes a connection of their own, for the same reason: the
	// job workers' transactions hold the shared pool's.
	s.journal = pool(1, nil)
	if s.listen, err = listenPool(ctx, dsn); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// listenPool is the pool the LISTEN connections come from.
func listenPool(ctx context.Context, dsn string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors quote the DSN with its password masked.
		return nil, fmt.Errorf("store: postgres dsn: %w", err)
	}
	cfg.MinConns, cfg.MaxConns = 0, 2
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: connect to postgres: %w", err)
	}
	return pool, nil
}

func openSQLite(ctx context.Context, dsn string) (*Store, error) {
	var lock *os.File
	if path := sqlitePath(dsn); path != "" {
		var err error
		if lock, err = lockFile(path + ".lock"); err != nil {
			return nil, err
		}
	}
	db, err := sql.Open("sqlite", sqliteDSN(dsn))
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("store: open %s: %w", dsn, err)
	}
	// SQLite allows one writer; River's SQLite driver documents that one
	// connection avoids SQLITE_BUSY between its own concurrent operations.
	// Everything that uses the pool must therefore finish a query before
	// starting the next one.
	db.SetMaxOpenConns(1)
	s := newStore(db, SQLite, lock)
	s.lazySync = !strings.HasPrefix(dsn, "file:")
	s.gate = &writeGate{}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.rescueOrphans(ctx); err != nil {
		s.Close()
		return nil, err
	}
	s.prep = newPrepared(db)
	s.queries.q = s.prep
	if lock != nil && !strings.HasPrefix(dsn, "file:") {
		read, err := sql.Open("sqlite", sqliteDSN(dsn)+"&_pragma=query_only(1)")
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("store: open %s for reading: %w", dsn, err)
		}
		read.SetMaxOpenConns(sqliteReaders)
		s.read = read
		s.readPrep = newPrepared(read)
	}
	return s, nil
}

// sqliteReaders bounds the read-only connections to a SQLite file.
const sqliteReaders = 4

// postgresReaders bounds the connections of PostgreSQL's read pool.
const postgresReaders = 8

// Driver is SQLite or Postgres.
func (s *Store) Driver() string { return s.env.driver }

// riverDriver is the River driver for this database. On PostgreSQL,
// River's queries and transactions go through database/sql, like the
// store's own, so that a job commits with the state it hands over; its
// listener is riverpgxv5's on a pgx pool, so that a replica hears of a new
// job, or of a leader that resigned, at once instead of at its next poll.
func (s *Store) riverDriver() riverdriver.Driver[*sql.Tx] {
	if s.env.driver == Postgres {
		if s.listen != nil {
			return riverdatabasesql.NewWithPgxListener(s.db, s.listen)
		}
		return riverdatabasesql.New(s.db)
	}
	return riversqlite.New(s.db)
}

// reader is the querier of the acknowledgement's reads: the read pool's
// (prepared, on SQLite), or the store's own when there is none.
func (s *Store) reader() queries {
	switch {
	case s.readPrep != nil:
		return queries{q: s.readPrep, env: s.env}
	case s.read != nil:
		return queries{q: s.env.rebound(s.read), env: s.env}
	}
	return s.queries
}

// rebound adapts a querier to the database's placeholders.
func (e *env) rebound(q querier) querier {
	if e.driver == Postgres {
		return pgQuerier{q}
	}
	return q
}

// pgQuerier rewrites ? placeholders as $1, $2, … for PostgreSQL. Our
// queries never contain ? otherwise (no string literals with one, no JSON
// operators), which the store's tests check by running on both drivers.
type pgQuerier struct{ q querier }

func (p pgQuerier) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return p.q.ExecContext(ctx, rebind(query), args...)
}

func (p pgQuerier) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return p.q.QueryContext(ctx, rebind(query), args...)
}

func (p pgQuerier) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return p.q.QueryRowContext(ctx, rebind(query), args...)
}

func rebind(query string) string {
	if !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// BatchLock serialises the transactions that finish a batch's calls, so
// that when two replicas finish the last two calls of a layer at once,
// one of them sees the other's and moves the batch on. SQLite's write
// transactions are already exclusive.
func (tx *Tx) BatchLock(ctx context.Context, batch int64) error {
	if tx.env.driver != Postgres {
		return nil
	}
	var id int64
	if err := tx.q.QueryRowContext(ctx, `SELECT id FROM ph_batch WHERE id = ? FOR UPDATE`, batch).Scan(&id); err != nil {
		return fmt.Errorf("store: lock batch %d: %w", batch, notFound(err))
	}
	return nil
}

// BudgetLock serialises planning against one provider's budget across
// replicas for the rest of the transaction.
func (tx *Tx) BudgetLock(ctx context.Context, provider string) error {
	if tx.env.driver != Postgres {
		return nil
	}
	if _, err := tx.q.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext(?))`, "purgehook-budget:"+provider); err != nil {
		return fmt.Errorf("store: lock budget %s: %w", provider, err)
	}
	return nil
}

// StateLock serialises the transactions that read and write one
// coordination value across replicas for the rest of the transaction
// (SQLite's write transactions are already exclusive). Without it, on
// PostgreSQL a delivery that queues targets while a flush is finishing
// reads "a flush is queued" before the flush commits "none is", while the
// flush's take of the pending targets cannot see the delivery's: the
// targets would wait for the next periodic flush.
func (tx *Tx) StateLock(ctx context.Context, key string) error {
	if tx.env.driver != Postgres {
		return nil
	}
	if _, err := tx.q.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext(?))`, "purgehook-state:"+key); err != nil {
		return fmt.Errorf("store: lock state %s: %w", key, err)
	}
	return nil
}

// sqlitePath is the file behind a DSN, or "" for an in-memory database.
func sqlitePath(dsn string) string {
	p := strings.TrimPrefix(dsn, "file:")
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	if p == "" || p == ":memory:" || strings.Contains(dsn, "mode=memory") {
		return ""
	}
	return p
}

// rescueOrphans makes every job left running by a process that died
// available again at once. The store's lock guarantees no other process
// is working them, so there is no need to wait for River's rescuer (which
// waits rescue_after, then up to its own interval).
func (s *Store) rescueOrphans(ctx context.Context) error {
	exec := riversqlite.New(s.db).GetExecutor()
	now := s.now().UTC()
	jobs, err := exec.JobGetStuck(ctx, &riverdriver.JobGetStuckParams{Max: 100_000, StuckHorizon: now.Add(time.Second)})
	if err != nil {
		return fmt.Errorf("store: find orphaned jobs: %w", err)
	}
	if len(jobs) == 0 {
		return nil
	}
	p := &riverdriver.JobRescueManyParams{StuckHorizon: now.Add(time.Second)}
	for _, j := range jobs {
		e, _ := json.Marshal(rivertype.AttemptError{At: now, Attempt: j.Attempt, Error: "purgehook stopped while the job was running; rescued at start"})
		p.ID = append(p.ID, j.ID)
		p.Error = append(p.Error, e)
		p.FinalizedAt = append(p.FinalizedAt, nil)
		p.ScheduledAt = append(p.ScheduledAt, now)
		p.State = append(p.State, string(rivertype.JobStateAvailable))
	}
	if _, err := exec.JobRescueMany(ctx, p); err != nil {
		return fmt.Errorf("store: rescue orphaned jobs: %w", err)
	}
	return nil
}

func sqliteDSN(dsn string) string {
	if strings.HasPrefix(dsn, "file:") {
		return dsn
	}
	v := url.Values{}
	v.Add("_pragma", "busy_timeout(10000)")
	v.Add("_pragma", "journal_mode(WAL)")
	// NORMAL: in WAL mode a commit is written, not synced, unless it is
	// one InTxDurable raises to FULL. A power cut can lose the last
	// unsynced commits (a process crash cannot); the WAL's checksums make
	// what survives a prefix of the commits, an earlier consistent state,
	// and every acknowledged one is in it. What the workers redo after
	// one (a purge sent twice, a warm-up repeated) is harmless.
	v.Add("_pragma", "synchronous(NORMAL)")
	v.Add("_pragma", "foreign_keys(1)")
	v.Set("_txlock", "immediate")
	return "file:" + dsn + "?" + v.Encode()
}

// Close closes the database and releases the lock.
func (s *Store) Close() error {
	for _, p := range []*prepared{s.prep, s.readPrep} {
		if p != nil {
			p.close()
		}
	}
	if s.journal != nil {
		s.journal.Close()
	}
	if s.read != nil {
		s.read.Close()
	}
	err := s.db.Close()
	if s.listen != nil {
		s.listen.Close()
	}
	if s.lock != nil {
		s.lock.Close()
	}
	return err
}

// DefaultCallKeyPrefix starts the idempotency key of every call
// (purgehook-{batch}-{call}).
const DefaultCallKeyPrefix = "purgehook"

// SetCallKeyPrefix replaces DefaultCallKeyPrefix, for a store whose ids
// start again at 1 on every run (purge --direct's in-memory store) while
// the keys reach providers that remember them.
func (s *Store) SetCallKeyPrefix(prefix string) { s.env.keyPrefix = prefix }

// SetClock replaces the clock (tests). It must be called before the store
// is used concurrently.
func (s *Store) SetClock(now func() time.Time) { s.env.now = now }

// Now is the store's clock.
func (s *Store) Now() time.Time { return s.now() }

func (s *Store) migrate(ctx context.Context) error {
	if s.env.driver == Postgres {
		// Replicas starting together take turns; the lock is on one
		// connection, so the migration runs on it too.
		conn, err := s.db.Conn(ctx)
		if err != nil {
			return fmt.Errorf("store: migrate: %w", err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(hashtext('purgehook-migrate'))`); err != nil {
			return fmt.Errorf("store: migrate: %w", err)
		}
		// conn.Close hands the connection back to the pool with its
		// session (and a session lock) alive, so the lock is released by
		// hand; should that fail, it goes when the session ends.
		defer func() {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(hashtext('purgehook-migrate'))`)
		}()
		return s.migrateOn(ctx, conn)
	}
	return s.migrateOn(ctx, s.db)
}

// execer is a *sql.DB or a *sql.Conn.
type execer interface {
	querier
	BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)
}

func (s *Store) migrateOn(ctx context.Context, db execer) error {
	q := s.env.rebound(db)
	if _, err := q.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS ph_migration (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	dir := "migrations/" + s.env.driver
	entries, err := fs.ReadDir(migrations, dir)
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	if err := uniqueVersions(names); err != nil {
		return err
	}
	for _, name := range names {
		v, _ := migrationVersion(name)
		var n int
		if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM ph_migration WHERE version = ?`, v).Scan(&n); err != nil {
			return fmt.Errorf("store: migrate: %w", err)
		}
		if n > 0 {
			continue
		}
		body, err := fs.ReadFile(migrations, path.Join(dir, name))
		if err != nil {
			return err
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		txq := s.env.rebound(tx)
		if _, err := txq.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("store: migration %s: %w", name, err)
		}
		if _, err := txq.ExecContext(ctx, `INSERT INTO ph_migration (version, applied_at) VALUES (?, ?)`, v, s.now().UnixMilli()); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	m, err := rivermigrate.New(s.riverDriver(), nil)
	if err != nil {
		return fmt.Errorf("store: river migrations: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("store: river migrations: %w", err)
	}
	return nil
}

// Ready reports whether the database answers, is migrated and takes a
// write: it commits a heartbeat row, so a journal that can be read but not
// written (a full disk, a read-only file system, a PostgreSQL standby) is
// not ready, as the webhooks it would have to refuse with 503 are not.
func (s *Store) Ready(ctx context.Context) error {
	var n int
	if err := s.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM ph_migration`).Scan(&n); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if n == 0 {
		return errors.New("store: not migrated")
	}
	err := s.InTx(ctx, func(tx *Tx) error {
		_, err := tx.q.ExecContext(ctx, `INSERT INTO ph_heartbeat (id, at) VALUES (1, ?)
			ON CONFLICT (id) DO UPDATE SET at = excluded.at`, ms(s.now()))
		return err
	})
	if err != nil {
		return fmt.Errorf("store: journal not writable: %w", err)
	}
	return nil
}

// InTx runs fn in a transaction, committing when it returns nil and
// rolling back (River's jobs inserted through tx included) when it does
// not.
func (s *Store) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	if s.gate != nil {
		if err := s.gate.lock(ctx, false); err != nil {
			return fmt.Errorf("store: begin: %w", err)
		}
		defer s.gate.unlock()
	}
	return s.inTx(ctx, s.db, fn)
}

// InTxDurable is InTx for a commit that someone outside waits for: a
// webhook's sender, an admin's purge, a plugin's edges. Its commit is on
// disk before it returns, and with it every commit before it.
//
// On SQLite that is the one transaction kind that syncs: the connection's
// default is synchronous=NORMAL (see sqliteDSN), under which a commit is
// written to the WAL but not synced, so the job workers' transactions,
// River's included, do not each wait for the disk while the webhooks'
// acknowledgements wait behind them. A durable commit switches the
// connection to FULL for itself; fsync covers the whole WAL file, so the
// workers' commits written before it are synced too.
//
// On PostgreSQL it runs on a connection of its own, so that it never waits
// for the job workers to give one back; the workers' pool commits with
// synchronous_commit=off (see openPostgres), and this connection's commit
// waits for the WAL to be flushed past it, theirs included.
func (s *Store) InTxDurable(ctx context.Context, fn func(tx *Tx) error) error {
	if s.journal != nil {
		return s.inTx(ctx, s.journal, fn)
	}
	if s.gate != nil {
		if err := s.gate.lock(ctx, true); err != nil {
			return fmt.Errorf("store: begin: %w", err)
		}
		defer s.gate.unlock()
	}
	if !s.lazySync {
		return s.inTx(ctx, s.db, fn)
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	defer conn.Close()
	// SQLite refuses to change the safety level inside a transaction, so
	// it is set around it, on the same (the only) connection.
	if _, err := conn.ExecContext(ctx, `PRAGMA synchronous = FULL`); err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	defer func() {
		// A connection left at FULL is only slower; a closed one is
		// reopened from the DSN, at NORMAL.
		if _, err := conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA synchronous = NORMAL`); err != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn }) // always that error: the point is to discard the connection
		}
	}()
	return s.inTx(ctx, conn, fn)
}

// beginner is a *sql.DB or a *sql.Conn.
type beginner interface {
	BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)
}

func (s *Store) inTx(ctx context.Context, db beginner, fn func(tx *Tx) error) error {
	sqlTx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	tx := &Tx{queries: queries{q: s.env.rebound(sqlTx), env: s.env}, tx: sqlTx}
	if err := fn(tx); err != nil {
		sqlTx.Rollback()
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	for _, fn := range tx.after {
		fn()
	}
	return nil
}

// notFound turns "no row" into ErrNotFound, keeping other errors.
func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMilli(v.Int64)
}

// migrationVersion is the number a migration's file name starts with.
func migrationVersion(name string) (int, error) {
	v, err := strconv.Atoi(strings.SplitN(name, "_", 2)[0])
	if err != nil {
		return 0, fmt.Errorf("store: migration %s: bad name", name)
	}
	return v, nil
}

// uniqueVersions refuses two migrations of one version: the second would
// be skipped as applied, silently (two branches each adding "057_…").
func uniqueVersions(names []string) error {
	seen := map[int]string{}
	for _, name := range names {
		v, err := migrationVersion(name)
		if err != nil {
			return err
		}
		if other, ok := seen[v]; ok {
			return fmt.Errorf("store: migrations %s and %s share version %d", other, name, v)
		}
		seen[v] = name
	}
	return nil
}
