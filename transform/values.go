package transform

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file converts one row value to the value of one field. Each function
// returns a *FieldError, never an error interface holding a nil pointer.

// text converts the value of a text field: trimmed, "" when NULL or blank.
func text(f field, v any) (string, *FieldError) {
	switch v := v.(type) {
	case nil:
		return "", nil
	case string:
		return trim(f, v)
	}
	return "", invalidType(f, v, "text")
}

// trim checks that s is valid UTF-8 and trims its surrounding white space.
func trim(f field, s string) (string, *FieldError) {
	if !utf8.ValidString(s) {
		return "", fieldError(f, s, CodeInvalidUTF8, "not valid UTF-8")
	}
	return strings.TrimSpace(s), nil
}

// key converts the value of external_id or parent_external_id: text, or an
// integer written in decimal, since a key column is often numeric.
func key(f field, v any) (string, *FieldError) {
	switch v := v.(type) {
	case nil:
		return "", nil
	case string:
		return trim(f, v)
	case int64:
		return strconv.FormatInt(v, 10), nil
	}
	return "", invalidType(f, v, "text or integer")
}

// list returns the elements of a text[] value, or of a text value taken as
// a one-element list.
func list(f field, v any, one *[1]string) ([]string, *FieldError) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case []string:
		return v, nil
	case string:
		one[0] = v
		return one[:], nil
	}
	return nil, invalidType(f, v, "text[]")
}

// countryCodes converts the value of nationality_codes or domicile_codes:
// accepted alpha-2 country codes, without blanks or duplicates, in the
// order given; nil when none is left.
func (m *Customers) countryCodes(f field, v any) ([]string, *FieldError) {
	return elements(f, v, true, func(s string) (string, *FieldError) {
		if len(m.countries) > 0 {
			if code, ok := m.countries[strings.ToLower(s)]; ok {
				return code, nil
			}
		}
		code, why := countryOf(s)
		if code == "" {
			return "", fieldError(f, s, CodeInvalidCountryCode, why)
		}
		return code, nil
	})
}

// strs converts the value of alias_ids: trimmed strings without blanks, in
// the order given; nil when none is left.
func strs(f field, v any) ([]string, *FieldError) {
	return elements(f, v, false, nil)
}

// elements converts a text[] value, or text taken as a one-element list,
// element by element: each is trimmed, blank ones are dropped, the rest go
// through conv (when not nil; "" drops it) and, with unique, repeats are dropped. It
// returns nil when none is left.
func elements(f field, v any, unique bool, conv func(string) (string, *FieldError)) ([]string, *FieldError) {
	var one [1]string
	in, fe := list(f, v, &one)
	if fe != nil {
		return nil, fe
	}
	var out []string
	for _, s := range in {
		s, fe := trim(f, s)
		if fe != nil {
			return nil, fe
		}
		if s == "" {
			continue
		}
		if conv != nil {
			if s, fe = conv(s); fe != nil {
				return nil, fe
			}
			if s == "" { // conv drops it
				continue
			}
		}
		if unique && slices.Contains(out, s) {
			continue
		}
		if out == nil {
			out = make([]string, 0, len(in))
		}
		out = append(out, s)
	}
	return out, nil
}

// level converts the value of kyc_level or kyc_level_requested: a
// non-negative integer, or text holding one. ok is false when the value is
// NULL or blank.
func level(f field, v any) (n int64, ok bool, fe *FieldError) {
	switch v := v.(type) {
	case nil:
		return 0, false, nil
	case int64:
		n = v
	case string:
		s, fe := trim(f, v)
		if fe != nil || s == "" {
			return 0, false, fe
		}
		var err error
		if n, err = strconv.ParseInt(s, 10, 64); err != nil {
			return 0, false, fieldError(f, s, CodeInvalidInteger, "want a whole number")
		}
	default:
		return 0, false, invalidType(f, v, "integer")
	}
	if n < 0 {
		return 0, false, fieldError(f, n, CodeNegativeInteger, "must not be negative")
	}
	return n, true, nil
}

// flag converts the value of disabled. ok is false when the value is NULL.
func flag(f field, v any) (b, ok bool, fe *FieldError) {
	switch v := v.(type) {
	case nil:
		return false, false, nil
	case bool:
		return v, true, nil
	}
	return false, false, invalidType(f, v, "boolean")
}

// jsonValue returns the JSON text of a json or jsonb value, or of text
// holding JSON, trimmed of white space; nil for NULL, blank text and JSON
// null. want names the JSON type expected, for errors.
func jsonValue(f field, v any, want string) ([]byte, *FieldError) {
	var b []byte
	switch v := v.(type) {
	case nil:
		return nil, nil
	case json.RawMessage:
		b = v
	case string:
		s, fe := trim(f, v)
		if fe != nil || s == "" {
			return nil, fe
		}
		b = []byte(s)
	default:
		return nil, invalidType(f, v, want)
	}
	if !utf8.Valid(b) {
		return nil, fieldError(f, string(b), CodeInvalidUTF8, "not valid UTF-8")
	}
	b = trimJSONSpace(b)
	if string(b) == "null" {
		return nil, nil
	}
	return b, nil
}

// object converts the value of fields: a JSON object, from json or jsonb, or
// from text holding one. An empty object and JSON null give nil.
func object(f field, v any) (json.RawMessage, *FieldError) {
	b, fe := jsonValue(f, v, "json object")
	switch {
	case fe != nil || len(b) == 0:
		return nil, fe
	case !json.Valid(b):
		return nil, fieldError(f, string(b), CodeInvalidFields, "not valid JSON")
	case b[0] != '{':
		return nil, fieldError(f, string(b), CodeInvalidFields, "want a JSON object")
	case len(trimJSONSpace(b[1:])) == 1: // only the closing brace is left
		return nil, nil
	}
	return json.RawMessage(b), nil
}

// trimJSONSpace trims JSON's white space from both ends of b.
func trimJSONSpace(b []byte) []byte {
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}
