package load

import "time"

// SetBaseBackoff sets the ceiling of s's first wait before a retry, so that
// tests need not wait for real.
func SetBaseBackoff(s *Sender, d time.Duration) { s.baseBackoff = d }
