package store

import (
	"context"
	"fmt"
	"time"
)

// Audit is one manual action: who asked (a token's name), what, when.
type Audit struct {
	ID     int64     `json:"id"`
	At     time.Time `json:"at"`
	Token  string    `json:"token"`
	Action string    `json:"action"`
	Detail string    `json:"detail,omitempty"`
}

// AuditAdd records a manual action.
func (q *queries) AuditAdd(ctx context.Context, a Audit) error {
	_, err := q.q.ExecContext(ctx, `INSERT INTO ph_audit (at, token, action, detail) VALUES (?, ?, ?, ?)`, ms(q.now()), a.Token, a.Action, a.Detail)
	if err != nil {
		return fmt.Errorf("store: audit: %w", err)
	}
	return nil
}

// AuditList lists the newest manual actions first.
func (q *queries) AuditList(ctx context.Context, limit int) ([]Audit, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT id, at, token, action, detail FROM ph_audit ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("store: audit: %w", err)
	}
	defer rows.Close()
	var out []Audit
	for rows.Next() {
		var a Audit
		var at int64
		if err := rows.Scan(&a.ID, &at, &a.Token, &a.Action, &a.Detail); err != nil {
			return nil, fmt.Errorf("store: audit: %w", err)
		}
		a.At = time.UnixMilli(at)
		out = append(out, a)
	}
	return out, rows.Err()
}
