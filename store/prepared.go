package store

import (
	"context"
	"database/sql"
	"sync"
)

// prepared is the querier of a SQLite pool: each query is prepared once
// and kept (a *sql.Stmt, which database/sql prepares again on each
// connection it runs on and keeps there), instead of being parsed anew on
// every call, which is what modernc's driver does for a query given as a
// string. Under bench/load at 2,000 webhooks/s, parsing the redelivery
// lookup that every webhook makes was 7.8% of all CPU. PostgreSQL needs
// none of this: pgx caches the statements of each connection itself.
//
// Transactions are not served from it (a Tx queries through its *sql.Tx),
// and River's queries are River's.
type prepared struct {
	db *sql.DB
	mu sync.RWMutex
	m  map[string]*sql.Stmt
	// full: the cache holds maxPrepared statements and takes no more; a
	// query built for its arguments (an IN list of n) must not fill it
	// without bound, and the queries that matter come first.
	full bool
}

// maxPrepared bounds the statements a pool keeps: the store's fixed
// queries number far fewer.
const maxPrepared = 256

func newPrepared(db *sql.DB) *prepared {
	return &prepared{db: db, m: make(map[string]*sql.Stmt)}
}

// stmt is the prepared statement of query, prepared now if need be, or
// nil when the cache is full or the query does not prepare (the caller
// then runs it unprepared, which reports the error the same way).
func (p *prepared) stmt(ctx context.Context, query string) *sql.Stmt {
	p.mu.RLock()
	st, ok := p.m[query]
	full := p.full
	p.mu.RUnlock()
	if ok || full {
		return st
	}
	st, err := p.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if prev, ok := p.m[query]; ok {
		// Prepared by another caller meanwhile.
		_ = st.Close()
		return prev
	}
	if len(p.m) >= maxPrepared {
		p.full = true
		_ = st.Close()
		return nil
	}
	p.m[query] = st
	return st
}

func (p *prepared) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := p.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return p.db.ExecContext(ctx, query, args...)
}

func (p *prepared) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := p.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return p.db.QueryContext(ctx, query, args...)
}

func (p *prepared) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := p.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return p.db.QueryRowContext(ctx, query, args...)
}

// close closes the kept statements; the pool is closed by its owner.
func (p *prepared) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for q, st := range p.m {
		_ = st.Close()
		delete(p.m, q)
	}
	p.full = true
}
