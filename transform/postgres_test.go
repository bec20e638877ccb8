package transform

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/algoreg/algoreg-etl/extract"
	"github.com/algoreg/algoreg-etl/load"
	"github.com/algoreg/algoreg-etl/sql/sqltest"
)

// TestMapFromPostgres maps rows read by extract from a real PostgreSQL, so
// that the new columns are checked with the Go types their SQL types really
// arrive as: text[] with NULL elements, jsonb, date, timestamp text.
func TestMapFromPostgres(t *testing.T) {
	db := sqltest.NewDB(t)
	q := extract.Query{SQL: `
SELECT timestamptz '2025-01-01 00:00:00+00' AS cursor_updated_at,
       1                                     AS cursor_key,
       'C1'                                  AS external_id,
       ' Person '                            AS account_type,
       E'Jose\u0301  Mari\u0301a'            AS first_name,
       E'Lee\u00a0\tSmith'                   AS last_name,
       (timestamp '1980-02-29 13:45:00')::text AS date_of_birth,
       ARRAY['gbr', 'FR', 'GB', NULL]::text[] AS nationality_codes,
       ' +44  20 7946 0000 '                 AS phone,
       ARRAY['Risk; High', NULL, ' Retail ', 'Retail', '']::text[] AS review_groups,
       'ops@example.com;risk@example.com'    AS contacts,
       '[{"first_name": "Jose\u0301", "last_name": "Lee"}, {"company_name": null, "trading_name": " Lee  Co "}]'::jsonb
                                             AS variations`}
	cols, err := extract.Describe(context.Background(), db.DB, q)
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewCustomers(cols, Options{Now: fixedNow, AccountTypes: map[string]string{"person": "N", "company": "F"}})
	if err != nil {
		t.Fatal(err)
	}
	var got []load.Customer
	w := extract.Window{Until: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	err = extract.Read(context.Background(), db.DB, q, w, extract.Options{PageSize: 10}, func(row extract.Row) error {
		c, err := m.Map(row)
		if err != nil {
			return err
		}
		got = append(got, c)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("mapped %d rows, want 1", len(got))
	}
	assertJSON(t, &got[0], `{
		"external_id": "C1", "account_type": "N", "first_name": "José María", "last_name": "Lee Smith",
		"date_of_birth": "1980-02-29", "nationality_codes": ["GB", "FR"], "phone": "+44  20 7946 0000",
		"review_groups": [{"_op": "set", "value": "Risk; High"}, {"_op": "set", "value": "Retail"}],
		"contacts": "ops@example.com;risk@example.com",
		"variations": [{"_op": "set", "first_name": "José", "last_name": "Lee"}, {"_op": "set", "trading_name": "Lee Co"}]
	}`)
	// The customer goes through encoding/json as the client sends it.
	if _, err := json.Marshal(got[0]); err != nil {
		t.Errorf("json.Marshal: %v", err)
	}
}
