package pipeline_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/algoreg/algoreg-etl/load"
	"github.com/algoreg/algoreg-etl/pipeline"
	etlsql "github.com/algoreg/algoreg-etl/sql"
	"github.com/algoreg/algoreg-etl/sql/sqltest"
	"github.com/algoreg/algoreg-etl/state"
)

// withRelations gives the fixture's job the example relations query.
func (f *fixture) withRelations(t *testing.T) {
	t.Helper()
	q, err := etlsql.Example("relations.sql")
	if err != nil {
		t.Fatal(err)
	}
	f.job.RelationsSQL = q
	f.job.RelationTypes = map[string]int64{"director": 1, "shareholder": 2, "ubo": 3}
}

// A company with three owners arrives as one firm, three individuals and
// three relations, each relation after both of its customers; an ended link
// arrives disabled.
func TestRunSendsCompanyOwnersAndRelations(t *testing.T) {
	f := newFixture(t)
	sqltest.Seed(t, f.db)
	f.withRelations(t)
	f.job.ChunkSize, f.job.PageSize = 10, 20
	var mu sync.Mutex
	var order []string // external ids in the order the sandbox accepted calls
	f.api.SetBeforeSave(func(req *load.SaveRequest) {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range req.Customers {
			order = append(order, c.ExternalID)
		}
		for _, r := range req.Relations {
			order = append(order, r.RelationExternalID)
		}
	})
	res, err := pipeline.Run(context.Background(), f.env, f.job, pipeline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	counted(t, res)

	firm, ok := f.api.Customer("C-0008")
	if !ok || firm.AccountType != "F" || firm.CompanyName != "Helvetia Logistik AG" {
		t.Fatalf("C-0008 arrived as %+v", firm)
	}
	rels := f.api.Relations()
	want := map[string]struct {
		child string
		typ   int64
		off   bool
	}{"L-1": {"C-0003", 1, false}, "L-2": {"C-0017", 2, false}, "L-3": {"C-0004", 3, false}, "L-4": {"C-0025", 1, true}}
	for id, w := range want {
		r, ok := rels[id]
		if !ok {
			t.Errorf("relation %s did not arrive", id)
			continue
		}
		if r.ParentCustomerExternalID != "C-0008" || r.ChildCustomerExternalID != w.child || r.RelationType != w.typ || r.Disabled == nil || *r.Disabled != w.off {
			t.Errorf("relation %s arrived as %+v", id, r)
		}
		if c, ok := f.api.Customer(w.child); !ok || c.AccountType != "N" {
			t.Errorf("owner %s arrived as %+v", w.child, c)
		}
	}
	if !strings.Contains(string(rels["L-2"].Fields), `"share_pct"`) {
		t.Errorf("L-2 fields %s lack the share", rels["L-2"].Fields)
	}
	pos := map[string]int{}
	for i, id := range order {
		if _, seen := pos[id]; !seen {
			pos[id] = i
		}
	}
	for id, r := range rels {
		for _, c := range []string{r.ParentCustomerExternalID, r.ChildCustomerExternalID} {
			if pos[c] > pos[id] {
				t.Errorf("relation %s was sent before its customer %s", id, c)
			}
		}
	}
	// The subsidiary's parent, in the same run, came first.
	if sub, ok := f.api.Customer("C-0035"); !ok || sub.ParentExternalID != "C-0027" || pos["C-0027"] > pos["C-0035"] {
		t.Errorf("subsidiary C-0035: %+v, sent at %d, its parent at %d", sub, pos["C-0035"], pos["C-0027"])
	}
}

// A relation to a customer that failed is recorded, and delivered by the
// run after the customer is fixed.
func TestRunRetriesRelationOfFailedCustomer(t *testing.T) {
	f := newFixture(t)
	sqltest.Seed(t, f.db)
	f.withRelations(t)
	// C-0021 is invalid (a trust, none of account_types): link it to
	// Helvetia as a director.
	f.exec(t, `INSERT INTO client_links (company_id, party_id, link_kind, updated_at)
		SELECT co.id, pa.id, 'director', '2025-01-01' FROM clients co, clients pa WHERE co.client_ref = 'C-0008' AND pa.client_ref = 'C-0021'`)
	var link string
	if err := f.db.Get(&link, `SELECT 'L-' || max(id) FROM client_links`); err != nil {
		t.Fatal(err)
	}
	res, err := pipeline.Run(context.Background(), f.env, f.job, pipeline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.api.Relations()[link]; ok {
		t.Fatalf("relation %s to an invalid customer was sent", link)
	}
	errs, _ := f.env.State.RecordErrorsOfRun(context.Background(), res.RunID)
	found := false
	for _, e := range errs {
		if e.ExternalID == link {
			found = e.Code == pipeline.CodeCustomerNotSent && e.Stage == state.StageDependency && strings.Contains(e.Message, "C-0021")
		}
	}
	if !found {
		t.Fatalf("no customer_not_sent error for %s naming C-0021 in %+v", link, errs)
	}

	f.exec(t, `UPDATE clients SET kind = 'company' WHERE client_ref = 'C-0021'`)
	f.run(t)
	if r, ok := f.api.Relations()[link]; !ok || r.ChildCustomerExternalID != "C-0021" {
		t.Errorf("relation %s after the fix: %+v, %v", link, r, ok)
	}
}

// Every field of the contract travels from a source row to the API, and a
// removed review group, contact or name variation is sent as a deletion.
func TestRunSendsEveryFieldAndRemovals(t *testing.T) {
	f := newFixture(t)
	f.exec(t, `INSERT INTO clients (id, client_ref, kind, given_name, middle_names, family_name, legal_name, trading_as, birth_date,
			residence_country, registration_no, phone, notes, risk_tier, kyc_requested, aliases, attributes, updated_at)
		VALUES (1, 'P-1', 'person', ' Jose'||U&'\0301'||'  Maria ', 'de la', 'Pérez', NULL, NULL, '1970-01-31', 'esp', 'R-9', ' +34 600 000 000 ', 'note',
			1, 2, ARRAY['A-1', ' ', 'A-2'], '{"segment":"private"}', '2025-01-01'),
		       (2, 'F-1', 'company', NULL, NULL, NULL, 'Parent AG', NULL, NULL, 'CH', NULL, NULL, NULL, NULL, NULL, NULL, NULL, '2025-01-01'),
		       (3, 'F-2', 'company', NULL, NULL, NULL, 'Child GmbH', 'Kid', NULL, 'DE', 'HRB 1', NULL, NULL, NULL, NULL, NULL, NULL, '2025-01-02')`)
	f.exec(t, `UPDATE clients SET parent_client_id = 2, updated_at = '2025-01-02' WHERE id = 3`)
	f.exec(t, `INSERT INTO client_nationalities VALUES (1, 'es'), (1, 'FRA')`)
	f.exec(t, `INSERT INTO client_review_groups VALUES (1, 'Risk; High'), (1, 'PEP, foreign'), (1, 'Retail')`)
	f.exec(t, `INSERT INTO client_contacts VALUES (1, 'Laura Bianchi')`)
	f.exec(t, `INSERT INTO client_name_variations (client_id, given_name, family_name) VALUES (1, 'Jose', 'Perez'), (1, 'Pepe', 'Pérez')`)

	var mu sync.Mutex
	var sent []load.Customer
	f.api.SetBeforeSave(func(req *load.SaveRequest) {
		mu.Lock()
		sent = append(sent, req.Customers...)
		mu.Unlock()
	})
	f.run(t)
	p, ok := f.api.Customer("P-1")
	if !ok {
		t.Fatal("P-1 did not arrive")
	}
	got, _ := json.Marshal(p)
	want := `{"external_id":"P-1","account_type":"N","first_name":"José Maria","middle_name":"de la","last_name":"Pérez",` +
		`"date_of_birth":"1970-01-31","nationality_codes":["FR","ES"],"domicile_codes":["ES"],"alias_ids":["A-1","A-2"],` +
		`"registration_number":"R-9","phone":"+34 600 000 000","comment":"note","disabled":false,"kyc_level":1,"kyc_level_requested":2,` +
		`"review_groups":[{"_op":"set","value":"PEP, foreign"},{"_op":"set","value":"Retail"},{"_op":"set","value":"Risk; High"}],` +
		`"contacts":[{"_op":"set","value":"Laura Bianchi"}],"fields":{"segment":"private"},` +
		`"variations":[{"_op":"set","first_name":"Jose","last_name":"Perez"},{"_op":"set","first_name":"Pepe","last_name":"Pérez"}]}`
	if string(got) != want {
		t.Errorf("P-1 arrived as\n%s\nwant\n%s", got, want)
	}
	if c, _ := f.api.Customer("F-2"); c.ParentExternalID != "F-1" || c.TradingName != "Kid" || c.RegistrationNumber != "HRB 1" {
		t.Errorf("F-2 arrived as %+v", c)
	}

	// Remove a group, the contact and a variation.
	f.exec(t, `DELETE FROM client_review_groups WHERE group_name = 'Retail'`)
	f.exec(t, `DELETE FROM client_contacts`)
	f.exec(t, `DELETE FROM client_name_variations WHERE given_name = 'Pepe'`)
	sent = nil
	f.run(t)
	if len(sent) != 1 {
		t.Fatalf("sent %d customers after the removals, want P-1 alone", len(sent))
	}
	d, _ := json.Marshal(sent[0])
	for _, part := range []string{`{"_op":"del","value":"Retail"}`, `"contacts":[{"_op":"del","value":"Laura Bianchi"}]`, `{"_op":"del","first_name":"Pepe","last_name":"Pérez"}`} {
		if !strings.Contains(string(d), part) {
			t.Errorf("the removal run sent\n%s\nwithout %s", d, part)
		}
	}
}
