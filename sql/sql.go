// Package sql holds the project's SQL, embedded in the binary: the versioned
// migrations of the state schema, and the example source schema, seed data
// and extraction queries that the demo, the tests and the benchmarks use.
package sql

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

//go:embed migrations/*.sql example/*.sql
var files embed.FS

// FS returns the embedded SQL files, rooted at this folder
// (e.g. "example/customers.sql").
func FS() fs.FS { return files }

// Example returns the text of one file of the example source database:
// "schema.sql", "seed.sql" or a query such as "customers.sql".
func Example(name string) (string, error) {
	b, err := files.ReadFile(path.Join("example", name))
	if err != nil {
		return "", fmt.Errorf("example sql: %w", err)
	}
	return string(b), nil
}

// A Migration is one versioned step of the state schema.
type Migration struct {
	Version int    // from the file name's leading number, e.g. 1 for 0001_init.sql
	Name    string // the file name
	SQL     string // statements run with search_path set to the state schema
}

// Migrations returns the state migrations in version order.
func Migrations() ([]Migration, error) {
	entries, err := fs.ReadDir(files, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []Migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %q: name must start with a positive version number and '_'", e.Name())
		}
		b, err := files.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: v, Name: e.Name(), SQL: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i := 1; i < len(ms); i++ {
		if ms[i].Version == ms[i-1].Version {
			return nil, fmt.Errorf("migrations %q and %q share version %d", ms[i-1].Name, ms[i].Name, ms[i].Version)
		}
	}
	return ms, nil
}
