// Package extract reads the rows that changed in a source PostgreSQL
// database, in (updated_at, key) order, by keyset pagination: a window is
// read page by page with LIMIT, never with OFFSET, and never held in memory
// whole. A query with no trustworthy updated_at (Query.ByKey) is read whole
// instead, in key order, by the same keyset pagination.
package extract
