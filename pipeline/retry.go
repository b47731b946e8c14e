package pipeline

import (
	"time"

	"github.com/riverqueue/river/rivertype"
)

// SquareBackoff retries a failed job after attempt² seconds (1s, 4s, 9s,
// 16s…): for purge --direct, where someone waits for the outcome and
// River's default (attempt⁴ seconds, for unattended work) would keep them
// waiting for minutes.
type SquareBackoff struct{}

// NextRetry implements river.ClientRetryPolicy.
func (SquareBackoff) NextRetry(job *rivertype.JobRow) time.Time {
	n := time.Duration(max(job.Attempt, 1))
	return time.Now().Add(n * n * time.Second)
}
