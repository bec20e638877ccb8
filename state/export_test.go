package state

// SentQuery returns the SQL of [Store.Sent], for tests that EXPLAIN it.
func (s *Store) SentQuery() string { return s.q.sent }

// OpenErrorsQuery returns the SQL of [Store.OpenErrors].
func (s *Store) OpenErrorsQuery() string { return s.q.openErrors }

// AcceptQuery returns the SQL by which [Store.Accept] stores records and
// resolves errors.
func (s *Store) AcceptQuery() string { return s.q.accept }

// LockOpenErrorsQuery returns the SQL by which [Store.RecordFailures]
// reads a chunk's open errors.
func (s *Store) LockOpenErrorsQuery() string { return s.q.lockOpenErrors }

// AcceptedQuery returns the SQL of [Store.Accepted].
func (s *Store) AcceptedQuery() string { return s.q.accepted }
