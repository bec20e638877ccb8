package pipeline_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/algoreg/algoreg-etl/configs"
	"github.com/algoreg/algoreg-etl/pipeline"
	"github.com/algoreg/algoreg-etl/state"
)

// pagilaSchema is a source shaped like Pagila, the PostgreSQL sample
// database: customers and staff with an address, whose city is in a
// country held by its English name. The view address_country is the SQL
// both jobs' queries share, as the README's "Shared SQL" says to write it.
const pagilaSchema = `
CREATE TABLE country (country_id serial PRIMARY KEY, country text NOT NULL);
CREATE TABLE city (city_id serial PRIMARY KEY, city text NOT NULL, country_id int NOT NULL REFERENCES country);
CREATE TABLE address (address_id serial PRIMARY KEY, address text NOT NULL, city_id int NOT NULL REFERENCES city);
CREATE TABLE customer (
    customer_id serial PRIMARY KEY, first_name text NOT NULL, last_name text NOT NULL,
    address_id int NOT NULL REFERENCES address, activebool boolean NOT NULL DEFAULT true,
    last_update timestamptz NOT NULL);
CREATE INDEX customer_last_update_id ON customer (last_update, customer_id);
CREATE TABLE staff (
    staff_id serial PRIMARY KEY, first_name text NOT NULL, last_name text NOT NULL,
    address_id int NOT NULL REFERENCES address, last_update timestamptz NOT NULL);
CREATE INDEX staff_last_update_id ON staff (last_update, staff_id);

CREATE VIEW address_country AS
    SELECT a.address_id, co.country
    FROM address a JOIN city ci ON ci.city_id = a.city_id JOIN country co ON co.country_id = ci.country_id;
`

// pagilaCustomers and pagilaStaff are the two jobs' queries: each takes the
// country from the shared view, by name, as the source holds it.
const (
	pagilaCustomers = `SELECT c.last_update AS cursor_updated_at, c.customer_id AS cursor_key,
    'CUST-' || c.customer_id AS external_id, 'N' AS account_type,
    c.first_name, c.last_name, NOT c.activebool AS disabled,
    (SELECT ac.country FROM address_country ac WHERE ac.address_id = c.address_id) AS domicile_codes
FROM customer c`
	pagilaStaff = `SELECT s.last_update AS cursor_updated_at, s.staff_id AS cursor_key,
    'STAFF-' || s.staff_id AS external_id, 'N' AS account_type,
    s.first_name, s.last_name,
    (SELECT ac.country FROM address_country ac WHERE ac.address_id = s.address_id) AS domicile_codes
FROM staff s`
)

// pagilaCountries are the 109 names of Pagila's country table, as it holds
// them (the transform package's tests measure them one by one).
var pagilaCountries = []string{
	"Afghanistan", "Algeria", "American Samoa", "Angola", "Anguilla", "Argentina", "Armenia", "Australia", "Austria",
	"Azerbaijan", "Bahrain", "Bangladesh", "Belarus", "Bolivia", "Brazil", "Brunei", "Bulgaria", "Cambodia", "Cameroon",
	"Canada", "Chad", "Chile", "China", "Colombia", "Congo, The Democratic Republic of the", "Czech Republic",
	"Dominican Republic", "Ecuador", "Egypt", "Estonia", "Ethiopia", "Faroe Islands", "Finland", "France",
	"French Guiana", "French Polynesia", "Gambia", "Germany", "Greece", "Greenland", "Holy See (Vatican City State)",
	"Hong Kong", "Hungary", "India", "Indonesia", "Iran", "Iraq", "Israel", "Italy", "Japan", "Kazakstan", "Kenya",
	"Kuwait", "Latvia", "Liechtenstein", "Lithuania", "Madagascar", "Malawi", "Malaysia", "Mexico", "Moldova",
	"Morocco", "Mozambique", "Myanmar", "Nauru", "Nepal", "Netherlands", "New Zealand", "Nigeria", "North Korea",
	"Oman", "Pakistan", "Paraguay", "Peru", "Philippines", "Poland", "Puerto Rico", "Romania", "Runion",
	"Russian Federation", "Saint Vincent and the Grenadines", "Saudi Arabia", "Senegal", "Slovakia", "South Africa",
	"South Korea", "Spain", "Sri Lanka", "Sudan", "Sweden", "Switzerland", "Taiwan", "Tanzania", "Thailand", "Tonga",
	"Tunisia", "Turkey", "Turkmenistan", "Tuvalu", "Ukraine", "United Arab Emirates", "United Kingdom",
	"United States", "Venezuela", "Vietnam", "Virgin Islands, U.S.", "Yemen", "Yugoslavia", "Zambia",
}

// TestPagilaLikeSource: a source that holds countries as English names,
// Pagila's, maps without a table of its own but for the two names that
// need one, which are record errors naming the value until the job's
// countries maps them; two jobs share the address-to-country SQL through a
// view, and each still reads its pages from its own index.
func TestPagilaLikeSource(t *testing.T) {
	f := newFixture(t)
	f.exec(t, pagilaSchema)
	at := time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)
	// Country n (Pagila's country_id) has city n, address n and customer n.
	f.exec(t, `INSERT INTO country (country_id, country) SELECT n, name FROM unnest($1::text[]) WITH ORDINALITY AS u(name, n)`, pagilaCountries)
	f.exec(t, `INSERT INTO city (city_id, city, country_id) SELECT country_id, 'City ' || country_id, country_id FROM country`)
	f.exec(t, `INSERT INTO address (address_id, address, city_id) SELECT city_id, city_id || ' Main Street', city_id FROM city`)
	f.exec(t, `INSERT INTO customer (customer_id, first_name, last_name, address_id, last_update)
		SELECT address_id, 'Given' || address_id, 'Family' || address_id, address_id, $1::timestamptz + address_id * interval '1 second' FROM address`, at)
	f.exec(t, `INSERT INTO staff (first_name, last_name, address_id, last_update) VALUES
		('Mike', 'Hillyer', 38, $1), ('Jon', 'Stephens', 79, $1), ('Ana', 'Ruiz', 106, $1)`, at)

	f.job.CustomersSQL, f.job.AccountTypes = pagilaCustomers, nil
	f.job.ChunkSize, f.job.PageSize = 25, 40
	// A country the pipeline cannot map refuses the row (by default it is
	// left out, with a warning).
	f.job.OnInvalidField["domicile_codes"] = configs.InvalidFieldReject
	res := f.run(t)
	counted(t, res)
	if res.Counts.Sent != 107 || res.Counts.Invalid != 2 {
		t.Fatalf("first run %+v; want 107 sent and 2 invalid", res.Counts)
	}
	errs, err := f.env.State.RecordErrorsOfRun(context.Background(), res.RunID)
	if err != nil {
		t.Fatal(err)
	}
	var messages []string
	for _, e := range errs {
		if e.Severity == state.SeverityWarning {
			continue // no date of birth: Pagila has none
		}
		if e.Stage != state.StageTransform || e.Code != "invalid_country_code" || e.Field != "domicile_codes" {
			t.Errorf("record error %+v; want invalid_country_code on domicile_codes", e)
		}
		messages = append(messages, e.Message)
	}
	slices.Sort(messages)
	if len(messages) != 2 || !strings.HasPrefix(messages[0], `domicile_codes "Kazakstan": `) ||
		!strings.HasPrefix(messages[1], `domicile_codes "Yugoslavia": a former country`) {
		t.Errorf("record errors %q; want Kazakstan and Yugoslavia named", messages)
	}
	for n, want := range map[int]string{79: "RE", 80: "RU", 106: "VI", 41: "VA", 25: "CD", 46: "IR", 92: "TW", 38: "DE",
		26: "CZ", 97: "TR", 16: "BN", 61: "MD"} {
		id := fmt.Sprint("CUST-", n)
		if c, ok := f.api.Customer(id); !ok || !slices.Equal(c.DomicileCodes, []string{want}) {
			t.Errorf("%s (%s): the sandbox holds %v; want [%s]", id, pagilaCountries[n-1], c.DomicileCodes, want)
		}
	}

	// The job's own spellings settle the two: the next run retries them.
	f.job.Countries = map[string]string{"Kazakstan": "KZ", "Yugoslavia": "RS"}
	res = f.run(t)
	counted(t, res)
	if res.Counts.Retried != 2 || res.Counts.Sent != 2 {
		t.Errorf("run with countries %+v; want the 2 retried and sent", res.Counts)
	}
	if c, _ := f.api.Customer("CUST-51"); !slices.Equal(c.DomicileCodes, []string{"KZ"}) {
		t.Errorf("Kazakstan: the sandbox holds %v; want [KZ]", c.DomicileCodes)
	}
	if n := len(f.api.Customers()); n != 109 {
		t.Errorf("the sandbox holds %d customers, want 109", n)
	}

	// A second job reads the staff through the same view.
	staff := configs.DefaultJob("staff")
	staff.CustomersSQL, staff.SafetyLag, staff.Lookback = pagilaStaff, 0, 0
	res, err = pipeline.Run(context.Background(), f.env, &staff, pipeline.Options{})
	if err != nil || res.Counts.Sent != 3 {
		t.Fatalf("staff run: %+v, %v", res, err)
	}
	for id, want := range map[string]string{"STAFF-1": "DE", "STAFF-2": "RE", "STAFF-3": "VI"} {
		if c, _ := f.api.Customer(id); !slices.Equal(c.DomicileCodes, []string{want}) {
			t.Errorf("%s: the sandbox holds %v; want [%s]", id, c.DomicileCodes, want)
		}
	}

	// Through the view, each page is still read from the table's index.
	for _, q := range []struct{ sql, index string }{{pagilaCustomers, "customer_last_update_id"}, {pagilaStaff, "staff_last_update_id"}} {
		tx, err := f.db.Beginx()
		if err != nil {
			t.Fatal(err)
		}
		tx.Exec(`SET LOCAL enable_seqscan = off`)
		tx.Exec(`SET LOCAL enable_sort = off`)
		var plan []string
		err = tx.Select(&plan, `EXPLAIN SELECT * FROM (`+q.sql+`) AS src WHERE (src.cursor_updated_at, src.cursor_key) > ($1, $2)
			AND src.cursor_updated_at <= $3 ORDER BY src.cursor_updated_at, src.cursor_key LIMIT 100`, at, 0, time.Now())
		tx.Rollback()
		if err != nil {
			t.Fatal(err)
		}
		if text := strings.Join(plan, "\n"); !strings.Contains(text, "Index Scan using "+q.index) || strings.Contains(text, "Sort") {
			t.Errorf("the plan does not read %s in order:\n%s", q.index, text)
		}
	}
}
