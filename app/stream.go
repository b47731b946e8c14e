package app

import (
	"context"
	"errors"

	"github.com/purgehook/purgehook/store"
	"github.com/purgehook/purgehook/stream"
)

// streamLog serves the stream hub from the store, which knows nothing of
// the hub.
type streamLog struct{ l *store.StreamLog }

var (
	_ stream.Log    = streamLog{}
	_ stream.Latest = streamLog{}
)

func (s streamLog) Append(ctx context.Context, body []byte) (int64, error) {
	return s.l.Append(ctx, body)
}

func (s streamLog) Since(ctx context.Context, afterID int64, limit int) ([]stream.Event, error) {
	evs, err := s.l.Since(ctx, afterID, limit)
	var te *store.StreamTruncatedError
	if errors.As(err, &te) {
		return nil, &stream.TruncatedError{Oldest: te.Oldest}
	}
	if err != nil {
		return nil, err
	}
	out := make([]stream.Event, len(evs))
	for i, e := range evs {
		out[i] = stream.Event{ID: e.ID, Data: e.Body}
	}
	return out, nil
}

func (s streamLog) LatestID(ctx context.Context) (int64, error) { return s.l.LatestID(ctx) }
