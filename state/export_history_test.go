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
