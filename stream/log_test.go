package stream

import (
	"errors"
	"testing"
)

func TestMemLog(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	l := NewMemLog(8)
	start, err := l.LatestID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if evs, err := l.Since(ctx, start, 10); err != nil || len(evs) != 0 {
		t.Fatalf("empty log: %v, %v", evs, err)
	}
	var te *TruncatedError
	if _, err := l.Since(ctx, 0, 10); !errors.As(err, &te) || te.Oldest != start+1 {
		t.Fatalf("an id from before the log began: %v, want truncated at %d", err, start+1)
	}
	var ids []int64
	for i := range 20 {
		id, err := l.Append(ctx, []byte{byte('a' + i)})
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) > 0 && id != ids[len(ids)-1]+1 {
			t.Fatalf("id %d after %d", id, ids[len(ids)-1])
		}
		ids = append(ids, id)
	}
	if latest, _ := l.LatestID(ctx); latest != ids[19] {
		t.Errorf("LatestID = %d, want %d", latest, ids[19])
	}
	// At most 8 kept; the newest are.
	all, err := l.Since(ctx, ids[19]-8, 0)
	if err != nil || len(all) != 8 || all[7].ID != ids[19] || string(all[7].Data) != "t" {
		t.Fatalf("newest 8: %v, %v", all, err)
	}
	if _, err := l.Since(ctx, ids[0], 0); !errors.As(err, &te) {
		t.Fatalf("dropped history: %v", err)
	}
	page, err := l.Since(ctx, ids[15], 2)
	if err != nil || len(page) != 2 || page[0].ID != ids[16] || page[1].ID != ids[17] {
		t.Fatalf("limit 2 after %d: %v, %v", ids[15], page, err)
	}
	if evs, err := l.Since(ctx, ids[19], 5); err != nil || len(evs) != 0 {
		t.Fatalf("after the newest: %v, %v", evs, err)
	}
}
