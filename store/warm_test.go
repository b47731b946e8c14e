package store

import (
	"testing"
	"time"
)

func TestWarm(t *testing.T) {
	drivers(t, func(t *testing.T, open func(t *testing.T) *Store) {
		s := open(t)
		ctx := t.Context()
		b, err := s.BatchInsert(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		other, _ := s.BatchInsert(ctx, nil)
		urls := []string{"https://a.example/1", "https://a.example/2", "https://a.example/3"}
		if err := s.WarmInsert(ctx, b, urls); err != nil {
			t.Fatal(err)
		}
		must(t, s.WarmInsert(ctx, other, []string{"https://b.example/"}))
		ws, err := s.WarmList(ctx, b, WarmPending, 10)
		if err != nil || len(ws) != 3 || ws[0].URL != urls[0] || ws[0].State != WarmPending || ws[0].Batch != b {
			t.Fatalf("pending %+v %v", ws, err)
		}
		if ws, _ := s.WarmList(ctx, b, WarmPending, 2); len(ws) != 2 {
			t.Errorf("limit 2: %d", len(ws))
		}
		if err := s.WarmRecord(ctx, Warm{ID: ws[0].ID, State: WarmDone, Status: 200, Duration: 120 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		if err := s.WarmRecord(ctx, Warm{ID: ws[1].ID, State: WarmFailed, Status: 503, Error: "status 503"}); err != nil {
			t.Fatal(err)
		}
		for st, want := range map[WarmState][]string{WarmPending: urls[2:], WarmDone: urls[:1], WarmFailed: urls[1:2], "": urls} {
			ws, err := s.WarmList(ctx, b, st, 10)
			if err != nil || len(ws) != len(want) {
				t.Errorf("state %q: %+v %v", st, ws, err)
				continue
			}
			for i := range want {
				if ws[i].URL != want[i] {
					t.Errorf("state %q [%d]: %s, want %s", st, i, ws[i].URL, want[i])
				}
			}
		}
		done, _ := s.WarmList(ctx, b, WarmDone, 1)
		if len(done) != 1 || done[0].Status != 200 || done[0].Duration != 120*time.Millisecond {
			t.Errorf("done %+v", done)
		}
		failed, _ := s.WarmList(ctx, b, WarmFailed, 1)
		if len(failed) != 1 || failed[0].Error != "status 503" {
			t.Errorf("failed %+v", failed)
		}
	})
}
