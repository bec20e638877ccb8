package transform

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/algoreg/algoreg-etl/extract"
	"golang.org/x/text/unicode/norm"
)

var nameFields = []string{"first_name", "middle_name", "last_name", "company_name", "trading_name"}

func TestMapNamesNormalised(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"decomposed e and acute accent composed", "Re\u0301mi", "Rémi"},
		{"decomposed diaeresis composed", "Zoe\u0308", "Zoë"},
		{"already composed kept", "Zoë", "Zoë"},
		{"Hangul jamo composed", "\u1100\u1161", "\uac00"},
		{"Angstrom sign becomes A with ring", "\u212bngstr\u00f6m", "\u00c5ngstr\u00f6m"},
		{"marks reordered and composed", "a\u0301\u0327", "\u00e1\u0327"},
		{"runs of spaces collapsed", "  Anne   Marie ", "Anne Marie"},
		{"tabs and newlines become a space", "Anne\t\n Marie", "Anne Marie"},
		{"no-break space becomes a space", "Anne\u00a0Marie", "Anne Marie"},
		{"ideographic and em spaces", "Anne\u3000\u2003Marie", "Anne Marie"},
		{"line and paragraph separators", "Anne\u2028Marie\u2029Lee", "Anne Marie Lee"},
		{"en quad: NFC then collapse", "Anne\u2000Marie", "Anne Marie"},
		{"both at once", " Jose\u0301 \u00a0 Mari\u0301a ", "José María"},
		{"zero-width space is not white space", "Anne\u200bMarie", "Anne\u200bMarie"},
		{"combining mark after a space stays apart", "a \u0301b", "a \u0301b"},
		{"inner hyphen and apostrophe kept", "O'Neil-Smith", "O'Neil-Smith"},
	}
	var cases []mapCase
	for _, f := range nameFields {
		for _, tt := range tests {
			cases = append(cases, mapCase{
				name: f + " " + tt.name,
				cols: []col{id, {f, tt.in}},
				want: `{"external_id":"C1","` + f + `":` + string(appendJSONString(nil, tt.want)) + `}`,
			})
		}
		cases = append(cases, mapCase{name: f + " only white space", cols: []col{id, {f, "\u3000 \u00a0"}}, want: `{"external_id":"C1"}`})
	}
	runMapCases(t, cases)
}

func TestMapOtherTextNotCollapsed(t *testing.T) {
	runMapCases(t, []mapCase{
		{name: "phone trimmed, inner white space kept", cols: []col{id, {"phone", "  +44  20\t7946 0000 \n"}},
			want: `{"external_id":"C1","phone":"+44  20\t7946 0000"}`},
		{name: "phone not reformatted", cols: []col{id, {"phone", "(020) 7946-0000 ext. 12"}},
			want: `{"external_id":"C1","phone":"(020) 7946-0000 ext. 12"}`},
		{name: "comment keeps its spacing", cols: []col{id, {"comment", "line one\n\nline  two"}},
			want: `{"external_id":"C1","comment":"line one\n\nline  two"}`},
		{name: "registration_number keeps its spacing", cols: []col{id, {"registration_number", "REG  42"}},
			want: `{"external_id":"C1","registration_number":"REG  42"}`},
	})
}

func TestNormNameDoesNotAllocateWhenNormal(t *testing.T) {
	for _, s := range []string{"Ann", "Anne Marie", "Zoë Lefèvre", "Łódź Sp. z o.o.", "山田 太郎"} {
		if n := testing.AllocsPerRun(100, func() { normName(s) }); n != 0 {
			t.Errorf("normName(%q) allocates %v times; want 0 for a string already normal", s, n)
		}
		if got := normName(s); got != s {
			t.Errorf("normName(%q) = %q; want it unchanged", s, got)
		}
	}
}

func TestMapCountryCodesAlpha3(t *testing.T) {
	var cases []mapCase
	for _, f := range []string{"nationality_codes", "domicile_codes"} {
		c := func(v any) []col { return []col{id, {f, v}} }
		want := func(codes string) string { return `{"external_id":"C1","` + f + `":` + codes + `}` }
		cases = append(cases,
			mapCase{name: f + " alpha-3", cols: c([]string{"GBR"}), want: want(`["GB"]`)},
			mapCase{name: f + " alpha-3 lower case, padded", cols: c([]string{" fra ", "deu"}), want: want(`["FR","DE"]`)},
			mapCase{name: f + " alpha-3 single text", cols: c("UKR"), want: want(`["UA"]`)},
			mapCase{name: f + " alpha-2 and alpha-3 of one country", cols: c([]string{"GB", "GBR", "gbr"}), want: want(`["GB"]`)},
			mapCase{name: f + " mixed", cols: c([]string{"che", "LI", "aut"}), want: want(`["CH","LI","AT"]`)},
			mapCase{name: f + " Aland", cols: c([]string{"ALA"}), want: want(`["AX"]`)},
			mapCase{name: f + " unassigned alpha-3", cols: c([]string{"ABC"}), field: f, code: CodeInvalidCountryCode, value: "ABC"},
			mapCase{name: f + " Kosovo alpha-3 is not assigned", cols: c([]string{"XKX"}), field: f, code: CodeInvalidCountryCode, value: "XKX"},
			mapCase{name: f + " withdrawn alpha-3", cols: c([]string{"SCG"}), field: f, code: CodeInvalidCountryCode, value: "SCG"},
			mapCase{name: f + " four letters", cols: c([]string{"GBRR"}), field: f, code: CodeInvalidCountryCode},
			mapCase{name: f + " digit", cols: c([]string{"GB1"}), field: f, code: CodeInvalidCountryCode},
			mapCase{name: f + " numeric codes", cols: c([]string{"826", "4", "040"}), want: want(`["GB","AF","AT"]`)},
			mapCase{name: f + " unassigned numeric code", cols: c([]string{"999"}), field: f, code: CodeInvalidCountryCode, value: "999"},
			mapCase{name: f + " four digits", cols: c([]string{"0826"}), field: f, code: CodeInvalidCountryCode, value: "0826"},
			mapCase{name: f + " non-ASCII letter", cols: c([]string{"GBÅ"}), field: f, code: CodeInvalidCountryCode},
		)
	}
	runMapCases(t, cases)
}

// TestAlpha3Table checks that the alpha-3 table is complete and one to
// one: every assigned alpha-2 code has exactly one alpha-3 code.
func TestAlpha3Table(t *testing.T) {
	if len(alpha3) != 249 {
		t.Errorf("%d alpha-3 codes, want the 249 assigned ones", len(alpha3))
	}
	seen := map[string]string{}
	for a3, a2 := range alpha3 {
		if len(a3) != 3 || strings.ToUpper(a3) != a3 || strings.Trim(a3, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
			t.Errorf("alpha-3 key %q is not three upper-case letters", a3)
		}
		if c, ok := countryCode(a2); !ok || c != a2 || a2 == kosovo {
			t.Errorf("alpha-3 %s maps to %q, not an assigned alpha-2 code", a3, a2)
		}
		if other, dup := seen[a2]; dup {
			t.Errorf("alpha-2 %s has two alpha-3 codes, %s and %s", a2, other, a3)
		}
		seen[a2] = a3
	}
	for _, c := range isoCountries {
		if _, ok := seen[c.alpha2]; !ok {
			t.Errorf("assigned alpha-2 code %s has no alpha-3 code", c.alpha2)
		}
	}
	// A few well-known pairs, where the letters differ most.
	for a3, a2 := range map[string]string{"GBR": "GB", "CHE": "CH", "DEU": "DE", "ESP": "ES", "ZAF": "ZA",
		"KOR": "KR", "PRK": "KP", "SRB": "RS", "MNE": "ME", "SSD": "SS", "BES": "BQ", "CUW": "CW", "SXM": "SX"} {
		if got, ok := countryCode(a3); !ok || got != a2 {
			t.Errorf("countryCode(%q) = %q, %v; want %q", a3, got, ok, a2)
		}
	}
	if n := testing.AllocsPerRun(100, func() { countryCode("gbr") }); n != 0 {
		t.Errorf("countryCode of an alpha-3 code allocates %v times, want 0", n)
	}
}

func TestMapDateOfBirthTimestampText(t *testing.T) {
	dob := func(v any) []col { return []col{id, {"date_of_birth", v}} }
	want := func(d string) string { return `{"external_id":"C1","date_of_birth":"` + d + `"}` }
	const f = "date_of_birth"
	runMapCases(t, []mapCase{
		{name: "RFC 3339 UTC", cols: dob("1980-02-29T00:00:00Z"), want: want("1980-02-29")},
		{name: "PostgreSQL timestamp text", cols: dob("1980-02-29 00:00:00"), want: want("1980-02-29")},
		{name: "PostgreSQL timestamptz text", cols: dob("1980-02-29 13:45:00+01"), want: want("1980-02-29")},
		{name: "fraction and offset", cols: dob("1980-02-29T23:59:59.123456-05:00"), want: want("1980-02-29")},
		{name: "offset is not applied", cols: dob("1980-01-01T23:30:00-05:00"), want: want("1980-01-01")},
		{name: "lower-case t and z", cols: dob("1980-02-29t12:00:00z"), want: want("1980-02-29")},
		{name: "minutes only", cols: dob("1980-02-29T12:00"), want: want("1980-02-29")},
		{name: "offset hhmm", cols: dob("1980-02-29T12:00:00+0530"), want: want("1980-02-29")},
		{name: "offset hh:mm:ss", cols: dob("1880-02-29 12:00:00+00:53:28"), want: want("1880-02-29")},
		{name: "leap second", cols: dob("1998-12-31T23:59:60Z"), want: want("1998-12-31")},
		{name: "nine fraction digits", cols: dob("1980-02-29T00:00:00.123456789Z"), want: want("1980-02-29")},
		{name: "padded", cols: dob("  1980-02-29T00:00:00Z "), want: want("1980-02-29")},
		{name: "today, late, far west", cols: dob("2025-06-15T23:59:59-12:00"), want: want("2025-06-15")},
		{name: "future timestamp", cols: dob("2025-06-16T00:00:00Z"), field: f, code: CodeDateInFuture, value: "2025-06-16"},
		{name: "too early timestamp", cols: dob("1799-12-31T00:00:00Z"), field: f, code: CodeDateTooEarly},
		{name: "invalid date part", cols: dob("1981-02-29T00:00:00Z"), field: f, code: CodeInvalidDate, value: "1981-02-29T00:00:00Z"},
		{name: "T alone", cols: dob("1980-02-29T"), field: f, code: CodeInvalidDate},
		{name: "hour 24", cols: dob("1980-02-29T24:00:00Z"), field: f, code: CodeInvalidDate},
		{name: "minute 60", cols: dob("1980-02-29T12:60"), field: f, code: CodeInvalidDate},
		{name: "second 61", cols: dob("1980-02-29T12:00:61"), field: f, code: CodeInvalidDate},
		{name: "one-digit hour", cols: dob("1980-02-29T1:00"), field: f, code: CodeInvalidDate},
		{name: "other separator", cols: dob("1980-02-29X12:00"), field: f, code: CodeInvalidDate},
		{name: "two spaces", cols: dob("1980-02-29  12:00"), field: f, code: CodeInvalidDate},
		{name: "dot without digits", cols: dob("1980-02-29T12:00:00.Z"), field: f, code: CodeInvalidDate},
		{name: "ten fraction digits", cols: dob("1980-02-29T12:00:00.1234567890Z"), field: f, code: CodeInvalidDate},
		{name: "one-digit offset", cols: dob("1980-02-29T12:00:00+5"), field: f, code: CodeInvalidDate},
		{name: "offset minute 60", cols: dob("1980-02-29T12:00:00+05:60"), field: f, code: CodeInvalidDate},
		{name: "zone name", cols: dob("1980-02-29 12:00:00 UTC"), field: f, code: CodeInvalidDate},
		{name: "BC", cols: dob("1980-02-29 12:00:00 BC"), field: f, code: CodeInvalidDate},
		{name: "trailing text", cols: dob("1980-02-29 and more"), field: f, code: CodeInvalidDate},
		{name: "date then Z", cols: dob("1980-02-29Z"), field: f, code: CodeInvalidDate},
	})
}

func TestMapAccountTypesOption(t *testing.T) {
	words := Options{AccountTypes: map[string]string{"company": "F", "person": "n"}}
	firm := func(v any) []col { return []col{id, {"account_type", v}, {"company_name", "Acme"}} }
	person := func(v any) []col { return []col{id, {"account_type", v}, {"last_name", "Lee"}} }
	const f = "account_type"
	runMapCases(t, []mapCase{
		{name: "configured firm", opts: words, cols: firm("company"),
			want: `{"external_id":"C1","account_type":"F","company_name":"Acme"}`},
		{name: "configured, other case, padded", opts: words, cols: person(" PERSON "),
			want: `{"external_id":"C1","account_type":"N","last_name":"Lee"}`},
		{name: "configured value normalised to upper case", opts: words, cols: person("Person"),
			want: `{"external_id":"C1","account_type":"N","last_name":"Lee"}`},
		// With a map, the source's kind must be one of its values.
		{name: "configured NULL", opts: words, cols: person(nil), field: f, code: CodeMissing},
		{name: "configured blank", opts: words, cols: person("  "), field: f, code: CodeMissing},
		{name: "no map, NULL omits it", cols: []col{id, {"account_type", nil}}, want: `{"external_id":"C1"}`},
		{name: "no map, blank omits it", cols: []col{id, {"account_type", " "}}, want: `{"external_id":"C1"}`},
		{name: "the map replaces F and N", opts: words, cols: firm("F"), field: f, code: CodeInvalidAccountType, value: "F"},
		{name: "unknown source value", opts: words, cols: firm("trust"), field: f, code: CodeInvalidAccountType, value: "trust"},
		{name: "F and N added on purpose", opts: Options{AccountTypes: map[string]string{"company": "F", "F": "F"}}, cols: firm("f"),
			want: `{"external_id":"C1","account_type":"F","company_name":"Acme"}`},
		{name: "key with spaces matches trimmed value", opts: Options{AccountTypes: map[string]string{" sole trader ": "N"}}, cols: person("Sole Trader"),
			want: `{"external_id":"C1","account_type":"N","last_name":"Lee"}`},
		{name: "empty map is the default", opts: Options{AccountTypes: map[string]string{}}, cols: firm("f"),
			want: `{"external_id":"C1","account_type":"F","company_name":"Acme"}`},
		{name: "nil map is the default", cols: firm("company"), field: f, code: CodeInvalidAccountType, value: "company"},
	})
}

func TestAccountTypesOptionErrorMessage(t *testing.T) {
	_, err := mapRowWith(t, Options{AccountTypes: map[string]string{"company": "F", "person": "N"}}, id, col{"account_type", "trust"})
	want := `account_type "trust": want "company" (F), "person" (N)`
	if err == nil || err.Error() != want {
		t.Errorf("Map error = %v; want %s", err, want)
	}
}

func TestNewCustomersAccountTypes(t *testing.T) {
	tests := []struct {
		name string
		m    map[string]string
		want string // a substring of the error; "" when NewCustomers succeeds
	}{
		{name: "words", m: map[string]string{"company": "F", "person": "N"}},
		{name: "lower-case values", m: map[string]string{"company": "f", "person": " n "}},
		{name: "same value twice in two cases", m: map[string]string{"Person": "N", "person": "N"}},
		{name: "value not F or N", m: map[string]string{"company": "firm"}, want: `maps "company" to "firm"; want "F" (firm) or "N" (individual)`},
		{name: "blank value", m: map[string]string{"company": ""}, want: `maps "company" to ""`},
		{name: "blank key", m: map[string]string{" ": "F"}, want: `blank source value " "`},
		{name: "keys equal but for case, values differ", m: map[string]string{"Person": "N", "person": "F"},
			want: `maps "Person" to "N" and "person" to "F"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewCustomers(extract.Columns{"external_id", "account_type"}, Options{AccountTypes: tt.m})
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("NewCustomers with AccountTypes %q: %v", tt.m, err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("NewCustomers with AccountTypes %q = %v; want an error containing %s", tt.m, err, tt.want)
			}
		})
	}
}

func TestMapRequiredByAccountType(t *testing.T) {
	at := func(v string) col { return col{"account_type", v} }
	company, last := "company_name", "last_name"
	runMapCases(t, []mapCase{
		{name: "firm with company_name", cols: []col{id, at("F"), {"company_name", "Acme"}},
			want: `{"external_id":"C1","account_type":"F","company_name":"Acme"}`},
		{name: "firm without company_name column", cols: []col{id, at("F")}, field: company, code: CodeMissing},
		{name: "firm with NULL company_name", cols: []col{id, at("F"), {"company_name", nil}}, field: company, code: CodeMissing},
		{name: "firm with blank company_name", cols: []col{id, at("F"), {"company_name", " \u00a0 "}}, field: company, code: CodeMissing},
		{name: "firm with only a last_name", cols: []col{id, at("F"), {"last_name", "Lee"}}, field: company, code: CodeMissing},
		{name: "firm with only a trading_name", cols: []col{id, at("F"), {"trading_name", "Acme"}}, field: company, code: CodeMissing},
		{name: "individual with last_name", cols: []col{id, at("N"), {"last_name", "Lee"}},
			want: `{"external_id":"C1","account_type":"N","last_name":"Lee"}`},
		{name: "individual without last_name column", cols: []col{id, at("N"), {"first_name", "Ann"}}, field: last, code: CodeMissing},
		{name: "individual with blank last_name", cols: []col{id, at("N"), {"last_name", ""}}, field: last, code: CodeMissing},
		{name: "individual with only a company_name", cols: []col{id, at("N"), {"company_name", "Acme"}}, field: last, code: CodeMissing},
		{name: "no account type, nothing required", cols: []col{id, {"first_name", "Ann"}}, want: `{"external_id":"C1","first_name":"Ann"}`},
		{name: "NULL account type, nothing required", cols: []col{id, {"account_type", nil}}, want: `{"external_id":"C1"}`},
		{name: "a wrong field comes first", cols: []col{id, at("F"), {"phone", true}}, field: "phone", code: CodeInvalidType},
		{name: "configured source value", opts: Options{AccountTypes: map[string]string{"company": "F"}},
			cols: []col{id, at("Company")}, field: company, code: CodeMissing},
	})
}

func TestMapReviewGroupsAndContactsForms(t *testing.T) {
	var cases []mapCase
	for _, f := range []string{"review_groups", "contacts"} {
		c := func(v any) []col { return []col{id, {f, v}} }
		want := func(v string) string { return `{"external_id":"C1","` + f + `":` + v + `}` }
		cases = append(cases,
			// The string form.
			mapCase{name: f + " text in NFC", cols: c("Re\u0301gion;B"), want: want(`"Région;B"`)},
			mapCase{name: f + " text with spaces kept", cols: c("A; B ,C"), want: want(`"A; B ,C"`)},
			mapCase{name: f + " text with an empty entry", cols: c("A;;B"), want: want(`"A;B"`)},
			mapCase{name: f + " text with a trailing separator", cols: c("A,B;"), want: want(`"A;B"`)},
			mapCase{name: f + " text with a blank entry", cols: c(" A , ; B"), want: want(`"A;B"`)},
			mapCase{name: f + " text of separators only", cols: c(" ; , "), want: `{"external_id":"C1"}`},
			// The array form.
			mapCase{name: f + " array", cols: c([]string{"A", "B"}),
				want: want(`[{"_op":"set","value":"A"},{"_op":"set","value":"B"}]`)},
			mapCase{name: f + ` element "Risk; High" is one item`, cols: c([]string{"Risk; High"}),
				want: want(`[{"_op":"set","value":"Risk; High"}]`)},
			mapCase{name: f + " elements with both separators", cols: c([]string{"a,b;c", "d"}),
				want: want(`[{"_op":"set","value":"a,b;c"},{"_op":"set","value":"d"}]`)},
			mapCase{name: f + " trimmed, NFC, blanks and duplicates dropped", cols: c([]string{" A ", "", "B", "A", "Re\u0301gion", "Région", " "}),
				want: want(`[{"_op":"set","value":"A"},{"_op":"set","value":"B"},{"_op":"set","value":"Région"}]`)},
			mapCase{name: f + " inner spaces kept", cols: c([]string{"High  Risk"}),
				want: want(`[{"_op":"set","value":"High  Risk"}]`)},
			mapCase{name: f + " quotes escaped", cols: c([]string{`say "hi"\`}),
				want: want(`[{"_op":"set","value":"say \"hi\"\\"}]`)},
			mapCase{name: f + " empty array says there is none", cols: c([]string{}), want: want(`[]`)},
			mapCase{name: f + " only NULL elements", cols: c([]string{"", " "}), want: want(`[]`)},
			mapCase{name: f + " array element invalid UTF-8", cols: c([]string{"A", "\xff"}), field: f, code: CodeInvalidUTF8},
		)
	}
	runMapCases(t, cases)
}

// TestMapDeltaItemsDecode checks that the array form decodes into
// DeltaItem, the documented shape, with names whole.
func TestMapDeltaItemsDecode(t *testing.T) {
	c, err := mapRow(t, id, col{"review_groups", []string{"Risk; High", "PEP, foreign"}})
	if err != nil {
		t.Fatal(err)
	}
	var items []DeltaItem
	if err := json.Unmarshal(c.ReviewGroups, &items); err != nil {
		t.Fatalf("review_groups %s: %v", c.ReviewGroups, err)
	}
	want := []DeltaItem{{OpSet, "Risk; High"}, {OpSet, "PEP, foreign"}}
	if len(items) != len(want) || items[0] != want[0] || items[1] != want[1] {
		t.Errorf("review_groups items = %+v, want %+v", items, want)
	}
}

func TestMapVariations(t *testing.T) {
	const f = "variations"
	c := func(v any) []col { return []col{id, {f, v}} }
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	want := func(v string) string { return `{"external_id":"C1","variations":` + v + `}` }
	runMapCases(t, []mapCase{
		{name: "one", cols: c(raw(`[{"first_name": "Ann", "last_name": "Lee"}]`)),
			want: want(`[{"_op":"set","first_name":"Ann","last_name":"Lee"}]`)},
		{name: "every name", cols: c(raw(`[{"first_name":"A","middle_name":"B","last_name":"C","company_name":"D","trading_name":"E"}]`)),
			want: want(`[{"_op":"set","first_name":"A","middle_name":"B","last_name":"C","company_name":"D","trading_name":"E"}]`)},
		{name: "several, in order", cols: c(raw(`[{"last_name":"Lee"},{"company_name":"Lee Ltd"}]`)),
			want: want(`[{"_op":"set","last_name":"Lee"},{"_op":"set","company_name":"Lee Ltd"}]`)},
		{name: "names normalised", cols: c(raw(`[{"last_name":"  Le\u0301e \t  Smith ","first_name":"Ann\u00a0Marie"}]`)),
			want: want(`[{"_op":"set","first_name":"Ann Marie","last_name":"Lée Smith"}]`)},
		{name: "null and blank names left out", cols: c(raw(`[{"first_name":null,"middle_name":"  ","last_name":"Lee"}]`)),
			want: want(`[{"_op":"set","last_name":"Lee"}]`)},
		{name: "duplicates after normalisation dropped", cols: c(raw(`[{"last_name":"Lée"},{"last_name":" Le\u0301e "},{"last_name":"Lee"}]`)),
			want: want(`[{"_op":"set","last_name":"Lée"},{"_op":"set","last_name":"Lee"}]`)},
		{name: "text holding JSON", cols: c(` [{"last_name":"Lee"}] `), want: want(`[{"_op":"set","last_name":"Lee"}]`)},
		{name: "NULL", cols: c(nil), want: `{"external_id":"C1"}`},
		{name: "JSON null", cols: c(raw(`null`)), want: `{"external_id":"C1"}`},
		{name: "blank text", cols: c("  "), want: `{"external_id":"C1"}`},
		{name: "empty array", cols: c(raw(` [ ] `)), want: `{"external_id":"C1"}`},
		{name: "object", cols: c(raw(`{"last_name":"Lee"}`)), field: f, code: CodeInvalidVariations},
		{name: "string", cols: c(raw(`"Lee"`)), field: f, code: CodeInvalidVariations},
		{name: "not JSON", cols: c(raw(`[{"last_name":`)), field: f, code: CodeInvalidVariations},
		{name: "element a number", cols: c(raw(`[1]`)), field: f, code: CodeInvalidVariations, value: "1"},
		{name: "element null", cols: c(raw(`[null]`)), field: f, code: CodeInvalidVariations},
		{name: "element an array", cols: c(raw(`[["Lee"]]`)), field: f, code: CodeInvalidVariations},
		{name: "element with no key", cols: c(raw(`[{"last_name":"Lee"},{}]`)), field: f, code: CodeInvalidVariations, value: "{}"},
		{name: "element with only blank names", cols: c(raw(`[{"first_name":" ","last_name":null}]`)), field: f, code: CodeInvalidVariations},
		{name: "misspelt key", cols: c(raw(`[{"firstname":"Ann","last_name":"Lee"}]`)), field: f, code: CodeInvalidVariations},
		{name: "key in another case", cols: c(raw(`[{"Last_Name":"Lee"}]`)), field: f, code: CodeInvalidVariations},
		{name: "_op in the source", cols: c(raw(`[{"_op":"del","last_name":"Lee"}]`)), field: f, code: CodeInvalidVariations},
		{name: "name a number", cols: c(raw(`[{"last_name":42}]`)), field: f, code: CodeInvalidVariations},
		{name: "invalid UTF-8", cols: c(raw("[{\"last_name\":\"\xff\"}]")), field: f, code: CodeInvalidUTF8},
		{name: "integer", cols: c(int64(1)), field: f, code: CodeInvalidType},
		{name: "text array", cols: c([]string{"Lee"}), field: f, code: CodeInvalidType},
	})
}

func TestMapVariationsErrorNamesElement(t *testing.T) {
	_, err := mapRow(t, id, col{"variations", json.RawMessage(`[{"last_name":"Lee"},{"surname":"Li","zz":1}]`)})
	want := `variations "{\"surname\":\"Li\",\"zz\":1}": variation 2: key "surname" is not one of first_name, middle_name, last_name, company_name, trading_name`
	if err == nil || err.Error() != want {
		t.Errorf("Map error = %v\nwant %s", err, want)
	}
}

func TestMapVariationsEmptyIsNotNil(t *testing.T) {
	for _, tt := range []struct {
		v       any
		wantNil bool
	}{
		{json.RawMessage(`[]`), false},
		{nil, true},
		{json.RawMessage(`null`), true},
	} {
		c, err := mapRow(t, id, col{"variations", tt.v})
		if err != nil {
			t.Fatal(err)
		}
		if (c.Variations == nil) != tt.wantNil || len(c.Variations) != 0 {
			t.Errorf("variations %v gives %#v; want nil %v and empty", tt.v, c.Variations, tt.wantNil)
		}
	}
}

// TestMapNamesAreNFC checks the property on a larger sample: every name
// Map sends is in NFC and collapsed.
func TestMapNamesAreNFC(t *testing.T) {
	for _, in := range []string{"A\u030a", "\u0041\u0308\u0304", "\u1e9b\u0323", "ﬁ", "\u0958", " x\u0009\u0085y "} {
		c, err := mapRow(t, id, col{"first_name", in})
		if err != nil {
			t.Fatal(err)
		}
		if !norm.NFC.IsNormalString(c.FirstName) || collapseSpace(c.FirstName) != c.FirstName {
			t.Errorf("first_name %q is sent as %q: not NFC and collapsed", in, c.FirstName)
		}
	}
}
