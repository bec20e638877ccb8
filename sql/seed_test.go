package sql_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	etlsql "github.com/algoreg/algoreg-etl/sql"
	"github.com/algoreg/algoreg-etl/sql/sqltest"
)

// The rows of seed.sql that the API must not receive, as its header lists.
var invalidRefs = []string{"C-0013", "C-0021", "C-0034", "C-0038", "C-0045"}

func seeded(t *testing.T) *sqltest.DB {
	t.Helper()
	db := sqltest.NewDB(t)
	sqltest.Seed(t, db)
	return db
}

func TestSeedSharesOneUpdatedAt(t *testing.T) {
	db := seeded(t)
	var most struct {
		At time.Time `db:"updated_at"`
		N  int       `db:"n"`
	}
	if err := db.Get(&most, `SELECT updated_at, count(*) AS n FROM clients GROUP BY updated_at ORDER BY n DESC LIMIT 1`); err != nil {
		t.Fatal(err)
	}
	if most.N < 12 {
		t.Errorf("at most %d clients share one updated_at, want at least 12", most.N)
	}
	if want := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC); !most.At.Equal(want) {
		t.Errorf("the shared updated_at is %s, want %s", most.At, want)
	}
}

// TestSeedKeepsExplicitUpdatedAt: the trigger on client_nationalities sets
// updated_at to now(); the seed must restore the values it writes, also for
// clients with no nationality, whose rows the trigger did not touch.
func TestSeedKeepsExplicitUpdatedAt(t *testing.T) {
	db := seeded(t)
	var recent []string
	if err := db.Select(&recent, `SELECT client_ref FROM clients WHERE updated_at > now() - interval '1 day' OR created_at > now() - interval '1 day' ORDER BY 1`); err != nil {
		t.Fatal(err)
	}
	if len(recent) > 0 {
		t.Errorf("clients with a timestamp of the last day (now(), not an explicit value): %v", recent)
	}
	tests := []struct {
		ref  string
		want string // RFC 3339, as written in seed.sql
		why  string
	}{
		{"C-0003", "2025-03-01T09:00:00Z", "two nationalities"},
		{"C-0026", "2025-03-01T09:00:00Z", "no nationality"},
		{"C-0008", "2025-03-01T09:00:00Z", "a company, no nationality"},
		{"C-0037", "2025-03-01T09:00:00.000001Z", "a microsecond after the bulk"},
		{"C-0006", "2024-12-31T23:59:59.999999Z", "microseconds"},
		{"C-0019", "2024-07-15T10:00:00Z", "written with a +02 offset"},
		{"C-0038", "2025-01-02T08:00:00Z", "an invalid nationality"},
	}
	for _, tt := range tests {
		want, err := time.Parse(time.RFC3339Nano, tt.want)
		if err != nil {
			t.Fatal(err)
		}
		var got time.Time
		if err := db.Get(&got, `SELECT updated_at FROM clients WHERE client_ref = $1`, tt.ref); err != nil {
			t.Fatalf("%s: %v", tt.ref, err)
		}
		if !got.Equal(want) {
			t.Errorf("%s (%s): updated_at = %s, want %s", tt.ref, tt.why, got.UTC().Format(time.RFC3339Nano), tt.want)
		}
	}
}

// TestSeedInvalidRows: mapped by customers.sql, exactly the rows listed in
// seed.sql's header hold values the contract refuses.
func TestSeedInvalidRows(t *testing.T) {
	db := seeded(t)
	query, err := etlsql.Example("customers.sql")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	err = db.Select(&got, `
SELECT external_id FROM (`+query+`) q
 WHERE account_type NOT IN ('F', 'N')
    OR date_of_birth > current_date
    OR EXISTS (SELECT 1 FROM unnest(coalesce(nationality_codes, '{}') || coalesce(domicile_codes, '{}')) AS code
                WHERE upper(btrim(code)) !~ '^[A-Z]{2}$' OR upper(btrim(code)) = 'ZZ')
 ORDER BY external_id`)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, invalidRefs) {
		t.Errorf("invalid rows = %v, want %v", got, invalidRefs)
	}
}

func TestSeedAwkwardRows(t *testing.T) {
	db := seeded(t)
	tests := []struct {
		what  string
		query string
		want  string
	}{
		{"clients", `SELECT count(*)::text FROM clients`, "50"},
		{"companies", `SELECT count(*)::text FROM clients WHERE kind = 'company'`, "10"},
		{"closed clients", `SELECT count(*)::text FROM clients WHERE closed_at IS NOT NULL`, "5"},
		{"decomposed é (6 code points)", `SELECT length(given_name)::text FROM clients WHERE client_ref = 'C-0007'`, "6"},
		{"blanks kept", `SELECT given_name || '|' || family_name FROM clients WHERE client_ref = 'C-0006'`, "  Anna  Maria | Keller  "},
		{"clients with two nationalities", `SELECT count(*)::text FROM (SELECT client_id FROM client_nationalities GROUP BY client_id HAVING count(*) = 2) x`, "10"},
		{"persons without nationality", `SELECT string_agg(client_ref, ',' ORDER BY client_ref) FROM clients c WHERE kind = 'person' AND NOT EXISTS (SELECT 1 FROM client_nationalities n WHERE n.client_id = c.id)`, "C-0016,C-0026"},
		{"attributes", `SELECT attributes->>'branch' FROM clients WHERE client_ref = 'C-0001'`, "ZH-01"},
	}
	for _, tt := range tests {
		var got string
		if err := db.Get(&got, tt.query); err != nil {
			t.Fatalf("%s: %v", tt.what, err)
		}
		if got != tt.want {
			t.Errorf("%s = %q, want %q", tt.what, got, tt.want)
		}
	}
	// The header's list and the rows marked INVALID agree.
	seed, err := etlsql.Example("seed.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range invalidRefs {
		if !strings.Contains(seed, "--   "+ref+"  ") {
			t.Errorf("seed.sql's header does not list %s", ref)
		}
	}
}
