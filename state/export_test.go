package state

// SentQuery returns the SQL of [Store.Sent], for tests that EXPLAIN it.
func (s *Store) SentQuery() string { return s.q.sent }

// OpenErrorsQuery returns the SQL of [Store.OpenErrors].
func (s *Store) OpenErrorsQuery() string { return s.q.openErrors }

// ResolveAcceptedQuery returns the SQL by which [Store.Accept] resolves
// errors.
func (s *Store) ResolveAcceptedQuery() string { return s.q.resolveAccepted }
