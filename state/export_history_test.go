package state

// CustomerReportQueries returns the SQL of [Store.CustomerReport], by name,
// for tests that EXPLAIN it. Each takes the external id as $1.
func (s *Store) CustomerReportQueries() map[string]string {
	q := s.audit()
	return map[string]string{
		"sync":      q.customerSync,
		"history":   q.customerHistory,
		"relations": q.customerRelations,
		"errors":    q.customerErrors,
	}
}

// PruneHistoryQuery returns the SQL by which [Store.Prune] deletes a batch
// of a run's history: run id $1, batch size $2.
func (s *Store) PruneHistoryQuery() string { return s.audit().pruneHistory }
