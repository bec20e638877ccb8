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
)

var allCodes = []string{CodeMissing, CodeInvalidType, CodeInvalidUTF8, CodeInvalidAccountType, CodeInvalidDate,
	CodeDateInFuture, CodeDateTooEarly, CodeInvalidCountryCode, CodeInvalidInteger, CodeNegativeInteger, CodeInvalidFields}

// FuzzMap maps rows whose every column holds a value of a fuzzed type
// (chosen by kinds) made from the fuzzed s1, s2, n and b.
func FuzzMap(f *testing.F) {
	f.Add("C1", "gb", int64(3), true, []byte{1, 1, 1, 1, 1, 1, 1, 2, 6, 2, 6, 1, 1, 1, 4, 3, 3, 3, 1, 1, 7})
	f.Add(" N ", "1980-02-29", int64(-1), false, []byte{2, 1, 1, 0, 0, 0, 0, 2, 2, 2, 0, 0, 0, 0, 4, 1, 1, 3, 1, 2, 2})
	f.Add(`{"a": [1, {"b": null}]}`, "2023-02-30", int64(1<<62), false, []byte{3, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 7})
	f.Add("\xff\xfe", " \u00a0 ", int64(0), true, []byte{1, 2, 8, 6, 5, 4, 3})
	f.Add("xk", "{}", int64(-62135596800), true, []byte{1, 1, 0, 0, 0, 0, 0, 5, 1, 6, 6, 0, 0, 0, 0, 2, 2, 0, 6, 1, 2})
	cols := extract.Columns(fieldNames[:])
	m, err := NewCustomers(cols, Options{Now: fixedNow})
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
		c, err := m.Map(extract.Row{Columns: cols, Values: values})
		if err != nil {
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
			return
		}
		// What is sent is clean.
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
		if c.ExternalID == "" {
			t.Error("Map succeeded without an external_id")
		}
		for _, s := range slices.Concat(c.NationalityCodes, c.DomicileCodes) {
			if code, ok := countryCode(s); !ok || code != s {
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
			if raw == nil {
				continue
			}
			var s string
			if err := json.Unmarshal(raw, &s); err != nil || s == "" || (s != strings.TrimSpace(s1) && s != strings.TrimSpace(s2)) {
				t.Errorf("Map sends review_groups or contacts %s (%v), not a trimmed input string", raw, err)
			}
		}
		if _, err := HashCustomer(&c); err != nil {
			t.Errorf("HashCustomer: %v", err)
		}
	})
}
