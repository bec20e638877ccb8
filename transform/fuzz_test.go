package transform

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/algoreg/algoreg-etl/extract"
	"github.com/algoreg/algoreg-etl/load"
	"golang.org/x/text/unicode/norm"
)

var allCodes = []string{CodeMissing, CodeInvalidType, CodeInvalidUTF8, CodeInvalidAccountType, CodeInvalidDate,
	CodeDateInFuture, CodeDateTooEarly, CodeInvalidCountryCode, CodeInvalidInteger, CodeNegativeInteger, CodeInvalidFields,
	CodeInvalidVariations}

// FuzzMap maps rows whose every column (every customer field, variations
// included) holds a value of a fuzzed type (chosen by kinds) made from the
// fuzzed s1, s2, n and b, with the default account types and with
// configured ones, and checks that what Map sends is clean and that Delta
// behaves on it.
func FuzzMap(f *testing.F) {
	// kinds, by column: external_id account_type first_name middle_name
	// last_name company_name trading_name date_of_birth nationality_codes
	// domicile_codes alias_ids registration_number phone comment disabled
	// kyc_level kyc_level_requested parent_external_id review_groups
	// contacts fields variations.
	f.Add("C1", "gb", int64(3), true, []byte{1, 1, 1, 1, 1, 1, 1, 2, 6, 2, 6, 1, 1, 1, 4, 3, 3, 3, 1, 1, 7, 0})
	f.Add(" N ", "1980-02-29", int64(-1), false, []byte{2, 1, 1, 0, 0, 0, 0, 2, 2, 2, 0, 0, 0, 0, 4, 1, 1, 3, 1, 2, 2, 0})
	f.Add(`{"a": [1, {"b": null}]}`, "2023-02-30", int64(1<<62), false, []byte{3, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 7, 0})
	f.Add("\xff\xfe", " \u00a0 ", int64(0), true, []byte{1, 2, 8, 6, 5, 4, 3})
	f.Add("xk", "{}", int64(-62135596800), true, []byte{1, 1, 0, 0, 0, 0, 0, 5, 1, 6, 6, 0, 0, 0, 0, 2, 2, 0, 6, 1, 2, 0})
	// New columns: names to normalise, alpha-3 codes, timestamp text,
	// array forms, variations.
	f.Add("Jose\u0301  Mari\u0301a", "1980-02-29 00:00:00+01", int64(7), false, []byte{3, 0, 1, 1, 1, 1, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 6, 6, 0, 0})
	f.Add("GBR", "Risk; High", int64(1), false, []byte{3, 0, 0, 0, 0, 0, 0, 0, 6, 1, 0, 0, 0, 0, 0, 0, 0, 0, 6, 2, 0, 0})
	f.Add(`[{"first_name":"Ann","last_name":" Le\u0301e "},{"company_name":"Lee\u00a0Ltd"}]`, "F", int64(2), false,
		[]byte{3, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7})
	f.Add(`[{"_op":"del","last_name":"x"}, null, {}]`, "n", int64(2), false, []byte{3, 2, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7})
	f.Add("company", "A;;B,", int64(4), true, []byte{3, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 6, 0, 1})
	cols := extract.Columns(customerFields)
	m, err := NewCustomers(cols, Options{Now: fixedNow})
	if err != nil {
		f.Fatal(err)
	}
	words, err := NewCustomers(cols, Options{Now: fixedNow, AccountTypes: map[string]string{"company": "F", "person": "N", "F": "F"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s1, s2 string, n int64, b bool, kinds []byte) {
		values := make([]any, len(cols))
		for i := range values {
			k := byte(1)
			if i < len(kinds) {
				k = kinds[i] % 9
			}
			switch k {
			case 0:
				values[i] = nil
			case 1:
				values[i] = s1
			case 2:
				values[i] = s2
			case 3:
				values[i] = n
			case 4:
				values[i] = b
			case 5:
				values[i] = time.Unix(n%(1<<40), 0).UTC()
			case 6:
				values[i] = []string{s1, s2}
			case 7:
				values[i] = json.RawMessage(s1)
			case 8:
				values[i] = float64(n)
			}
		}
		row := extract.Row{Columns: cols, Values: values}
		for _, m := range []*Customers{m, words} {
			c, err := m.Map(row)
			if err != nil {
				checkFieldError(t, err)
				continue
			}
			checkCustomer(t, &c, s1, s2)
		}
	})
}

// checkFieldError checks that err, from Map, is a well-formed *FieldError.
func checkFieldError(t *testing.T, err error) {
	t.Helper()
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("Map error %v (%T) is not a *FieldError", err, err)
	}
	if _, ok := lookupField(fe.Field); !ok {
		t.Errorf("FieldError.Field %q is not a field", fe.Field)
	}
	if !slices.Contains(allCodes, fe.Code) {
		t.Errorf("FieldError.Code %q is not a known code", fe.Code)
	}
	if fe.Reason == "" || fe.Error() == "" {
		t.Errorf("FieldError %#v says nothing", fe)
	}
	if !utf8.ValidString(fe.Value) || utf8.RuneCountInString(fe.Value) > maxValueRunes {
		t.Errorf("FieldError.Value %q is not valid UTF-8 of at most %d runes", fe.Value, maxValueRunes)
	}
}

// checkCustomer checks that c, from Map of a row made of s1 and s2, is what
// the package promises to send.
func checkCustomer(t *testing.T, c *load.Customer, s1, s2 string) {
	t.Helper()
	texts := []string{c.ExternalID, c.AccountType, c.FirstName, c.MiddleName, c.LastName, c.CompanyName,
		c.TradingName, c.DateOfBirth, c.RegistrationNumber, c.Phone, c.Comment, c.ParentExternalID}
	texts = append(texts, c.NationalityCodes...)
	texts = append(texts, c.DomicileCodes...)
	texts = append(texts, c.AliasIDs...)
	for _, s := range texts {
		if !utf8.ValidString(s) || strings.TrimSpace(s) != s {
			t.Errorf("Map sends %q: not valid UTF-8 or not trimmed", s)
		}
	}
	names := []string{c.FirstName, c.MiddleName, c.LastName, c.CompanyName, c.TradingName}
	for _, v := range c.Variations {
		names = append(names, v.FirstName, v.MiddleName, v.LastName, v.CompanyName, v.TradingName)
	}
	for _, s := range names {
		if !norm.NFC.IsNormalString(s) || collapseSpace(s) != s {
			t.Errorf("Map sends name %q: not in NFC or not collapsed", s)
		}
	}
	if c.ExternalID == "" {
		t.Error("Map succeeded without an external_id")
	}
	switch c.AccountType {
	case "":
	case load.AccountFirm:
		if c.CompanyName == "" {
			t.Error("Map sends a firm without a company_name")
		}
	case load.AccountIndividual:
		if c.LastName == "" {
			t.Error("Map sends an individual without a last_name")
		}
	default:
		t.Errorf("Map sends account_type %q", c.AccountType)
	}
	for _, s := range slices.Concat(c.NationalityCodes, c.DomicileCodes) {
		if code, ok := countryCode(s); !ok || code != s || len(s) != 2 {
			t.Errorf("Map sends country code %q", s)
		}
	}
	if c.DateOfBirth != "" {
		if _, _, _, ok := parseDate(c.DateOfBirth); !ok || c.DateOfBirth > "2025-06-15" || c.DateOfBirth < "1800-01-01" {
			t.Errorf("Map sends date of birth %q", c.DateOfBirth)
		}
	}
	if c.Fields != nil {
		var obj map[string]any
		if err := json.Unmarshal(c.Fields, &obj); err != nil || len(obj) == 0 {
			t.Errorf("Map sends fields %s, not a non-empty object", c.Fields)
		}
	}
	for _, raw := range []json.RawMessage{c.ReviewGroups, c.Contacts} {
		checkNameList(t, raw, s1, s2)
	}
	for i, v := range c.Variations {
		if v.Op != OpSet || v == (load.NameVariation{Op: OpSet}) {
			t.Errorf("Map sends variation %+v: not set, or no name", v)
		}
		if slices.Contains(c.Variations[:i], v) {
			t.Errorf("Map sends variation %+v twice", v)
		}
	}
	if _, err := HashCustomer(c); err != nil {
		t.Errorf("HashCustomer: %v", err)
	}
	checkEncodeCustomer(t, c)
	checkDelta(t, c)
	empty := load.Customer{ExternalID: c.ExternalID, ReviewGroups: json.RawMessage(`[]`), Contacts: json.RawMessage(`[]`),
		Variations: []load.NameVariation{}}
	if _, err := EncodeCustomer(&empty); err != nil {
		t.Fatal(err)
	}
	for _, prev := range []*load.Customer{nil, c, &empty} {
		for _, cur := range []*load.Customer{c, &empty} {
			checkDeltaEncoded(t, prev, cur)
		}
	}
}

// checkNameList checks review_groups or contacts as sent: nothing, a
// string form made of s1 or s2, or an array of distinct "set" items.
func checkNameList(t *testing.T, raw json.RawMessage, s1, s2 string) {
	t.Helper()
	if raw == nil {
		return
	}
	if items, ok := deltaItems(raw); ok {
		for i, it := range items {
			if it.Op != OpSet || it.Value == "" || strings.TrimSpace(it.Value) != it.Value || !norm.NFC.IsNormalString(it.Value) {
				t.Errorf("Map sends item %+v: not a trimmed name in NFC to set", it)
			}
			if slices.Contains(items[:i], it) {
				t.Errorf("Map sends item %+v twice", it)
			}
		}
		return
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Errorf("Map sends review_groups or contacts %s: neither a string nor an array of items (%v)", raw, err)
		return
	}
	if s == "" || hasBlankEntry(s) || !norm.NFC.IsNormalString(s) {
		t.Errorf("Map sends review_groups or contacts %q: empty, with an empty entry, or not NFC", s)
	}
	if e := entries(s); !slices.Equal(e, entries(nfc(s1))) && !slices.Equal(e, entries(nfc(s2))) {
		t.Errorf("Map sends review_groups or contacts %q, whose entries are not those of %q or %q", s, s1, s2)
	}
}

// entries returns the entries of a string form, trimmed, without blanks.
func entries(s string) []string {
	var out []string
	for _, e := range strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == ',' }) {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// checkDelta checks Delta on c: against itself it removes nothing, and
// against a customer whose lists are all empty it removes each item c set.
func checkDelta(t *testing.T, c *load.Customer) {
	t.Helper()
	same := Delta(c, c)
	// Sent again unchanged, c keeps its lists but the empty ones, which
	// have nothing to set or remove.
	kept := *c
	for _, l := range []*json.RawMessage{&kept.ReviewGroups, &kept.Contacts} {
		if string(*l) == "[]" {
			*l = nil
		}
	}
	if len(kept.Variations) == 0 {
		kept.Variations = nil
	}
	want, _ := json.Marshal(&kept)
	if got, _ := json.Marshal(same); string(got) != string(want) {
		t.Errorf("Delta(c, c) = %s, want c %s", got, want)
	}
	empty := load.Customer{ExternalID: c.ExternalID, ReviewGroups: json.RawMessage(`[]`), Contacts: json.RawMessage(`[]`),
		Variations: []load.NameVariation{}}
	gone := Delta(c, &empty)
	for _, pair := range [][2]json.RawMessage{{c.ReviewGroups, gone.ReviewGroups}, {c.Contacts, gone.Contacts}} {
		prev, ok := deltaItems(pair[0])
		if !ok {
			if pair[1] != nil {
				t.Errorf("Delta from the string form %s gives %s, want the empty list left out", pair[0], pair[1])
			}
			continue
		}
		dels, _ := deltaItems(pair[1])
		if len(dels) != len(prev) {
			t.Errorf("Delta from %s to [] gives %s, want one del per item", pair[0], pair[1])
		}
		for i, d := range dels {
			if d.Op != OpDel || d.Value != prev[i].Value {
				t.Errorf("Delta from %s to [] gives %s, want del of each item in order", pair[0], pair[1])
				break
			}
		}
	}
	if len(gone.Variations) != len(c.Variations) {
		t.Errorf("Delta from variations %+v to none gives %+v, want one del each", c.Variations, gone.Variations)
	}
	for _, v := range gone.Variations {
		if v.Op != OpDel {
			t.Errorf("Delta to no variations gives %+v, want del", v)
		}
	}
}
