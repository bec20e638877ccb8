package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// A Watermark is the source position, (UpdatedAt, Key), up to which every
// row of a job's stream has been settled: sent and accepted, skipped as
// unchanged, or recorded as a record error.
//
// PostgreSQL keeps microseconds: a Watermark is stored truncated to the
// microsecond, which can only make the next run re-read, never skip, a row.
type Watermark struct {
	UpdatedAt time.Time
	Key       string
}

// Watermark returns the watermark of job's stream (e.g. "customers"); ok is
// false when the stream has none yet. UpdatedAt is in UTC.
func (s *Store) Watermark(ctx context.Context, job, stream string) (w Watermark, ok bool, err error) {
	err = s.db.QueryRowContext(ctx, s.q.watermark, job, stream).Scan(&w.UpdatedAt, &w.Key)
	if errors.Is(err, sql.ErrNoRows) {
		return Watermark{}, false, nil
	}
	if err != nil {
		return Watermark{}, false, fmt.Errorf("state: watermark of %s/%s: %w", job, stream, err)
	}
	w.UpdatedAt = w.UpdatedAt.UTC()
	return w, true, nil
}
