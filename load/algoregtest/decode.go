package algoregtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"

	"github.com/algoreg/algoreg-etl/load"
)

// call is a decoded Save request together with the raw form of its records,
// which tells a field sent as null or "" from an omitted one.
type call struct {
	req        *load.SaveRequest
	customers  []map[string]json.RawMessage   // one per req.Customers
	variations [][]map[string]json.RawMessage // one list per req.Customers
	relations  []map[string]json.RawMessage   // one per req.Relations
}

// The exact JSON names of the wire types, read from their tags so they stay
// in step with package load.
var (
	requestKeys   = jsonKeys(reflect.TypeFor[load.SaveRequest]())
	customerKeys  = jsonKeys(reflect.TypeFor[load.Customer]())
	variationKeys = jsonKeys(reflect.TypeFor[load.NameVariation]())
	relationKeys  = jsonKeys(reflect.TypeFor[load.Relation]())
)

// decode decodes a request body strictly; its error says what is wrong and
// where, for the answer's 400 body.
func decode(body []byte) (*call, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, errors.New("the body is empty")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	req := new(load.SaveRequest)
	if err := dec.Decode(req); err != nil {
		return nil, fmt.Errorf("invalid body: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("invalid body: data after the JSON object")
	}

	// encoding/json matches names in any letter case; the keys of the raw
	// objects show the names exactly as sent.
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil || top == nil {
		return nil, errors.New("invalid body: not a JSON object")
	}
	if err := checkKeys("the request", top, requestKeys); err != nil {
		return nil, err
	}
	for _, k := range sortedKeys(top) {
		if isNull(top[k]) {
			return nil, fmt.Errorf("invalid body: %s is null; omit it instead", k)
		}
	}
	c := &call{req: req}
	if err := unmarshalRecords(top["customers"], &c.customers); err != nil {
		return nil, err
	}
	c.variations = make([][]map[string]json.RawMessage, len(c.customers))
	for i, m := range c.customers {
		where := fmt.Sprintf("customers[%d]", i)
		if err := checkKeys(where, m, customerKeys); err != nil {
			return nil, err
		}
		if err := unmarshalRecords(m["variations"], &c.variations[i]); err != nil {
			return nil, err
		}
		for j, v := range c.variations[i] {
			if err := checkKeys(fmt.Sprintf("%s.variations[%d]", where, j), v, variationKeys); err != nil {
				return nil, err
			}
		}
	}
	if err := unmarshalRecords(top["relations"], &c.relations); err != nil {
		return nil, err
	}
	for i, m := range c.relations {
		if err := checkKeys(fmt.Sprintf("relations[%d]", i), m, relationKeys); err != nil {
			return nil, err
		}
	}
	if len(req.Customers) == 0 && len(req.Relations) == 0 {
		return nil, errors.New("the request holds no customers and no relations")
	}
	return c, nil
}

// unmarshalRecords decodes an array of objects, if present and not null,
// into their raw fields. The typed decoding has already checked the shape.
func unmarshalRecords(raw json.RawMessage, into *[]map[string]json.RawMessage) error {
	if raw == nil || isNull(raw) {
		return nil
	}
	if err := json.Unmarshal(raw, into); err != nil {
		return fmt.Errorf("invalid body: %v", err)
	}
	return nil
}

// checkKeys reports the first key of m that is not exactly one of keys.
func checkKeys(where string, m map[string]json.RawMessage, keys map[string]bool) error {
	for _, k := range sortedKeys(m) {
		if !keys[k] {
			return fmt.Errorf("invalid body: unknown field %q in %s", k, where)
		}
	}
	return nil
}

// jsonKeys returns the JSON names of the fields of struct type t.
func jsonKeys(t reflect.Type) map[string]bool {
	keys := make(map[string]bool, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = t.Field(i).Name
		}
		keys[name] = true
	}
	return keys
}

// sortedKeys returns the keys of m in order, for answers that do not change
// from one run to the next.
func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// isNull reports whether a raw value is JSON null.
func isNull(v json.RawMessage) bool { return string(v) == "null" }

// isBlankString reports whether a raw value is a JSON string that is empty
// or only white space.
func isBlankString(v json.RawMessage) bool {
	if len(v) < 2 || v[0] != '"' {
		return false
	}
	inner := v[1 : len(v)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return len(bytes.TrimSpace(inner)) == 0
	}
	var s string
	return json.Unmarshal(v, &s) == nil && strings.TrimSpace(s) == ""
}
