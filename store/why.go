package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/purgehook/purgehook/change"
)

// likeJSON is a LIKE pattern matching text that contains the JSON encoding
// of s after prefix (the encoding purgehook stores items and targets in).
func likeJSON(prefix, s string) string {
	b, _ := json.Marshal(s)
	esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + esc.Replace(prefix+string(b)) + "%"
}

// CallFindItem returns the newest calls, up to limit, that carried item
// (a URL, tag, prefix or host), newest first: which purges reached a
// page.
func (q *queries) CallFindItem(ctx context.Context, item string, limit int) ([]CallRow, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT `+callCols+` FROM ph_call WHERE items LIKE ? ESCAPE '\' ORDER BY id DESC LIMIT ?`, likeJSON("", item), limit)
	if err != nil {
		return nil, fmt.Errorf("store: calls with %s: %w", item, err)
	}
	defer rows.Close()
	var out []CallRow
	for rows.Next() {
		c, err := scanCall(rows)
		if err != nil {
			return nil, fmt.Errorf("store: calls with %s: %w", item, err)
		}
		// LIKE is only a filter (SQLite's ignores ASCII case): keep the
		// calls that carry item exactly.
		if slices.Contains(c.Items, item) {
			out = append(out, c)
		}
	}
	return out, rows.Err()
}

// BatchTargetFind returns the newest batch targets, up to limit, of a
// kind and value, with the batch and delivery they belong to.
func (q *queries) BatchTargetFind(ctx context.Context, kind change.TargetKind, value string, limit int) ([]BatchTarget, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT batch, delivery, data FROM ph_batch_target WHERE data LIKE ? ESCAPE '\' ORDER BY id DESC LIMIT ?`,
		likeJSON(`"value":`, value), limit)
	if err != nil {
		return nil, fmt.Errorf("store: batch targets %s %s: %w", kind, value, err)
	}
	defer rows.Close()
	var out []BatchTarget
	for rows.Next() {
		var bt BatchTarget
		var data string
		if err := rows.Scan(&bt.Batch, &bt.Delivery, &data); err != nil {
			return nil, fmt.Errorf("store: batch targets: %w", err)
		}
		if err := json.Unmarshal([]byte(data), &bt.Target); err != nil {
			return nil, fmt.Errorf("store: batch targets: %w", err)
		}
		if bt.Target.Kind == kind && bt.Target.Value == value {
			out = append(out, bt)
		}
	}
	return out, rows.Err()
}

// BatchTarget is a target a batch purged, with the delivery it came from.
type BatchTarget struct {
	Batch    int64
	Delivery int64
	Target   change.Target
}
