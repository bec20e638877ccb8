package transform

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/algoreg/algoreg-etl/extract"
	"github.com/algoreg/algoreg-etl/load"
)

// now is the fixed "now" of the tests.
var now = time.Date(2025, 6, 15, 12, 0, 0, 0, time.UTC)

func fixedNow() time.Time { return now }

// col is one column of a test row and its value.
type col struct {
	name string
	v    any
}

// mapRow maps one row made of cols, with the default options.
func mapRow(t testing.TB, cols ...col) (load.Customer, error) {
	t.Helper()
	return mapRowWith(t, Options{}, cols...)
}

// mapRowWith maps one row made of cols with opts, whose Now defaults to
// fixedNow.
func mapRowWith(t testing.TB, opts Options, cols ...col) (load.Customer, error) {
	t.Helper()
	names := make(extract.Columns, len(cols))
	values := make([]any, len(cols))
	for i, c := range cols {
		names[i], values[i] = c.name, c.v
	}
	if opts.Now == nil {
		opts.Now = fixedNow
	}
	m, err := NewCustomers(names, opts)
	if err != nil {
		t.Fatalf("NewCustomers(%q): %v", names, err)
	}
	return m.Map(extract.Row{Pos: extract.Position{Key: "1"}, Columns: names, Values: values})
}

// id is the external_id column most cases need.
var id = col{"external_id", "C1"}

type mapCase struct {
	name string
	opts Options // Now defaults to fixedNow
	cols []col
	want string // the customer's JSON, when Map succeeds
	// When Map fails: the FieldError's Field, Code and, if set, Value.
	field, code, value string
}

func TestMapExternalID(t *testing.T) {
	runMapCases(t, []mapCase{
		{name: "text", cols: []col{{"external_id", "C-1"}}, want: `{"external_id":"C-1"}`},
		{name: "trimmed", cols: []col{{"external_id", " \tC-1\n"}}, want: `{"external_id":"C-1"}`},
		{name: "integer", cols: []col{{"external_id", int64(42)}}, want: `{"external_id":"42"}`},
		{name: "negative integer", cols: []col{{"external_id", int64(-7)}}, want: `{"external_id":"-7"}`},
		{name: "NULL", cols: []col{{"external_id", nil}}, field: "external_id", code: CodeMissing},
		{name: "blank", cols: []col{{"external_id", "   "}}, field: "external_id", code: CodeMissing},
		{name: "boolean", cols: []col{{"external_id", true}}, field: "external_id", code: CodeInvalidType, value: "true"},
		{name: "float", cols: []col{{"external_id", 1.5}}, field: "external_id", code: CodeInvalidType},
		{name: "invalid UTF-8", cols: []col{{"external_id", "C\xff1"}}, field: "external_id", code: CodeInvalidUTF8, value: "C\uFFFD1"},
		{name: "long", cols: []col{{"external_id", strings.Repeat("x", 1000)}}, want: `{"external_id":"` + strings.Repeat("x", 1000) + `"}`},
	})
}

func TestMapAccountType(t *testing.T) {
	runMapCases(t, []mapCase{
		{name: "F", cols: []col{id, {"account_type", "F"}, {"company_name", "Acme"}},
			want: `{"external_id":"C1","account_type":"F","company_name":"Acme"}`},
		{name: "lower n, padded", cols: []col{id, {"account_type", " n "}, {"last_name", "Lee"}},
			want: `{"external_id":"C1","account_type":"N","last_name":"Lee"}`},
		{name: "NULL", cols: []col{id, {"account_type", nil}}, want: `{"external_id":"C1"}`},
		{name: "blank", cols: []col{id, {"account_type", " "}}, want: `{"external_id":"C1"}`},
		{name: "other letter", cols: []col{id, {"account_type", "X"}}, field: "account_type", code: CodeInvalidAccountType, value: "X"},
		{name: "word", cols: []col{id, {"account_type", "person"}}, field: "account_type", code: CodeInvalidAccountType, value: "person"},
		{name: "both", cols: []col{id, {"account_type", "FN"}}, field: "account_type", code: CodeInvalidAccountType},
		{name: "integer", cols: []col{id, {"account_type", int64(1)}}, field: "account_type", code: CodeInvalidType},
	})
}

func TestMapText(t *testing.T) {
	var cases []mapCase
	for _, name := range []string{"first_name", "middle_name", "last_name", "company_name", "trading_name",
		"registration_number", "phone", "comment", "parent_external_id"} {
		cases = append(cases,
			mapCase{name: name + " trimmed", cols: []col{id, {name, "  Ann Lee \n"}}, want: `{"external_id":"C1","` + name + `":"Ann Lee"}`},
			mapCase{name: name + " no-break spaces trimmed", cols: []col{id, {name, "\u00a0Zoë\u00a0"}}, want: `{"external_id":"C1","` + name + `":"Zoë"}`},
			mapCase{name: name + " NULL", cols: []col{id, {name, nil}}, want: `{"external_id":"C1"}`},
			mapCase{name: name + " blank", cols: []col{id, {name, " \t "}}, want: `{"external_id":"C1"}`},
			mapCase{name: name + " boolean", cols: []col{id, {name, false}}, field: name, code: CodeInvalidType, value: "false"},
			mapCase{name: name + " array", cols: []col{id, {name, []string{"a"}}}, field: name, code: CodeInvalidType},
			mapCase{name: name + " invalid UTF-8", cols: []col{id, {name, "Ann\xc3"}}, field: name, code: CodeInvalidUTF8},
		)
	}
	cases = append(cases,
		mapCase{name: "parent_external_id integer", cols: []col{id, {"parent_external_id", int64(7)}}, want: `{"external_id":"C1","parent_external_id":"7"}`},
		mapCase{name: "first_name integer", cols: []col{id, {"first_name", int64(7)}}, field: "first_name", code: CodeInvalidType},
	)
	runMapCases(t, cases)
}

func TestMapDateOfBirth(t *testing.T) {
	dob := func(v any) []col { return []col{id, {"date_of_birth", v}} }
	want := func(d string) string { return `{"external_id":"C1","date_of_birth":"` + d + `"}` }
	const f = "date_of_birth"
	runMapCases(t, []mapCase{
		{name: "date", cols: dob(time.Date(1980, 2, 29, 0, 0, 0, 0, time.UTC)), want: want("1980-02-29")},
		{name: "timestamp keeps its own date", cols: dob(time.Date(1980, 1, 1, 23, 30, 0, 0, time.FixedZone("", -5*3600))), want: want("1980-01-01")},
		{name: "text", cols: dob("1980-02-29"), want: want("1980-02-29")},
		{name: "text padded", cols: dob(" 1980-01-02 "), want: want("1980-01-02")},
		{name: "today", cols: dob("2025-06-15"), want: want("2025-06-15")},
		{name: "today as timestamp", cols: dob(now.Add(time.Hour)), want: want("2025-06-15")},
		{name: "1800-01-01", cols: dob("1800-01-01"), want: want("1800-01-01")},
		{name: "NULL", cols: dob(nil), want: `{"external_id":"C1"}`},
		{name: "blank", cols: dob("  "), want: `{"external_id":"C1"}`},
		{name: "30 February", cols: dob("2023-02-30"), field: f, code: CodeInvalidDate, value: "2023-02-30"},
		{name: "29 February of a common year", cols: dob("1900-02-29"), field: f, code: CodeInvalidDate},
		{name: "month 13", cols: dob("2000-13-01"), field: f, code: CodeInvalidDate},
		{name: "day 0", cols: dob("2000-01-00"), field: f, code: CodeInvalidDate},
		{name: "no leading zeros", cols: dob("2000-1-2"), field: f, code: CodeInvalidDate},
		{name: "other layout", cols: dob("02/01/2000"), field: f, code: CodeInvalidDate},
		{name: "signs", cols: dob("+200-01-02"), field: f, code: CodeInvalidDate},
		{name: "tomorrow", cols: dob("2025-06-16"), field: f, code: CodeDateInFuture, value: "2025-06-16"},
		{name: "future timestamp", cols: dob(time.Date(2999, 1, 1, 0, 0, 0, 0, time.UTC)), field: f, code: CodeDateInFuture, value: "2999-01-01"},
		{name: "before 1800", cols: dob("1799-12-31"), field: f, code: CodeDateTooEarly, value: "1799-12-31"},
		{name: "year 1", cols: dob(time.Time{}), field: f, code: CodeDateTooEarly, value: "0001-01-01"},
		{name: "integer", cols: dob(int64(19800101)), field: f, code: CodeInvalidType},
		{name: "invalid UTF-8", cols: dob("1980-01-0\xff"), field: f, code: CodeInvalidUTF8},
	})
}

func TestMapCountryCodes(t *testing.T) {
	var cases []mapCase
	for _, f := range []string{"nationality_codes", "domicile_codes"} {
		c := func(v any) []col { return []col{id, {f, v}} }
		want := func(codes string) string { return `{"external_id":"C1","` + f + `":` + codes + `}` }
		cases = append(cases,
			mapCase{name: f + " normalised", cols: c([]string{"gb", " fr ", "GB", "", "Fr", "XK"}), want: want(`["GB","FR","XK"]`)},
			mapCase{name: f + " single text", cols: c(" de "), want: want(`["DE"]`)},
			mapCase{name: f + " NULL", cols: c(nil), want: `{"external_id":"C1"}`},
			mapCase{name: f + " empty", cols: c([]string{}), want: `{"external_id":"C1"}`},
			mapCase{name: f + " only blanks", cols: c([]string{"", "  "}), want: `{"external_id":"C1"}`},
			mapCase{name: f + " blank text", cols: c(" "), want: `{"external_id":"C1"}`},
			mapCase{name: f + " unassigned", cols: c([]string{"GB", "ZZ"}), field: f, code: CodeInvalidCountryCode, value: "ZZ"},
			mapCase{name: f + " UK is reserved, not assigned", cols: c([]string{"UK"}), field: f, code: CodeInvalidCountryCode, value: "UK"},
			mapCase{name: f + " name", cols: c("France"), want: want(`["FR"]`)},
			mapCase{name: f + " unknown name", cols: c([]string{"France", "Atlantis"}), field: f, code: CodeInvalidCountryCode, value: "Atlantis"},
			mapCase{name: f + " not letters", cols: c("1A"), field: f, code: CodeInvalidCountryCode},
			mapCase{name: f + " array text form", cols: c("{GB,FR}"), field: f, code: CodeInvalidCountryCode, value: "{GB,FR}"},
			mapCase{name: f + " integer", cols: c(int64(826)), field: f, code: CodeInvalidType},
			mapCase{name: f + " invalid UTF-8", cols: c([]string{"G\xff"}), field: f, code: CodeInvalidUTF8},
		)
	}
	runMapCases(t, cases)
}

func TestMapAliasIDs(t *testing.T) {
	const f = "alias_ids"
	c := func(v any) []col { return []col{id, {f, v}} }
	runMapCases(t, []mapCase{
		{name: "trimmed, blanks dropped", cols: c([]string{" a ", "", "b", " "}), want: `{"external_id":"C1","alias_ids":["a","b"]}`},
		{name: "single text", cols: c("x"), want: `{"external_id":"C1","alias_ids":["x"]}`},
		{name: "NULL", cols: c(nil), want: `{"external_id":"C1"}`},
		{name: "only blanks", cols: c([]string{""}), want: `{"external_id":"C1"}`},
		{name: "boolean", cols: c(true), field: f, code: CodeInvalidType},
		{name: "invalid UTF-8", cols: c([]string{"a", "\xff"}), field: f, code: CodeInvalidUTF8},
	})
}

func TestMapDisabled(t *testing.T) {
	const f = "disabled"
	c := func(v any) []col { return []col{id, {f, v}} }
	runMapCases(t, []mapCase{
		{name: "false is sent", cols: c(false), want: `{"external_id":"C1","disabled":false}`},
		{name: "true", cols: c(true), want: `{"external_id":"C1","disabled":true}`},
		{name: "NULL", cols: c(nil), want: `{"external_id":"C1"}`},
		{name: "text", cols: c("true"), field: f, code: CodeInvalidType, value: "true"},
		{name: "integer", cols: c(int64(1)), field: f, code: CodeInvalidType},
	})
}

func TestMapKYCLevels(t *testing.T) {
	var cases []mapCase
	for _, f := range []string{"kyc_level", "kyc_level_requested"} {
		c := func(v any) []col { return []col{id, {f, v}} }
		want := func(n string) string { return `{"external_id":"C1","` + f + `":` + n + `}` }
		cases = append(cases,
			mapCase{name: f + " zero is sent", cols: c(int64(0)), want: want("0")},
			mapCase{name: f + " integer", cols: c(int64(3)), want: want("3")},
			mapCase{name: f + " text", cols: c(" 2 "), want: want("2")},
			mapCase{name: f + " NULL", cols: c(nil), want: `{"external_id":"C1"}`},
			mapCase{name: f + " blank", cols: c(""), want: `{"external_id":"C1"}`},
			mapCase{name: f + " negative", cols: c(int64(-1)), field: f, code: CodeNegativeInteger, value: "-1"},
			mapCase{name: f + " negative text", cols: c(" -1 "), field: f, code: CodeNegativeInteger, value: "-1"},
			mapCase{name: f + " fraction", cols: c("1.5"), field: f, code: CodeInvalidInteger, value: "1.5"},
			mapCase{name: f + " word", cols: c("high"), field: f, code: CodeInvalidInteger},
			mapCase{name: f + " too big", cols: c("99999999999999999999"), field: f, code: CodeInvalidInteger},
			mapCase{name: f + " float", cols: c(2.0), field: f, code: CodeInvalidType},
			mapCase{name: f + " boolean", cols: c(true), field: f, code: CodeInvalidType},
		)
	}
	runMapCases(t, cases)
}

func TestMapFields(t *testing.T) {
	const f = "fields"
	c := func(v any) []col { return []col{id, {f, v}} }
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	runMapCases(t, []mapCase{
		{name: "jsonb object", cols: c(raw(`{"segment": "retail", "score": 3}`)), want: `{"external_id":"C1","fields":{"segment":"retail","score":3}}`},
		{name: "text object", cols: c(` {"a":1} `), want: `{"external_id":"C1","fields":{"a":1}}`},
		{name: "empty object", cols: c(raw(`{}`)), want: `{"external_id":"C1"}`},
		{name: "empty object with spaces", cols: c(raw(" { \n} ")), want: `{"external_id":"C1"}`},
		{name: "JSON null", cols: c(raw(`null`)), want: `{"external_id":"C1"}`},
		{name: "NULL", cols: c(nil), want: `{"external_id":"C1"}`},
		{name: "blank text", cols: c(" "), want: `{"external_id":"C1"}`},
		{name: "array", cols: c(raw(`[1]`)), field: f, code: CodeInvalidFields, value: "[1]"},
		{name: "string", cols: c(raw(`"x"`)), field: f, code: CodeInvalidFields},
		{name: "number", cols: c(raw(`1`)), field: f, code: CodeInvalidFields},
		{name: "text array", cols: c(`[]`), field: f, code: CodeInvalidFields},
		{name: "not JSON", cols: c(raw(`{"a":`)), field: f, code: CodeInvalidFields},
		{name: "two values", cols: c(raw(`{} {}`)), field: f, code: CodeInvalidFields},
		{name: "invalid UTF-8", cols: c(raw("{\"a\":\"\xff\"}")), field: f, code: CodeInvalidUTF8},
		{name: "integer", cols: c(int64(1)), field: f, code: CodeInvalidType},
	})
}

func TestMapReviewGroupsAndContacts(t *testing.T) {
	var cases []mapCase
	for _, f := range []string{"review_groups", "contacts"} {
		c := func(v any) []col { return []col{id, {f, v}} }
		cases = append(cases,
			mapCase{name: f + " text", cols: c(" A;B,C "), want: `{"external_id":"C1","` + f + `":"A;B,C"}`},
			mapCase{name: f + " quotes escaped", cols: c(`say "hi"\`), want: `{"external_id":"C1","` + f + `":"say \"hi\"\\"}`},
			mapCase{name: f + " control characters", cols: c("a\tb\x01é"), want: `{"external_id":"C1","` + f + `":"a\tb\u0001é"}`},
			mapCase{name: f + " NULL", cols: c(nil), want: `{"external_id":"C1"}`},
			mapCase{name: f + " blank", cols: c(""), want: `{"external_id":"C1"}`},
			mapCase{name: f + " integer", cols: c(int64(1)), field: f, code: CodeInvalidType},
			mapCase{name: f + " jsonb", cols: c(json.RawMessage(`["A"]`)), field: f, code: CodeInvalidType},
			mapCase{name: f + " invalid UTF-8", cols: c("\xff"), field: f, code: CodeInvalidUTF8},
		)
	}
	runMapCases(t, cases)
}

func TestMapReportsFirstWrongColumn(t *testing.T) {
	runMapCases(t, []mapCase{
		{name: "first is phone", cols: []col{{"phone", true}, {"external_id", nil}}, field: "phone", code: CodeInvalidType},
		{name: "first is external_id", cols: []col{{"external_id", nil}, {"phone", true}}, field: "external_id", code: CodeMissing},
	})
}

func runMapCases(t *testing.T, cases []mapCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := mapRowWith(t, tc.opts, tc.cols...)
			if tc.code != "" {
				var fe *FieldError
				if !errors.As(err, &fe) {
					t.Fatalf("Map = %+v, %v; want a *FieldError %s/%s", c, err, tc.field, tc.code)
				}
				if fe.Field != tc.field || fe.Code != tc.code {
					t.Errorf("Map error = %#v; want Field %q, Code %q", fe, tc.field, tc.code)
				}
				if tc.value != "" && fe.Value != tc.value {
					t.Errorf("Map error Value = %q, want %q", fe.Value, tc.value)
				}
				if fe.Reason == "" {
					t.Errorf("Map error %#v has no Reason", fe)
				}
				return
			}
			if err != nil {
				t.Fatalf("Map: %v", err)
			}
			assertJSON(t, &c, tc.want)
		})
	}
}

// assertJSON checks that c encodes as the JSON want, whatever the key order.
func assertJSON(t *testing.T, c *load.Customer, want string) {
	t.Helper()
	got, err := json.Marshal(c)
	if err != nil {
		t.Fatalf("json.Marshal(%+v): %v", c, err)
	}
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want %s: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("customer = %s\nwant       %s", got, want)
	}
}

// fullRow is a realistic row with every field set.
func fullRow() extract.Row {
	cols := extract.Columns{"external_id", "account_type", "first_name", "middle_name", "last_name",
		"company_name", "trading_name", "date_of_birth", "nationality_codes", "domicile_codes", "alias_ids",
		"registration_number", "phone", "comment", "disabled", "kyc_level", "kyc_level_requested",
		"parent_external_id", "review_groups", "contacts", "fields"}
	return extract.Row{
		Pos:     extract.Position{UpdatedAt: now, Key: "1042"},
		Columns: cols,
		Values: []any{
			"CUST-0001042", "N", "Ann", "Marie", "Lee ", nil, "  ",
			time.Date(1984, 3, 7, 0, 0, 0, 0, time.UTC),
			[]string{"gb", "IE"}, []string{"GB"}, []string{"ann.lee", "A. Lee"},
			"REG 42", "+44 20 7946 0000", "Prefers email", false, int64(2), "3",
			int64(1000), "retail;private", "ops@example.com",
			json.RawMessage(`{"segment": "retail", "branch": "London"}`),
		},
	}
}

func TestMapFullRow(t *testing.T) {
	row := fullRow()
	m, err := NewCustomers(row.Columns, Options{Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Map(row)
	if err != nil {
		t.Fatal(err)
	}
	no, two, three := false, int64(2), int64(3)
	want := load.Customer{
		ExternalID: "CUST-0001042", AccountType: "N", FirstName: "Ann", MiddleName: "Marie", LastName: "Lee",
		DateOfBirth: "1984-03-07", NationalityCodes: []string{"GB", "IE"}, DomicileCodes: []string{"GB"},
		AliasIDs: []string{"ann.lee", "A. Lee"}, RegistrationNumber: "REG 42", Phone: "+44 20 7946 0000",
		Comment: "Prefers email", Disabled: &no, KYCLevel: &two, KYCLevelRequested: &three,
		ParentExternalID: "1000", ReviewGroups: json.RawMessage(`"retail;private"`),
		Contacts: json.RawMessage(`"ops@example.com"`),
		Fields:   json.RawMessage(`{"segment": "retail", "branch": "London"}`),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Map =\n%+v\nwant\n%+v", got, want)
	}
	// The row is left as it was.
	if !reflect.DeepEqual(row, fullRow()) {
		t.Errorf("Map modified the row: %+v", row)
	}
}

func TestMapWrongValueCount(t *testing.T) {
	m, err := NewCustomers(extract.Columns{"external_id", "phone"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Map(extract.Row{Columns: extract.Columns{"external_id"}, Values: []any{"C1"}})
	var fe *FieldError
	if err == nil || errors.As(err, &fe) {
		t.Errorf("Map of a row with too few values = %v; want an error that is not a FieldError", err)
	}
}

func TestMapConcurrent(t *testing.T) {
	row := fullRow()
	m, err := NewCustomers(row.Columns, Options{Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 100 {
				if _, err := m.Map(row); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestMapDefaultNow(t *testing.T) {
	m, err := NewCustomers(extract.Columns{"external_id", "date_of_birth"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tomorrow := time.Now().AddDate(0, 0, 2)
	_, err = m.Map(extract.Row{Columns: extract.Columns{"external_id", "date_of_birth"}, Values: []any{"C1", tomorrow}})
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Code != CodeDateInFuture {
		t.Errorf("Map with a date of birth after today = %v; want %s", err, CodeDateInFuture)
	}
}

func TestFieldError(t *testing.T) {
	tests := []struct {
		err  *FieldError
		want string
	}{
		{&FieldError{Field: "date_of_birth", Value: "2999-01-01", Code: CodeDateInFuture, Reason: "date in the future"},
			`date_of_birth "2999-01-01": date in the future`},
		{&FieldError{Field: "external_id", Code: CodeMissing, Reason: "missing (NULL or blank)"},
			`external_id: missing (NULL or blank)`},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %s, want %s", got, tt.want)
		}
	}
}

func TestFieldErrorValueTruncated(t *testing.T) {
	long := strings.Repeat("é", 300)
	_, err := mapRow(t, id, col{"account_type", long})
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("Map = %v, want a FieldError", err)
	}
	if want := strings.Repeat("é", 99) + "…"; fe.Value != want {
		t.Errorf("Value = %q (%d runes), want 99 runes and an ellipsis", fe.Value, len([]rune(fe.Value)))
	}
	short := strings.Repeat("é", 100)
	_, err = mapRow(t, id, col{"account_type", short})
	if !errors.As(err, &fe) || fe.Value != short {
		t.Errorf("Value of a 100-rune value = %q, want it whole", fe.Value)
	}
}

func TestNewCustomers(t *testing.T) {
	tests := []struct {
		name string
		cols extract.Columns
		want []string // substrings of the error; none when NewCustomers succeeds
	}{
		{name: "every field", cols: extract.Columns(customerFields)},
		{name: "external_id only", cols: extract.Columns{"external_id"}},
		{name: "typo", cols: extract.Columns{"external_id", "frist_name"},
			want: []string{`"frist_name"`, `did you mean "first_name"`, "external_id, account_type, first_name"}},
		{name: "unknown", cols: extract.Columns{"external_id", "shoe_size"},
			want: []string{`"shoe_size" is not a customer field;`, "fields"}},
		{name: "variations", cols: extract.Columns{"external_id", "variations"}},
		{name: "cursor column left in", cols: extract.Columns{"cursor_key", "external_id"},
			want: []string{`"cursor_key"`}},
		{name: "case matters", cols: extract.Columns{"External_ID"},
			want: []string{`"External_ID"`, `did you mean "external_id"`}},
		{name: "duplicate", cols: extract.Columns{"external_id", "phone", "phone"},
			want: []string{`"phone" appears twice`, "2 and 3"}},
		{name: "no external_id", cols: extract.Columns{"first_name"},
			want: []string{`no "external_id" column`}},
		{name: "no columns", cols: nil, want: []string{`no "external_id" column`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := NewCustomers(tt.cols, Options{})
			if len(tt.want) == 0 {
				if err != nil || m == nil {
					t.Fatalf("NewCustomers(%q) = %v, %v; want success", tt.cols, m, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("NewCustomers(%q) succeeded; want an error", tt.cols)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("NewCustomers(%q) error = %q; want it to contain %q", tt.cols, err, w)
				}
			}
		})
	}
}

// TestExampleQueryColumns checks that the example query selects only
// customer fields, besides its cursor columns.
func TestExampleQueryColumns(t *testing.T) {
	src, err := os.ReadFile("../sql/example/customers.sql")
	if err != nil {
		t.Fatal(err)
	}
	query := regexp.MustCompile(`--[^\n]*`).ReplaceAllString(string(src), "") // comments say "as" too
	var cols extract.Columns
	for _, m := range regexp.MustCompile(`(?i)\bAS\s+(\w+)`).FindAllStringSubmatch(query, -1) {
		if !strings.HasPrefix(m[1], "cursor_") {
			cols = append(cols, m[1])
		}
	}
	if len(cols) < 5 {
		t.Fatalf("found only columns %q in the example query", cols)
	}
	if _, err := NewCustomers(cols, Options{}); err != nil {
		t.Errorf("the example query's columns %q: %v", cols, err)
	}
}

func TestCountryList(t *testing.T) {
	n := 0
	for _, c := range countries {
		if c != "" {
			n++
		}
	}
	if n != 249+1 { // the assigned codes and XK
		t.Errorf("%d country codes accepted, want 249 assigned ones and XK", n)
	}
	for _, s := range []string{"AA", "EU", "UN", "UK", "QZ", "ZZ", "XX", "AN", "CS", "YU"} {
		if _, ok := countryCode(s); ok {
			t.Errorf("countryCode(%q) accepted; it is not an assigned code", s)
		}
	}
	for _, s := range []string{"AD", "ZW", "ss", "Xk", "bq"} {
		if c, ok := countryCode(s); !ok || c != strings.ToUpper(s) {
			t.Errorf("countryCode(%q) = %q, %v; want %q", s, c, ok, strings.ToUpper(s))
		}
	}
}

func ExampleCustomers_Map() {
	cols := extract.Columns{"external_id", "account_type", "last_name", "date_of_birth", "nationality_codes"}
	m, err := NewCustomers(cols, Options{})
	if err != nil {
		panic(err)
	}
	for _, values := range [][]any{
		{int64(1042), "n", " Lee ", "1984-03-07T00:00:00Z", []string{"gbr", "ie"}},
		{"1043", "N", "Smith", "1984-02-30", nil},
	} {
		c, err := m.Map(extract.Row{Columns: cols, Values: values})
		if err != nil {
			fmt.Println("error:", err)
			continue
		}
		b, _ := json.Marshal(c)
		fmt.Println(string(b))
	}
	// Output:
	// {"external_id":"1042","account_type":"N","last_name":"Lee","date_of_birth":"1984-03-07","nationality_codes":["GB","IE"]}
	// error: date_of_birth "1984-02-30": want a calendar date written YYYY-MM-DD, or an ISO timestamp
}

// MapDropping leaves the invalid values of the fields Options.Drop names
// out of the customer and returns their problems; the other fields still
// refuse the row, and Map ignores Options.Drop.
func TestMapDropping(t *testing.T) {
	all := make(map[string]bool)
	for _, f := range OptionalFields {
		all[f] = true
	}
	cols := extract.Columns{"external_id", "account_type", "last_name", "date_of_birth", "nationality_codes", "kyc_level", "phone"}
	row := func(vals ...any) extract.Row {
		return extract.Row{Pos: extract.Position{Key: "1"}, Columns: cols, Values: vals}
	}
	m, err := NewCustomers(cols, Options{Now: fixedNow, Drop: all})
	if err != nil {
		t.Fatal(err)
	}
	c, dropped, err := m.MapDropping(row("C1", "N", "Lee", "2999-01-01", []string{"CH", "ZZ"}, int64(-1), "+41 1"))
	if err != nil {
		t.Fatalf("MapDropping: %v", err)
	}
	assertJSON(t, &c, `{"external_id":"C1","account_type":"N","last_name":"Lee","phone":"+41 1"}`)
	var got []string
	for _, fe := range dropped {
		got = append(got, fe.Field+"/"+fe.Code)
	}
	if want := []string{"date_of_birth/date_in_future", "nationality_codes/invalid_country_code", "kyc_level/negative_integer"}; !reflect.DeepEqual(got, want) {
		t.Errorf("dropped %v, want %v", got, want)
	}
	// A field that is not dropped still refuses the row.
	if _, dropped, err := m.MapDropping(row("C1", "trust", "Lee", "2999-01-01", nil, nil, nil)); err == nil || dropped != nil {
		t.Errorf("MapDropping of an unknown account_type = %v, %v; want an error", dropped, err)
	}
	if _, dropped, err := m.MapDropping(row("C1", "N", nil, "2999-01-01", nil, nil, nil)); err == nil || dropped != nil {
		t.Errorf("MapDropping of an individual without last_name = %v, %v; want an error", dropped, err)
	}
	// Map drops nothing.
	var fe *FieldError
	if _, err := m.Map(row("C1", "N", "Lee", "2999-01-01", nil, nil, nil)); !errors.As(err, &fe) || fe.Code != CodeDateInFuture {
		t.Errorf("Map = %v; want date_in_future", err)
	}
	// Only optional fields may be dropped.
	if _, err := NewCustomers(cols, Options{Drop: map[string]bool{"last_name": true}}); err == nil || !strings.Contains(err.Error(), "last_name") {
		t.Errorf("NewCustomers dropping last_name: %v", err)
	}
	for _, f := range OptionalFields {
		if _, err := NewCustomers(extract.Columns{"external_id", f}, Options{Drop: map[string]bool{f: true}}); err != nil {
			t.Errorf("NewCustomers dropping %s: %v", f, err)
		}
	}
}
