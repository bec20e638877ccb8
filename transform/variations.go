package transform

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/algoreg/algoreg-etl/load"
)

// variations converts the value of variations: a JSON array, from json or
// jsonb or from text holding one, of objects whose keys are among
// first_name, middle_name, last_name, company_name and trading_name, each a
// string or null. Names are normalised like the name fields (normName); a
// blank or null name is left out. Each object gives a load.NameVariation
// with Op "set"; one whose names are all equal to an earlier one's is
// dropped.
//
// JSON null gives nil, like SQL NULL: the source says nothing. An empty
// array gives an empty, non-nil slice: the source says there is none, which
// [Delta] needs to know to remove what was sent before (the slice encodes
// as nothing, the field being omitted when empty).
//
// Anything else is an error (code "invalid_variations"): a value that is
// not an array, an element that is not an object, a key that is not a name
// (a misspelt key would otherwise drop a name silently; "_op" is not
// accepted either: removals are [Delta]'s), a name that is not a string,
// and an object with no name left.
func variations(v any) ([]load.NameVariation, *FieldError) {
	const f = fieldVariations
	b, fe := jsonValue(f, v, "json array")
	if fe != nil || len(b) == 0 {
		return nil, fe
	}
	if string(b) == "[]" { // most rows: none
		return []load.NameVariation{}, nil
	}
	var elems []map[string]json.RawMessage
	if b[0] != '[' || json.Unmarshal(b, &elems) != nil {
		return nil, badVariations(b)
	}
	out := make([]load.NameVariation, 0, len(elems))
	for i, obj := range elems {
		nv, reason := variation(obj)
		if reason != "" {
			e, _ := json.Marshal(obj) // the element, keys sorted
			return nil, fieldError(f, string(e), CodeInvalidVariations, fmt.Sprintf("variation %d: %s", i+1, reason))
		}
		if !slices.Contains(out, nv) {
			out = append(out, nv)
		}
	}
	return out, nil
}

// badVariations returns the error about b, a variations value that is not
// a JSON array of objects, naming the first element that is not an object
// when b is an array.
func badVariations(b []byte) *FieldError {
	const f = fieldVariations
	var elems []json.RawMessage
	if b[0] == '[' && json.Unmarshal(b, &elems) == nil {
		for i, e := range elems {
			if e = trimJSONSpace(e); len(e) == 0 || e[0] != '{' {
				return fieldError(f, string(e), CodeInvalidVariations, fmt.Sprintf("variation %d: want a JSON object", i+1))
			}
		}
	}
	return fieldError(f, string(b), CodeInvalidVariations, "want a JSON array of objects")
}

// variation converts one element of variations, or says why it cannot. A
// JSON null element arrives as a nil obj.
func variation(obj map[string]json.RawMessage) (nv load.NameVariation, reason string) {
	if obj == nil {
		return nv, "want a JSON object"
	}
	// The first wrong key in sorted order is reported, so that the error
	// does not depend on the map's order.
	bad, notText := "", ""
	for k, raw := range obj {
		var dst *string
		switch k {
		case "first_name":
			dst = &nv.FirstName
		case "middle_name":
			dst = &nv.MiddleName
		case "last_name":
			dst = &nv.LastName
		case "company_name":
			dst = &nv.CompanyName
		case "trading_name":
			dst = &nv.TradingName
		default:
			if bad == "" || k < bad {
				bad = k
			}
			continue
		}
		s, ok := jsonText(raw)
		if !ok && (notText == "" || k < notText) {
			notText = k
		}
		*dst = normName(s)
	}
	switch {
	case bad != "":
		return nv, fmt.Sprintf("key %q is not one of first_name, middle_name, last_name, company_name, trading_name", bad)
	case notText != "":
		return nv, notText + " is not a string or null"
	case nv == (load.NameVariation{}):
		return nv, "no name"
	}
	nv.Op = OpSet
	return nv, ""
}

// jsonText returns the string that raw, one valid JSON value, holds: ""
// for null; ok is false when raw is neither a string nor null.
func jsonText(raw json.RawMessage) (s string, ok bool) {
	switch {
	case string(raw) == "null":
		return "", true
	case len(raw) < 2 || raw[0] != '"':
		return "", false
	case !bytes.ContainsRune(raw, '\\'):
		return string(raw[1 : len(raw)-1]), true // nothing to unescape
	}
	return s, json.Unmarshal(raw, &s) == nil
}
