package store

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strings"
	"time"
)

// GraphEdge is one stored edge of the content graph: the page URL shows
// the key kind:value on site, as learned from origin. The store does not
// interpret kinds or origins; the graph package does.
type GraphEdge struct {
	ID     int64
	Site   string
	Kind   string
	Value  string
	URL    string
	Origin string
	// FirstSeen is when the edge was first written; LastSeen when it was
	// last confirmed or, for a removed edge, found gone.
	FirstSeen time.Time
	LastSeen  time.Time
	// Seq is the graph write that last changed the edge.
	Seq     int64
	Removed bool
}

// GraphCursor is a position in the graph's change log: after the edge
// (Seq, ID). The zero cursor is before every edge.
type GraphCursor struct {
	Seq int64
	ID  int64
}

// graphUpsert writes an edge as holding now, keeping its first_seen.
const graphUpsert = `INSERT INTO ph_graph_edge (site, kind, value, url, origin, first_seen, last_seen, seq, removed)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)
	ON CONFLICT (site, kind, value, url, origin) DO UPDATE SET last_seen = excluded.last_seen, seq = excluded.seq, removed = 0`

// graphSeqNext takes the graph's next change number. The counter row stays
// locked until the transaction ends, so on PostgreSQL writers take turns
// and their numbers become visible in order: a replica that has read
// every edge up to n never later finds a committed edge below n.
func (tx *Tx) graphSeqNext(ctx context.Context) (int64, error) {
	var seq int64
	if err := tx.q.QueryRowContext(ctx, `UPDATE ph_graph_seq SET seq = seq + 1 WHERE id = 1 RETURNING seq`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("store: graph seq: %w", err)
	}
	return seq, nil
}

// GraphSeq returns the graph's latest change number: a replica whose
// cursor is at it has seen every committed write.
func (q *queries) GraphSeq(ctx context.Context) (int64, error) {
	var seq int64
	if err := q.q.QueryRowContext(ctx, `SELECT seq FROM ph_graph_seq WHERE id = 1`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("store: graph seq: %w", err)
	}
	return seq, nil
}

// GraphEdgePut records edges as holding now: new ones are inserted,
// known ones (same site, kind, value, URL and origin) confirmed, removed
// ones restored. It returns the change number the edges were stamped with
// (0 when edges is empty). Call it in a transaction when it is part of a
// larger write; on the pool it is still one write.
func (tx *Tx) GraphEdgePut(ctx context.Context, edges []GraphEdge) (int64, error) {
	if len(edges) == 0 {
		return 0, nil
	}
	seq, err := tx.graphSeqNext(ctx)
	if err != nil {
		return 0, err
	}
	now := ms(tx.now())
	edges = distinctEdges(edges)
	for len(edges) > 0 {
		chunk := edges[:min(len(edges), graphPutRows)]
		edges = edges[len(chunk):]
		args := make([]any, 0, len(chunk)*8)
		for _, e := range chunk {
			args = append(args, e.Site, e.Kind, e.Value, e.URL, e.Origin, now, now, seq)
		}
		if _, err := tx.q.ExecContext(ctx, graphUpsertRows(len(chunk)), args...); err != nil {
			e := chunk[0]
			return 0, fmt.Errorf("store: graph put %d edges from %s %s:%s → %s: %w", len(chunk), e.Site, e.Kind, e.Value, e.URL, err)
		}
	}
	return seq, nil
}

// graphPutRows is how many edges one INSERT writes: a statement per edge
// made writing a large site's edges take minutes; 8 parameters a row keeps
// 500 rows well under SQLite's and PostgreSQL's parameter limits.
const graphPutRows = 500

// graphUpsertRows is graphUpsert for n rows.
func graphUpsertRows(n int) string {
	head, tail, _ := strings.Cut(graphUpsert, "(?, ?, ?, ?, ?, ?, ?, ?, 0)")
	var b strings.Builder
	b.WriteString(head)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, 0)")
	}
	b.WriteString(tail)
	return b.String()
}

// distinctEdges drops repeats of an edge (site, kind, value, URL and
// origin), keeping the first: one INSERT … ON CONFLICT may not update a
// row twice on PostgreSQL.
func distinctEdges(edges []GraphEdge) []GraphEdge {
	type edgeKey struct{ site, kind, value, url, origin string }
	seen := make(map[edgeKey]bool, len(edges))
	out := make([]GraphEdge, 0, len(edges))
	for _, e := range edges {
		k := edgeKey{e.Site, e.Kind, e.Value, e.URL, e.Origin}
		if !seen[k] {
			seen[k] = true
			out = append(out, e)
		}
	}
	return out
}

// GraphEdgePut is Tx.GraphEdgePut in a durable transaction of its own
// (InTxDurable): a registration is answered once it is on disk.
func (s *Store) GraphEdgePut(ctx context.Context, edges []GraphEdge) (int64, error) {
	var seq int64
	err := s.InTxDurable(ctx, func(tx *Tx) error {
		var err error
		seq, err = tx.GraphEdgePut(ctx, edges)
		return err
	})
	return seq, err
}

// GraphURLSetParams says what one page reports now, for one origin.
type GraphURLSetParams struct {
	Site   string
	URL    string
	Origin string
	Kind   string
	// Values are every key of Kind the page reports; the page's other
	// edges of this kind and origin are marked removed.
	Values []string
}

// GraphURLSet makes Values the page's only keys of one kind from one
// origin: what a page's response headers say replaces what they said
// before. It returns the change number of the write and the edges it
// marked removed.
func (tx *Tx) GraphURLSet(ctx context.Context, p GraphURLSetParams) (int64, []GraphEdge, error) {
	seq, err := tx.graphSeqNext(ctx)
	if err != nil {
		return 0, nil, err
	}
	now := ms(tx.now())
	keep := map[string]bool{}
	for _, v := range p.Values {
		keep[v] = true
	}
	rows, err := tx.q.QueryContext(ctx, `SELECT id, value FROM ph_graph_edge WHERE url = ? AND site = ? AND kind = ? AND origin = ? AND removed = 0`, p.URL, p.Site, p.Kind, p.Origin)
	if err != nil {
		return 0, nil, fmt.Errorf("store: graph edges of %s: %w", p.URL, err)
	}
	var gone []GraphEdge
	for rows.Next() {
		e := GraphEdge{Site: p.Site, Kind: p.Kind, URL: p.URL, Origin: p.Origin, Removed: true, Seq: seq}
		if err := rows.Scan(&e.ID, &e.Value); err != nil {
			rows.Close()
			return 0, nil, fmt.Errorf("store: graph edges of %s: %w", p.URL, err)
		}
		if !keep[e.Value] {
			gone = append(gone, e)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, nil, fmt.Errorf("store: graph edges of %s: %w", p.URL, err)
	}
	for _, e := range gone {
		if _, err := tx.q.ExecContext(ctx, `UPDATE ph_graph_edge SET removed = 1, last_seen = ?, seq = ? WHERE id = ?`, now, seq, e.ID); err != nil {
			return 0, nil, fmt.Errorf("store: graph remove %s:%s → %s: %w", e.Kind, e.Value, e.URL, err)
		}
	}
	for _, v := range p.Values {
		if _, err := tx.q.ExecContext(ctx, graphUpsert, p.Site, p.Kind, v, p.URL, p.Origin, now, now, seq); err != nil {
			return 0, nil, fmt.Errorf("store: graph put %s:%s → %s: %w", p.Kind, v, p.URL, err)
		}
	}
	return seq, gone, nil
}

// GraphURLSet is Tx.GraphURLSet in a transaction of its own.
func (s *Store) GraphURLSet(ctx context.Context, p GraphURLSetParams) (int64, []GraphEdge, error) {
	var seq int64
	var removed []GraphEdge
	err := s.InTx(ctx, func(tx *Tx) error {
		var err error
		seq, removed, err = tx.GraphURLSet(ctx, p)
		return err
	})
	return seq, removed, err
}

// GraphEdgeSince returns up to limit edges changed after the cursor, in
// change order, removed ones included: loading the graph is reading from
// the zero cursor to the end, catching up is reading from where the last
// read stopped.
func (q *queries) GraphEdgeSince(ctx context.Context, after GraphCursor, limit int) ([]GraphEdge, error) {
	// A row value, not "seq > ? OR (seq = ? AND id > ?)": SQLite plans
	// the OR as two index searches whose union it sorts before the LIMIT,
	// so a replica that had fallen behind sorted its whole backlog for
	// every page (16% of all CPU under bench/load at 2,000/s). The row
	// value is one range on the (seq, id) index, read in order, on both
	// drivers.
	rows, err := q.q.QueryContext(ctx, `SELECT id, site, kind, value, url, origin, first_seen, last_seen, seq, removed
		FROM ph_graph_edge WHERE (seq, id) > (?, ?) ORDER BY seq, id LIMIT ?`, after.Seq, after.ID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: graph edges: %w", err)
	}
	return scanGraphEdges(rows)
}

// GraphEdgesOfURL returns every edge, removed ones included, that points
// at a page: what `purgehook why` shows of it.
func (q *queries) GraphEdgesOfURL(ctx context.Context, url string) ([]GraphEdge, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT id, site, kind, value, url, origin, first_seen, last_seen, seq, removed
		FROM ph_graph_edge WHERE url = ? ORDER BY kind, value, origin`, url)
	if err != nil {
		return nil, fmt.Errorf("store: graph edges of %s: %w", url, err)
	}
	return scanGraphEdges(rows)
}

func scanGraphEdges(rows *sql.Rows) ([]GraphEdge, error) {
	defer rows.Close()
	var out []GraphEdge
	for rows.Next() {
		var e GraphEdge
		var first, last sql.NullInt64
		var removed int64
		if err := rows.Scan(&e.ID, &e.Site, &e.Kind, &e.Value, &e.URL, &e.Origin, &first, &last, &e.Seq, &removed); err != nil {
			return nil, fmt.Errorf("store: graph edges: %w", err)
		}
		e.FirstSeen, e.LastSeen, e.Removed = fromMS(first), fromMS(last), removed != 0
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: graph edges: %w", err)
	}
	return out, nil
}

// GraphEdgeRemove marks edges as no longer holding (the same site, kind,
// value, URL and origin; an edge that is not there is skipped) and returns
// how many it marked.
func (tx *Tx) GraphEdgeRemove(ctx context.Context, edges []GraphEdge) (int, error) {
	if len(edges) == 0 {
		return 0, nil
	}
	seq, err := tx.graphSeqNext(ctx)
	if err != nil {
		return 0, err
	}
	now := ms(tx.now())
	n := 0
	for _, e := range edges {
		res, err := tx.q.ExecContext(ctx, `UPDATE ph_graph_edge SET removed = 1, last_seen = ?, seq = ?
			WHERE site = ? AND kind = ? AND value = ? AND url = ? AND origin = ? AND removed = 0`,
			now, seq, e.Site, e.Kind, e.Value, e.URL, e.Origin)
		if err != nil {
			return n, fmt.Errorf("store: graph remove %s:%s → %s: %w", e.Kind, e.Value, e.URL, err)
		}
		k, _ := res.RowsAffected()
		n += int(k)
	}
	return n, nil
}

// GraphEdgeRemove is Tx.GraphEdgeRemove in a durable transaction of its
// own (InTxDurable).
func (s *Store) GraphEdgeRemove(ctx context.Context, edges []GraphEdge) (int, error) {
	var n int
	err := s.InTxDurable(ctx, func(tx *Tx) error {
		var err error
		n, err = tx.GraphEdgeRemove(ctx, edges)
		return err
	})
	return n, err
}

// GraphEdgeLoad reads every edge that holds (removed ones are left out),
// in no particular order, passing each to fn, and returns the cursor to
// catch up from: loading the graph at start is one read rather than pages
// of GraphEdgeSince. The counter and the edges are read in one read-only
// transaction, so the edges are exactly those of every write up to the
// cursor. Only Site, Kind, Value, URL and Origin are set. fn must not use
// the store: on a SQLite store without a read pool it runs while the read
// holds the one connection.
func (s *Store) GraphEdgeLoad(ctx context.Context, fn func(GraphEdge) error) (GraphCursor, error) {
	db := s.db
	if s.read != nil {
		db = s.read
	}
	opts := &sql.TxOptions{ReadOnly: true}
	if s.env.driver == Postgres {
		// One snapshot for both reads.
		opts.Isolation = sql.LevelRepeatableRead
	}
	tx, err := db.BeginTx(ctx, opts)
	if err != nil {
		return GraphCursor{}, fmt.Errorf("store: graph load: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	q := queries{q: s.env.rebound(tx), env: s.env}
	seq, err := q.GraphSeq(ctx)
	if err != nil {
		return GraphCursor{}, err
	}
	rows, err := q.q.QueryContext(ctx, `SELECT site, kind, value, url, origin FROM ph_graph_edge WHERE removed = 0`)
	if err != nil {
		return GraphCursor{}, fmt.Errorf("store: graph load: %w", err)
	}
	defer rows.Close()
	var e GraphEdge
	for rows.Next() {
		if err := rows.Scan(&e.Site, &e.Kind, &e.Value, &e.URL, &e.Origin); err != nil {
			return GraphCursor{}, fmt.Errorf("store: graph load: %w", err)
		}
		if err := fn(e); err != nil {
			return GraphCursor{}, err
		}
	}
	if err := rows.Err(); err != nil {
		return GraphCursor{}, fmt.Errorf("store: graph load: %w", err)
	}
	// After every edge of write seq: the next catch-up reads later writes.
	return GraphCursor{Seq: seq, ID: math.MaxInt64}, nil
}
