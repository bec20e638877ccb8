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

// TestSeedKeepsExplicitUpdatedAt: the triggers on the clients' child tables,
// and on clients for an UPDATE, set updated_at to now(); the seed must
// restore the values it writes, also for clients with no child rows, whose
// rows the triggers did not touch.
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
		{"C-0004", "2025-01-20T07:30:00Z", "aliases, review groups, contacts, name variations"},
		{"C-0008", "2025-03-01T09:00:00Z", "review groups, contacts, a variation"},
		{"C-0012", "2025-02-14T17:45:12.345678Z", "only kyc_requested set"},
		{"C-0031", "2022-03-01T09:00:00Z", "only a variation"},
		{"C-0035", "2025-03-01T09:00:00Z", "parent_client_id set"},
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
	// account_type is the source's kind, which configs/example.yaml's
	// account_types maps: person to N, company to F. Countries are codes,
	// but for one name the transform's table knows (its tests measure the
	// table).
	var got []string
	err = db.Select(&got, `
SELECT external_id FROM (`+query+`) q
 WHERE account_type NOT IN ('person', 'company')
    OR date_of_birth > current_date
    OR EXISTS (SELECT 1 FROM unnest(coalesce(nationality_codes, '{}') || coalesce(domicile_codes, '{}')) AS code
                WHERE (upper(btrim(code)) !~ '^[A-Z]{2}$' AND code <> 'Czech Republic') OR upper(btrim(code)) = 'ZZ')
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
		{"clients with aliases", `SELECT count(*)::text FROM clients WHERE aliases IS NOT NULL`, "3"},
		{"clients with kyc_requested", `SELECT count(*)::text FROM clients WHERE kyc_requested IS NOT NULL`, "3"},
		{"review group names with ';' and ','", `SELECT string_agg(DISTINCT group_name, '|' ORDER BY group_name) FROM client_review_groups WHERE group_name ~ '[;,]'`, "PEP, foreign|Risk; High"},
		{"clients with review groups", `SELECT count(DISTINCT client_id)::text FROM client_review_groups`, "4"},
		{"clients with contacts", `SELECT count(DISTINCT client_id)::text FROM client_contacts`, "4"},
		{"clients with name variations", `SELECT count(DISTINCT client_id)::text FROM client_name_variations`, "5"},
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

// TestSeedCustomerColumns: customers.sql gives the new contract fields the
// seed's values, in the forms transform expects.
func TestSeedCustomerColumns(t *testing.T) {
	db := seeded(t)
	query, err := etlsql.Example("customers.sql")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ref, expr, want string
	}{
		{"C-0004", "account_type", "person"},
		{"C-0008", "account_type", "company"},
		{"C-0004", "alias_ids::text", `{CY-1999-0042,"OLD-102 334"}`},
		{"C-0003", "coalesce(alias_ids::text, 'NULL')", "NULL"},
		{"C-0004", "kyc_level_requested::text", "4"},
		{"C-0035", "parent_external_id", "C-0027"},
		{"C-0027", "coalesce(parent_external_id, 'NULL')", "NULL"},
		{"C-0004", "review_groups::text", `{"PEP, foreign","Risk; High"}`},
		{"C-0008", "contacts::text", `{"Frei, Marco","Laura Bianchi"}`},
		{"C-0004", "variations::text", `[{"last_name": "Ivanov", "first_name": "Dmitry"}, {"last_name": "Ivanov", "first_name": "Dmitrii"}]`},
		{"C-0008", "variations::text", `[{"company_name": "Helvetia Logistics Ltd", "trading_name": "HeLo Logistics"}]`},
		// None: empty, not NULL, so that the pipeline removes what it sent before.
		{"C-0001", "review_groups::text || contacts::text || variations::text", "{}{}[]"},
	}
	for _, tt := range tests {
		var got string
		if err := db.Get(&got, `SELECT `+tt.expr+` FROM (`+query+`) q WHERE external_id = $1`, tt.ref); err != nil {
			t.Fatalf("%s %s: %v", tt.ref, tt.expr, err)
		}
		if got != tt.want {
			t.Errorf("%s %s = %s, want %s", tt.ref, tt.expr, got, tt.want)
		}
	}
}

// TestSeedRelations: relations.sql maps every link, with the link's own
// explicit updated_at.
func TestSeedRelations(t *testing.T) {
	db := seeded(t)
	query, err := etlsql.Example("relations.sql")
	if err != nil {
		t.Fatal(err)
	}
	type relation struct {
		UpdatedAt time.Time `db:"cursor_updated_at"`
		Key       int64     `db:"cursor_key"`
		ID        string    `db:"relation_external_id"`
		Parent    string    `db:"parent_customer_external_id"`
		Child     string    `db:"child_customer_external_id"`
		Type      string    `db:"relation_type"`
		Disabled  bool      `db:"disabled"`
		Fields    string    `db:"fields"`
	}
	var got []relation
	if err := db.Select(&got, `SELECT * FROM (`+query+`) q ORDER BY cursor_updated_at, cursor_key`); err != nil {
		t.Fatal(err)
	}
	bulk := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	want := []relation{
		{time.Date(2023, 12, 1, 10, 0, 0, 0, time.UTC), 4, "L-4", "C-0008", "C-0025", "director", true, `{"started_on": "2001-01-01"}`},
		{time.Date(2024, 4, 14, 14, 0, 0, 0, time.UTC), 5, "L-5", "C-0035", "C-0027", "shareholder", false, `{"share_pct": 100.00, "started_on": "2014-04-14"}`},
		{bulk, 1, "L-1", "C-0008", "C-0003", "director", false, `{"started_on": "2015-01-05"}`},
		{bulk, 2, "L-2", "C-0008", "C-0017", "shareholder", false, `{"share_pct": 30.00, "started_on": "2018-06-01"}`},
		{bulk, 3, "L-3", "C-0008", "C-0004", "ubo", false, `{"started_on": "2015-01-05"}`},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d relations, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if !g.UpdatedAt.Equal(w.UpdatedAt) {
			t.Errorf("%s: updated_at %s, want %s (explicit in seed.sql)", w.ID, g.UpdatedAt.UTC().Format(time.RFC3339Nano), w.UpdatedAt.Format(time.RFC3339Nano))
		}
		g.UpdatedAt = w.UpdatedAt
		if g != w {
			t.Errorf("relation %d = %+v, want %+v", i, g, w)
		}
	}

	// A link's trigger keeps its updated_at current, and new links number on.
	if _, err := db.Exec(`UPDATE client_links SET ended_on = date '2025-06-30' WHERE id = 2`); err != nil {
		t.Fatal(err)
	}
	var fresh bool
	if err := db.Get(&fresh, `SELECT updated_at > now() - interval '1 minute' FROM client_links WHERE id = 2`); err != nil || !fresh {
		t.Errorf("updated_at of an updated link is not now(): %v, %v", fresh, err)
	}
	var id int64
	if err := db.Get(&id, `INSERT INTO client_links (company_id, party_id, link_kind) SELECT id, id, 'director' FROM clients WHERE client_ref = 'C-0040' RETURNING id`); err != nil || id != 6 {
		t.Errorf("a new link got id %d (%v), want 6", id, err)
	}
}

// TestExampleQueriesUseTheCursorIndex: wrapped as the pipeline reads a
// page, both queries can be served in order by their table's
// (updated_at, id) index. Sequential and bitmap scans and sorts are
// disabled, as on tables this small the planner would rightly prefer them:
// what is tested is that the query leaves the planner the choice, as
// extract's page query needs on a big table.
func TestExampleQueriesUseTheCursorIndex(t *testing.T) {
	db := seeded(t)
	for _, tt := range []struct{ file, index string }{
		{"customers.sql", "clients_updated_at_id"},
		{"relations.sql", "client_links_updated_at_id"},
	} {
		query, err := etlsql.Example(tt.file)
		if err != nil {
			t.Fatal(err)
		}
		tx, err := db.Beginx()
		if err != nil {
			t.Fatal(err)
		}
		for _, set := range []string{"enable_seqscan", "enable_bitmapscan", "enable_sort"} {
			if _, err := tx.Exec(`SET LOCAL ` + set + ` = off`); err != nil {
				t.Fatal(err)
			}
		}
		var plan []string
		err = tx.Select(&plan, `EXPLAIN SELECT * FROM (`+strings.TrimRight(strings.TrimSpace(query), ";")+`
) AS src WHERE (src.cursor_updated_at, src.cursor_key) > ($1, $2) AND src.cursor_updated_at <= $3
ORDER BY src.cursor_updated_at, src.cursor_key LIMIT 100`, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), 0, time.Now())
		tx.Rollback()
		if err != nil {
			t.Fatalf("%s: %v", tt.file, err)
		}
		text := strings.Join(plan, "\n")
		if !strings.Contains(text, "Index Scan using "+tt.index) && !strings.Contains(text, "Index Only Scan using "+tt.index) {
			t.Errorf("%s: the plan does not use %s:\n%s", tt.file, tt.index, text)
		}
		if strings.Contains(text, "Sort") {
			t.Errorf("%s: the plan sorts the rows instead of reading them in index order:\n%s", tt.file, text)
		}
	}
}

// TestDiffQueryIsCustomersWithoutCursor: the example query of a job with
// incremental: diff maps the clients as customers.sql does, without
// cursor_updated_at, so that the two do not drift apart.
func TestDiffQueryIsCustomersWithoutCursor(t *testing.T) {
	body := func(name string) []string {
		text, err := etlsql.Example(name)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, line := range strings.Split(text, "\n") {
			if !strings.HasPrefix(line, "--") && !strings.Contains(line, "AS cursor_updated_at") {
				out = append(out, line)
			}
		}
		return out
	}
	cursor, diff := body("customers.sql"), body("customers_diff.sql")
	if !slices.Equal(cursor, diff) {
		t.Errorf("customers_diff.sql is not customers.sql without cursor_updated_at:\n%s\n---\n%s", strings.Join(diff, "\n"), strings.Join(cursor, "\n"))
	}
	if text, _ := etlsql.Example("customers_diff.sql"); strings.Contains(text, "AS cursor_updated_at") {
		t.Error("customers_diff.sql selects cursor_updated_at")
	}
}
