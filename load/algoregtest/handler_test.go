package algoregtest_test

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/algoreg/algoreg-etl/load"
	"github.com/algoreg/algoreg-etl/load/algoregtest"
)

const token = "sandbox-token"

// answer is what a test reads back from one call.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// call posts body to h the way a correct client does, with the changes
// made by edit (if not nil).
func call(t *testing.T, h http.Handler, body string, edit func(*http.Request)) answer {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, load.SavePath, strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+token)
	r.Header.Set("Content-Type", "application/json")
	if edit != nil {
		edit(r)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return answer{status: w.Code, header: w.Header(), body: w.Body.Bytes()}
}

// save posts body and requires a 200 answer, which it decodes.
func save(t *testing.T, h http.Handler, body string) load.SaveResponse {
	t.Helper()
	a := call(t, h, body, nil)
	if a.status != http.StatusOK {
		t.Fatalf("status %d, want 200; body %s", a.status, a.body)
	}
	var resp load.SaveResponse
	if err := json.Unmarshal(a.body, &resp); err != nil {
		t.Fatalf("decoding answer %s: %v", a.body, err)
	}
	return resp
}

// errorItems decodes an error answer and checks it holds a deprecated item
// and a current one, and that the current one is not listed first.
func errorItems(t *testing.T, a answer) []load.ErrorItem {
	t.Helper()
	var eb load.ErrorBody
	if err := json.Unmarshal(a.body, &eb); err != nil {
		t.Fatalf("decoding error body %s: %v", a.body, err)
	}
	var deprecated, current int
	for _, it := range eb.Errors {
		if it.Deprecated {
			deprecated++
		} else if !it.WillBeDeprecated {
			current++
		}
	}
	if deprecated == 0 || current == 0 || len(eb.Errors) == 0 || !eb.Errors[0].Deprecated {
		t.Errorf("errors %+v: want a deprecated item first and a current item", eb.Errors)
	}
	return eb.Errors
}

// current returns the message of the first item that is not deprecated.
func current(items []load.ErrorItem) string {
	for _, it := range items {
		if !it.Deprecated && !it.WillBeDeprecated {
			return it.Code + ": " + it.Message
		}
	}
	return ""
}

func TestRouting(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(*http.Request)
		status int
	}{
		{"ok", nil, http.StatusOK},
		{"other path", func(r *http.Request) { r.URL.Path = "/api/v1/customers" }, http.StatusNotFound},
		{"trailing slash", func(r *http.Request) { r.URL.Path = load.SavePath + "/" }, http.StatusNotFound},
		{"GET", func(r *http.Request) { r.Method = http.MethodGet }, http.StatusMethodNotAllowed},
		{"PUT", func(r *http.Request) { r.Method = http.MethodPut }, http.StatusMethodNotAllowed},
		{"no token", func(r *http.Request) { r.Header.Del("Authorization") }, http.StatusUnauthorized},
		{"wrong token", func(r *http.Request) { r.Header.Set("Authorization", "Bearer nope") }, http.StatusUnauthorized},
		{"token prefix", func(r *http.Request) { r.Header.Set("Authorization", "Bearer sandbox") }, http.StatusUnauthorized},
		{"basic scheme", func(r *http.Request) { r.Header.Set("Authorization", "Basic "+token) }, http.StatusUnauthorized},
		{"lower-case scheme", func(r *http.Request) { r.Header.Set("Authorization", "bearer "+token) }, http.StatusOK},
		{"no content type", func(r *http.Request) { r.Header.Del("Content-Type") }, http.StatusUnsupportedMediaType},
		{"text content type", func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") }, http.StatusUnsupportedMediaType},
		{"json with charset", func(r *http.Request) { r.Header.Set("Content-Type", "application/json; charset=utf-8") }, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := algoregtest.NewHandler(token)
			a := call(t, h, `{"customers":[{"external_id":"C1"}]}`, tt.edit)
			if a.status != tt.status {
				t.Fatalf("status %d, want %d; body %s", a.status, tt.status, a.body)
			}
			if got := h.Requests(); got != 1 {
				t.Errorf("Requests() = %d, want 1", got)
			}
			if tt.status == http.StatusOK {
				return
			}
			errorItems(t, a)
			if len(h.Customers()) != 0 || h.Received() != 0 {
				t.Errorf("a refused call stored %d customers, Received %d", len(h.Customers()), h.Received())
			}
			if tt.status == http.StatusMethodNotAllowed && a.header.Get("Allow") != http.MethodPost {
				t.Errorf("Allow = %q, want POST", a.header.Get("Allow"))
			}
		})
	}
}

func TestEmptyTokenAcceptsNothing(t *testing.T) {
	h := algoregtest.NewHandler("")
	a := call(t, h, `{"customers":[{"external_id":"C1"}]}`, func(r *http.Request) { r.Header.Set("Authorization", "Bearer ") })
	if a.status != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401", a.status)
	}
}

func TestBadBody(t *testing.T) {
	tests := []struct {
		name, body, want string // want: in the current item's message
	}{
		{"empty", ``, "empty"},
		{"white space", " \n", "empty"},
		{"malformed", `{"customers":[{"external_id":"C1"}`, "invalid body"},
		{"not an object", `[{"external_id":"C1"}]`, "invalid body"},
		{"null", `null`, "not a JSON object"},
		{"trailing data", `{"customers":[{"external_id":"C1"}]} {}`, "after the JSON object"},
		{"wrong type", `{"customers":[{"external_id":"C1","kyc_level":"2"}]}`, "kyc_level"},
		{"fraction", `{"customers":[{"external_id":"C1","kyc_level":1.5}]}`, "kyc_level"},
		{"bool as string", `{"customers":[{"external_id":"C1"}],"verify_input":"true"}`, "verify_input"},
		{"customers not an array", `{"customers":{"external_id":"C1"}}`, "invalid body"},
		{"unknown field", `{"customers":[{"external_id":"C1","nickname":"x"}]}`, `unknown field "nickname"`},
		{"unknown top field", `{"customers":[{"external_id":"C1"}],"dry_run":true}`, `unknown field "dry_run"`},
		{"unknown variation field", `{"customers":[{"external_id":"C1","variations":[{"_op":"set","alias":"x"}]}]}`, `unknown field "alias"`},
		{"unknown relation field", `{"relations":[{"relation_external_id":"R","parent_customer_external_id":"A","child_customer_external_id":"B","relation_type":1,"kind":2}]}`, `unknown field "kind"`},
		{"other letter case", `{"customers":[{"External_ID":"C1"}]}`, `unknown field "External_ID"`},
		{"other letter case at top", `{"Customers":[{"external_id":"C1"}]}`, `unknown field "Customers"`},
		{"null customers", `{"customers":null,"relations":[]}`, "customers is null"},
		{"no records", `{"disable_risk_scan":true}`, "no customers and no relations"},
		{"empty lists", `{"customers":[],"relations":[]}`, "no customers and no relations"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := algoregtest.NewHandler(token)
			a := call(t, h, tt.body, nil)
			if a.status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400; body %s", a.status, a.body)
			}
			if msg := current(errorItems(t, a)); !strings.Contains(msg, tt.want) {
				t.Errorf("current error %q does not mention %q", msg, tt.want)
			}
			if h.Received() != 0 || len(h.RiskScanFlags()) != 0 {
				t.Errorf("a 400 call counted as accepted")
			}
		})
	}
}

func TestBodyTooLarge(t *testing.T) {
	h := algoregtest.NewHandler(token)
	body := `{"customers":[{"external_id":"C1","comment":"` + strings.Repeat("x", 33<<20) + `"}]}`
	if a := call(t, h, body, nil); a.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", a.status)
	}
}

// stored is the customer every TestCustomerRules case finds in the store.
const stored = `{"customers":[{"external_id":"P1","account_type":"F","company_name":"Parent Ltd"}]}`

func TestCustomerRules(t *testing.T) {
	tests := []struct {
		name     string
		customer string // one customer object, with external_id "C1" unless the case is about it
		code     string // the error expected for it; "" if it must pass
		mention  string // in that error's detail
	}{
		{"minimal", `{"external_id":"C1"}`, "", ""},
		{"full", `{"external_id":"C1","account_type":"N","first_name":"Ada","middle_name":"M","last_name":"Lovelace",
			"date_of_birth":"1815-12-10","nationality_codes":["GB","FR"],"domicile_codes":["GB"],"alias_ids":["a1"],
			"registration_number":"R1","phone":"+44 1","comment":"c","disabled":false,"kyc_level":0,"kyc_level_requested":2,
			"parent_external_id":"P1","review_groups":"A;B,C","contacts":["x@example.com",{"op":"set"}],"fields":{"k":1},
			"variations":[{"_op":"set","first_name":"Augusta"},{"_op":"del","last_name":"Byron"}]}`, "", ""},
		{"firm", `{"external_id":"C1","account_type":"F","company_name":"Acme"}`, "", ""},
		{"leap day", `{"external_id":"C1","date_of_birth":"2000-02-29"}`, "", ""},
		{"empty list", `{"external_id":"C1","nationality_codes":[]}`, "", ""},
		{"review groups array", `{"external_id":"C1","review_groups":["A;B"]}`, "", ""},

		{"no external_id", `{"first_name":"Ada"}`, algoregtest.CodeMissingField, "external_id"},
		{"null record", `null`, algoregtest.CodeMissingField, "external_id"},
		{"empty external_id", `{"external_id":""}`, algoregtest.CodeEmptyValue, "external_id"},
		{"blank external_id", `{"external_id":"  "}`, algoregtest.CodeEmptyValue, "external_id"},
		{"escaped blank", `{"external_id":"C1","phone":"\u0020\t"}`, algoregtest.CodeEmptyValue, "phone"},
		{"empty first_name", `{"external_id":"C1","first_name":""}`, algoregtest.CodeEmptyValue, "first_name"},
		{"null last_name", `{"external_id":"C1","last_name":null}`, algoregtest.CodeNullValue, "last_name"},
		{"null disabled", `{"external_id":"C1","disabled":null}`, algoregtest.CodeNullValue, "disabled"},
		{"null fields", `{"external_id":"C1","fields":null}`, algoregtest.CodeNullValue, "fields"},
		{"account type", `{"external_id":"C1","account_type":"P"}`, algoregtest.CodeInvalidValue, `account_type "P"`},
		{"account type lower", `{"external_id":"C1","account_type":"n"}`, algoregtest.CodeInvalidValue, `account_type "n"`},
		{"date format", `{"external_id":"C1","date_of_birth":"10/12/1815"}`, algoregtest.CodeInvalidValue, `date_of_birth "10/12/1815"`},
		{"date with time", `{"external_id":"C1","date_of_birth":"1815-12-10T00:00:00Z"}`, algoregtest.CodeInvalidValue, "date_of_birth"},
		{"date short", `{"external_id":"C1","date_of_birth":"1815-1-1"}`, algoregtest.CodeInvalidValue, "date_of_birth"},
		{"date not real", `{"external_id":"C1","date_of_birth":"2001-02-29"}`, algoregtest.CodeInvalidValue, `"2001-02-29"`},
		{"nationality lower", `{"external_id":"C1","nationality_codes":["GB","fr"]}`, algoregtest.CodeInvalidValue, `nationality_codes[1] "fr"`},
		{"nationality alpha-3", `{"external_id":"C1","nationality_codes":["GBR"]}`, algoregtest.CodeInvalidValue, `"GBR"`},
		{"nationality empty", `{"external_id":"C1","nationality_codes":[""]}`, algoregtest.CodeInvalidValue, "nationality_codes[0]"},
		{"domicile", `{"external_id":"C1","domicile_codes":["U1"]}`, algoregtest.CodeInvalidValue, `domicile_codes[0] "U1"`},
		{"alias empty", `{"external_id":"C1","alias_ids":["a",""]}`, algoregtest.CodeEmptyValue, "alias_ids[1]"},
		{"fields array", `{"external_id":"C1","fields":[1]}`, algoregtest.CodeInvalidValue, "fields"},
		{"fields string", `{"external_id":"C1","fields":"{}"}`, algoregtest.CodeInvalidValue, "fields"},
		{"variation op", `{"external_id":"C1","variations":[{"_op":"add","first_name":"A"}]}`, algoregtest.CodeInvalidValue, `variations[0]._op "add"`},
		{"variation no op", `{"external_id":"C1","variations":[{"first_name":"A"}]}`, algoregtest.CodeInvalidValue, "_op"},
		{"variation no name", `{"external_id":"C1","variations":[{"_op":"set"}]}`, algoregtest.CodeInvalidValue, "variations[0] names nothing"},
		{"variation empty name", `{"external_id":"C1","variations":[{"_op":"set","first_name":"A","last_name":""}]}`, algoregtest.CodeEmptyValue, "variations[0].last_name"},
		{"review groups number", `{"external_id":"C1","review_groups":3}`, algoregtest.CodeInvalidValue, "review_groups"},
		{"review groups empty part", `{"external_id":"C1","review_groups":"A;;B"}`, algoregtest.CodeInvalidValue, `review_groups "A;;B"`},
		{"review groups trailing comma", `{"external_id":"C1","review_groups":"A,"}`, algoregtest.CodeInvalidValue, "review_groups"},
		{"review groups empty item", `{"external_id":"C1","review_groups":["A",""]}`, algoregtest.CodeEmptyValue, "review_groups[1]"},
		{"contacts number item", `{"external_id":"C1","contacts":["a",1]}`, algoregtest.CodeInvalidValue, "contacts[1]"},
		{"contacts object", `{"external_id":"C1","contacts":{"a":1}}`, algoregtest.CodeInvalidValue, "contacts"},
		{"unknown parent", `{"external_id":"C1","parent_external_id":"P9"}`, algoregtest.CodeUnknownCustomer, `parent_external_id "P9"`},
		{"own parent", `{"external_id":"C1","parent_external_id":"C1"}`, algoregtest.CodeInvalidValue, "itself"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := algoregtest.NewHandler(token)
			save(t, h, stored)
			resp := save(t, h, `{"customers":[`+tt.customer+`]}`)

			var errs []load.Problem
			for _, d := range resp.Detail {
				errs = append(errs, d.Errors...)
			}
			if tt.code == "" {
				if len(errs) > 0 || resp.Status != algoregtest.StatusOK {
					t.Fatalf("status %q, errors %+v; want it accepted", resp.Status, errs)
				}
				if _, ok := h.Customer("C1"); !ok {
					t.Fatalf("C1 was not stored")
				}
				return
			}
			if resp.Status != algoregtest.StatusPartial {
				t.Errorf("status %q, want %q", resp.Status, algoregtest.StatusPartial)
			}
			found := slices.ContainsFunc(errs, func(p load.Problem) bool {
				return p.Error == tt.code && strings.Contains(p.Detail, tt.mention)
			})
			if !found {
				t.Errorf("errors %+v: want %s mentioning %q", errs, tt.code, tt.mention)
			}
			if n := len(h.Customers()); n != 1 {
				t.Errorf("%d customers stored, want only P1", n)
			}
			if len(resp.Added) != 0 {
				t.Errorf("added %+v for a rejected customer", resp.Added)
			}
		})
	}
}

func TestDetailKeysAndPartialStore(t *testing.T) {
	h := algoregtest.NewHandler(token)
	resp := save(t, h, `{"customers":[
		{"external_id":"A","account_type":"F"},
		{"external_id":"B","account_type":"X","date_of_birth":"1999-13-01"},
		{"external_id":"C"}]}`)
	if resp.Status != algoregtest.StatusPartial {
		t.Errorf("status %q, want partial", resp.Status)
	}
	if len(resp.Detail) != 1 || resp.Detail[0].ExternalID != "B" || len(resp.Detail[0].Errors) != 2 {
		t.Fatalf("detail %+v: want one entry for B with two errors", resp.Detail)
	}
	got := slices.Sorted(maps.Keys(h.Customers()))
	if !slices.Equal(got, []string{"A", "C"}) {
		t.Errorf("stored %v, want [A C]", got)
	}
}

func TestDuplicateInOneCall(t *testing.T) {
	h := algoregtest.NewHandler(token)
	resp := save(t, h, `{"customers":[
		{"external_id":"A","first_name":"First"},
		{"external_id":"A","first_name":"Second"}]}`)
	if len(resp.Detail) != 1 || len(resp.Detail[0].Errors) != 1 || resp.Detail[0].Errors[0].Error != algoregtest.CodeDuplicate {
		t.Fatalf("detail %+v: want one duplicate error", resp.Detail)
	}
	if c, _ := h.Customer("A"); c.FirstName != "First" {
		t.Errorf("stored first_name %q, want the first record's", c.FirstName)
	}
	if len(resp.Added) != 1 {
		t.Errorf("added %+v, want A once", resp.Added)
	}
}

func TestParentInSameCall(t *testing.T) {
	tests := []struct {
		name, body string
		ok         bool
	}{
		{"parent first", `{"customers":[{"external_id":"P"},{"external_id":"C","parent_external_id":"P"}]}`, true},
		{"child first", `{"customers":[{"external_id":"C","parent_external_id":"P"},{"external_id":"P"}]}`, false},
		{"parent rejected", `{"customers":[{"external_id":"P","account_type":"?"},{"external_id":"C","parent_external_id":"P"}]}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := algoregtest.NewHandler(token)
			save(t, h, tt.body)
			if _, ok := h.Customer("C"); ok != tt.ok {
				t.Errorf("child stored = %v, want %v", ok, tt.ok)
			}
		})
	}
}

func TestRelations(t *testing.T) {
	const customers = `{"external_id":"A"},{"external_id":"B"}`
	tests := []struct {
		name     string
		body     string // whole request
		code     string // expected error of relation R; "" if it must pass
		mention  string
		relation load.Relation // stored, when code is ""
	}{
		{"ok", `{"customers":[` + customers + `],"relations":[{"relation_external_id":"R","parent_customer_external_id":"A","child_customer_external_id":"B","relation_type":3,"disabled":true,"fields":{"share":0.5}}]}`,
			"", "", load.Relation{RelationExternalID: "R", ParentCustomerExternalID: "A", ChildCustomerExternalID: "B", RelationType: 3, Disabled: ptr(true), Fields: json.RawMessage(`{"share":0.5}`)}},
		{"customers stored earlier", `{"relations":[{"relation_external_id":"R","parent_customer_external_id":"S1","child_customer_external_id":"S2","relation_type":1}]}`,
			"", "", load.Relation{RelationExternalID: "R", ParentCustomerExternalID: "S1", ChildCustomerExternalID: "S2", RelationType: 1}},
		{"unknown child", `{"customers":[` + customers + `],"relations":[{"relation_external_id":"R","parent_customer_external_id":"A","child_customer_external_id":"Z","relation_type":1}]}`,
			algoregtest.CodeUnknownCustomer, `child_customer_external_id "Z"`, load.Relation{}},
		{"unknown parent", `{"relations":[{"relation_external_id":"R","parent_customer_external_id":"Z","child_customer_external_id":"S1","relation_type":1}]}`,
			algoregtest.CodeUnknownCustomer, `parent_customer_external_id "Z"`, load.Relation{}},
		{"rejected customer", `{"customers":[{"external_id":"A","account_type":"?"},{"external_id":"B"}],"relations":[{"relation_external_id":"R","parent_customer_external_id":"A","child_customer_external_id":"B","relation_type":1}]}`,
			algoregtest.CodeUnknownCustomer, `"A"`, load.Relation{}},
		{"no relation id", `{"customers":[` + customers + `],"relations":[{"parent_customer_external_id":"A","child_customer_external_id":"B","relation_type":1}]}`,
			algoregtest.CodeMissingField, "relation_external_id", load.Relation{}},
		{"no child", `{"customers":[` + customers + `],"relations":[{"relation_external_id":"R","parent_customer_external_id":"A","relation_type":1}]}`,
			algoregtest.CodeMissingField, "child_customer_external_id", load.Relation{}},
		{"no type", `{"customers":[` + customers + `],"relations":[{"relation_external_id":"R","parent_customer_external_id":"A","child_customer_external_id":"B"}]}`,
			algoregtest.CodeMissingField, "relation_type", load.Relation{}},
		{"zero type", `{"customers":[` + customers + `],"relations":[{"relation_external_id":"R","parent_customer_external_id":"A","child_customer_external_id":"B","relation_type":0}]}`,
			algoregtest.CodeInvalidValue, "relation_type 0", load.Relation{}},
		{"empty parent", `{"customers":[` + customers + `],"relations":[{"relation_external_id":"R","parent_customer_external_id":"","child_customer_external_id":"B","relation_type":1}]}`,
			algoregtest.CodeEmptyValue, "parent_customer_external_id", load.Relation{}},
		{"self", `{"customers":[` + customers + `],"relations":[{"relation_external_id":"R","parent_customer_external_id":"A","child_customer_external_id":"A","relation_type":1}]}`,
			algoregtest.CodeInvalidValue, "same customer", load.Relation{}},
		{"fields not object", `{"customers":[` + customers + `],"relations":[{"relation_external_id":"R","parent_customer_external_id":"A","child_customer_external_id":"B","relation_type":1,"fields":"x"}]}`,
			algoregtest.CodeInvalidValue, "fields", load.Relation{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := algoregtest.NewHandler(token)
			save(t, h, `{"customers":[{"external_id":"S1"},{"external_id":"S2"}]}`)
			resp := save(t, h, tt.body)
			var errs []load.Problem
			for _, d := range resp.Detail {
				if d.ExternalID == "R" || tt.code == algoregtest.CodeMissingField {
					errs = append(errs, d.Errors...)
				}
			}
			rel, stored := h.Relations()["R"]
			if tt.code == "" {
				if len(errs) > 0 || !stored {
					t.Fatalf("errors %+v, stored %v; want it stored", errs, stored)
				}
				if !equalJSON(t, rel, tt.relation) {
					t.Errorf("stored %+v, want %+v", rel, tt.relation)
				}
				return
			}
			if stored || len(h.Relations()) != 0 {
				t.Errorf("relations %+v stored; want none", h.Relations())
			}
			if !slices.ContainsFunc(errs, func(p load.Problem) bool { return p.Error == tt.code && strings.Contains(p.Detail, tt.mention) }) {
				t.Errorf("errors %+v: want %s mentioning %q", errs, tt.code, tt.mention)
			}
		})
	}
}

func TestRelationUpsert(t *testing.T) {
	h := algoregtest.NewHandler(token)
	save(t, h, `{"customers":[{"external_id":"A"},{"external_id":"B"},{"external_id":"C"}],
		"relations":[{"relation_external_id":"R","parent_customer_external_id":"A","child_customer_external_id":"B","relation_type":1,"fields":{"k":1}}]}`)
	save(t, h, `{"relations":[{"relation_external_id":"R","parent_customer_external_id":"A","child_customer_external_id":"C","relation_type":2}]}`)
	want := load.Relation{RelationExternalID: "R", ParentCustomerExternalID: "A", ChildCustomerExternalID: "C", RelationType: 2, Fields: json.RawMessage(`{"k":1}`)}
	rels := h.Relations()
	if len(rels) != 1 || !equalJSON(t, rels["R"], want) {
		t.Errorf("relations %+v, want only %+v", rels, want)
	}
}

func TestMissingDateOfBirthWarning(t *testing.T) {
	h := algoregtest.NewHandler(token)
	resp := save(t, h, `{"customers":[
		{"external_id":"N1","account_type":"N"},
		{"external_id":"N2","account_type":"N","date_of_birth":"1990-01-01"},
		{"external_id":"F1","account_type":"F"}]}`)
	if resp.Status != algoregtest.StatusOK {
		t.Errorf("status %q, want ok: a warning does not fail a record", resp.Status)
	}
	if len(resp.Detail) != 1 || resp.Detail[0].ExternalID != "N1" || len(resp.Detail[0].Errors) != 0 ||
		len(resp.Detail[0].Warnings) != 1 || resp.Detail[0].Warnings[0].Error != algoregtest.WarnMissingDateOfBirth {
		t.Fatalf("detail %+v: want one warning for N1", resp.Detail)
	}
	if len(h.Customers()) != 3 {
		t.Errorf("stored %d customers, want 3", len(h.Customers()))
	}
	// The check applies to the customer after the update: N2 keeps its date.
	resp = save(t, h, `{"customers":[{"external_id":"N2","phone":"1"},{"external_id":"F1","account_type":"N"}]}`)
	if len(resp.Detail) != 1 || resp.Detail[0].ExternalID != "F1" {
		t.Errorf("detail %+v: want a warning for F1 only", resp.Detail)
	}
}

func TestVerifyInput(t *testing.T) {
	h := algoregtest.NewHandler(token)
	save(t, h, `{"customers":[{"external_id":"OLD","first_name":"Old"}]}`)
	before := h.Customers()

	resp := save(t, h, `{"verify_input":true,"customers":[
		{"external_id":"OLD","first_name":"Changed"},
		{"external_id":"NEW"},
		{"external_id":"BAD","date_of_birth":"x"},
		{"external_id":"KID","parent_external_id":"NEW"}],
		"relations":[{"relation_external_id":"R","parent_customer_external_id":"NEW","child_customer_external_id":"OLD","relation_type":1}]}`)
	if !resp.VerifyInput {
		t.Errorf("verify_input not echoed")
	}
	if resp.Status != algoregtest.StatusPartial || len(resp.Detail) != 1 || resp.Detail[0].ExternalID != "BAD" {
		t.Errorf("status %q detail %+v: want partial with BAD only", resp.Status, resp.Detail)
	}
	var added []string
	for _, a := range resp.Added {
		added = append(added, a.ExternalID)
		if a.CustomerID != "0" {
			t.Errorf("verify gave out customer_id %q", a.CustomerID)
		}
	}
	if !slices.Equal(added, []string{"NEW", "KID"}) {
		t.Errorf("added %v, want [NEW KID]", added)
	}
	if !equalJSON(t, h.Customers(), before) || len(h.Relations()) != 0 {
		t.Errorf("verify_input changed the store: %+v %+v", h.Customers(), h.Relations())
	}

	// The ids given out afterwards do not skip any.
	resp = save(t, h, `{"verify_input":false,"customers":[{"external_id":"NEW"}]}`)
	if resp.VerifyInput || len(resp.Added) != 1 || resp.Added[0].CustomerID != "2" {
		t.Errorf("answer %+v: want NEW added with customer_id 2", resp)
	}
}

func TestAddedOnlyNew(t *testing.T) {
	h := algoregtest.NewHandler(token)
	resp := save(t, h, `{"customers":[{"external_id":"A"},{"external_id":"B"}]}`)
	want := []load.Added{{CustomerID: "1", ExternalID: "A"}, {CustomerID: "2", ExternalID: "B"}}
	if !slices.Equal(resp.Added, want) {
		t.Errorf("added %+v, want %+v", resp.Added, want)
	}
	resp = save(t, h, `{"customers":[{"external_id":"B","phone":"1"},{"external_id":"C"},{"external_id":"A"}]}`)
	want = []load.Added{{CustomerID: "3", ExternalID: "C"}}
	if !slices.Equal(resp.Added, want) {
		t.Errorf("added %+v, want %+v", resp.Added, want)
	}
	if id, ok := h.CustomerID("B"); !ok || id != 2 {
		t.Errorf("CustomerID(B) = %d, %v; want 2", id, ok)
	}
	// The wire form of customer_id is a JSON number.
	a := call(t, h, `{"customers":[{"external_id":"D"}]}`, nil)
	if !strings.Contains(string(a.body), `"customer_id":4`) {
		t.Errorf("answer %s: want customer_id as the number 4", a.body)
	}
}

func TestUpsertLeavesOmittedAlone(t *testing.T) {
	h := algoregtest.NewHandler(token)
	save(t, h, `{"customers":[{"external_id":"A","account_type":"N","first_name":"Ada","last_name":"Byron",
		"date_of_birth":"1815-12-10","nationality_codes":["GB"],"disabled":true,"kyc_level":2,"fields":{"a":1,"b":2},
		"review_groups":"X;Y"}]}`)
	save(t, h, `{"customers":[{"external_id":"A","last_name":"Lovelace","nationality_codes":[],"disabled":false,
		"kyc_level":0,"fields":{"b":3}}]}`)
	got, _ := h.Customer("A")
	want := load.Customer{
		ExternalID: "A", AccountType: "N", FirstName: "Ada", LastName: "Lovelace", DateOfBirth: "1815-12-10",
		NationalityCodes: []string{}, Disabled: ptr(false), KYCLevel: ptr[int64](0),
		Fields: json.RawMessage(`{"b":3}`), ReviewGroups: json.RawMessage(`"X;Y"`),
	}
	if !equalJSON(t, got, want) {
		t.Errorf("stored\n%+v\nwant\n%+v", got, want)
	}
}

func TestCountersAndRiskScanFlags(t *testing.T) {
	h := algoregtest.NewHandler(token)
	save(t, h, `{"disable_risk_scan":true,"customers":[{"external_id":"A"},{"external_id":"A"}]}`)
	call(t, h, `{"customers":[{"external_id":"B"}],"oops":1}`, nil)           // 400
	call(t, h, `{}`, func(r *http.Request) { r.Header.Del("Authorization") }) // 401
	save(t, h, `{"disable_risk_scan":false,"customers":[{"external_id":"A","account_type":"?"}]}`)
	save(t, h, `{"verify_input":true,"customers":[{"external_id":"C"}]}`)

	if got := h.Requests(); got != 5 {
		t.Errorf("Requests() = %d, want 5", got)
	}
	if got := h.Received(); got != 4 {
		t.Errorf("Received() = %d, want 4 (repeats and failed records counted)", got)
	}
	if got, want := h.RiskScanFlags(), []bool{true, false, false}; !slices.Equal(got, want) {
		t.Errorf("RiskScanFlags() = %v, want %v", got, want)
	}
}

func TestInspectionReturnsCopies(t *testing.T) {
	h := algoregtest.NewHandler(token)
	save(t, h, `{"customers":[{"external_id":"A","nationality_codes":["GB"],"disabled":true,"fields":{"a":1}},{"external_id":"B"}],
		"relations":[{"relation_external_id":"R","parent_customer_external_id":"A","child_customer_external_id":"B","relation_type":1,"fields":{"x":1}}]}`)

	c, _ := h.Customer("A")
	c.NationalityCodes[0] = "FR"
	*c.Disabled = false
	c.Fields[1] = 'X'
	all := h.Customers()
	all["A"].NationalityCodes[0] = "DE"
	delete(all, "B")
	rels := h.Relations()
	rels["R"].Fields[1] = 'X'
	h.RiskScanFlags()[0] = true

	c, _ = h.Customer("A")
	if c.NationalityCodes[0] != "GB" || !*c.Disabled || string(c.Fields) != `{"a":1}` {
		t.Errorf("the store changed through a copy: %+v", c)
	}
	if len(h.Customers()) != 2 || string(h.Relations()["R"].Fields) != `{"x":1}` || h.RiskScanFlags()[0] {
		t.Errorf("the store changed through a copy")
	}
}

func TestReset(t *testing.T) {
	h := algoregtest.NewHandler(token)
	h.SetBeforeSave(func(*load.SaveRequest) { t.Error("the hook survived Reset") })
	h.FailNext(1, algoregtest.Fault{StatusCode: 503})
	h.Reset()
	save(t, h, `{"customers":[{"external_id":"A"}]}`)
	h.Reset()
	if len(h.Customers()) != 0 || h.Requests() != 0 || h.Received() != 0 || len(h.RiskScanFlags()) != 0 {
		t.Errorf("Reset left state behind")
	}
	if resp := save(t, h, `{"customers":[{"external_id":"A"}]}`); len(resp.Added) != 1 || resp.Added[0].CustomerID != "1" {
		t.Errorf("after Reset, added %+v; want A with customer_id 1", resp.Added)
	}
}

func TestConcurrentCalls(t *testing.T) {
	h := algoregtest.NewHandler(token)
	const workers, calls = 8, 25
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range calls {
				body, _ := json.Marshal(load.SaveRequest{Customers: []load.Customer{{ExternalID: id(w, i)}}})
				if a := call(t, h, string(body), nil); a.status != http.StatusOK {
					t.Errorf("status %d", a.status)
				}
			}
		})
	}
	wg.Wait()
	if got := len(h.Customers()); got != workers*calls {
		t.Errorf("stored %d customers, want %d", got, workers*calls)
	}
	ids := make(map[int64]bool)
	for ext := range h.Customers() {
		n, _ := h.CustomerID(ext)
		ids[n] = true
	}
	if len(ids) != workers*calls {
		t.Errorf("%d distinct customer ids for %d customers", len(ids), workers*calls)
	}
}

func id(w, i int) string { return strings.Repeat("w", w+1) + "-" + strings.Repeat("i", i+1) }

func ptr[T any](v T) *T { return &v }

// equalJSON compares two values by their JSON form, which is what the API
// sees.
func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(ja) == string(jb)
}
