package transform

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/algoreg/algoreg-etl/extract"
	"github.com/algoreg/algoreg-etl/load"
)

func TestRelationsMap(t *testing.T) {
	cols := extract.Columns{"relation_external_id", "parent_customer_external_id", "child_customer_external_id", "relation_type", "disabled", "fields"}
	m, err := NewRelations(cols, RelationOptions{Types: map[string]int64{"Director": 1, "ubo": 3}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		vals  []any
		want  string // JSON of the relation
		field string // of the error
		code  string
	}{
		{"mapped kind", []any{"L-1", "F-1", "P-1", " director ", true, json.RawMessage(`{"share_pct": 30}`)},
			`{"relation_external_id":"L-1","parent_customer_external_id":"F-1","child_customer_external_id":"P-1","relation_type":1,"disabled":true,"fields":{"share_pct":30}}`, "", ""},
		{"integer type and ids", []any{int64(7), int64(1), int64(2), int64(2), false, nil},
			`{"relation_external_id":"7","parent_customer_external_id":"1","child_customer_external_id":"2","relation_type":2,"disabled":false}`, "", ""},
		{"unknown kind", []any{"L-1", "F-1", "P-1", "nephew", nil, nil}, "", "relation_type", CodeInvalidRelationType},
		{"zero type", []any{"L-1", "F-1", "P-1", int64(0), nil, nil}, "", "relation_type", CodeInvalidRelationType},
		{"no type", []any{"L-1", "F-1", "P-1", nil, nil, nil}, "", "relation_type", CodeMissing},
		{"no parent", []any{"L-1", " ", "P-1", "ubo", nil, nil}, "", "parent_customer_external_id", CodeMissing},
		{"no id", []any{nil, "F-1", "P-1", "ubo", nil, nil}, "", "relation_external_id", CodeMissing},
		{"self", []any{"L-1", "F-1", "F-1", "ubo", nil, nil}, "", "child_customer_external_id", CodeInvalidRelation},
		{"fields not an object", []any{"L-1", "F-1", "P-1", "ubo", nil, json.RawMessage(`[1]`)}, "", "fields", CodeInvalidFields},
		{"wrong type", []any{"L-1", "F-1", "P-1", "ubo", "yes", nil}, "", "disabled", CodeInvalidType},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := m.Map(extract.Row{Columns: cols, Values: tc.vals})
			if tc.code != "" {
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Field != tc.field || fe.Code != tc.code {
					t.Fatalf("Map = %+v, %v; want a %s error on %s", r, err, tc.code, tc.field)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(r)
			if string(got) != tc.want {
				t.Errorf("Map =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestNewRelations(t *testing.T) {
	base := extract.Columns{"relation_external_id", "parent_customer_external_id", "child_customer_external_id", "relation_type"}
	for _, tc := range []struct {
		name string
		cols extract.Columns
		opts RelationOptions
		want string
	}{
		{"customer column", append(base[:4:4], "first_name"), RelationOptions{}, `"first_name" is not a relation field`},
		{"typo", append(base[:4:4], "disabld"), RelationOptions{}, `did you mean "disabled"`},
		{"missing type", base[:3], RelationOptions{}, `no "relation_type" column`},
		{"twice", append(base[:4:4], "relation_type"), RelationOptions{}, "appears twice"},
		{"bad mapping", base, RelationOptions{Types: map[string]int64{"x": 0}}, "positive"},
	} {
		if _, err := NewRelations(tc.cols, tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: NewRelations = %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	if _, err := NewCustomers(base, Options{}); err == nil {
		t.Error("NewCustomers accepts relation columns")
	}
}

func TestHashRelation(t *testing.T) {
	a := load.Relation{RelationExternalID: "L-1", ParentCustomerExternalID: "F", ChildCustomerExternalID: "P", RelationType: 1}
	b := a
	ha, _ := HashRelation(&a)
	hb, _ := HashRelation(&b)
	b.RelationType = 2
	hc, _ := HashRelation(&b)
	if ha != hb || ha == hc {
		t.Errorf("hashes %v %v %v", ha, hb, hc)
	}
}

// FuzzRelationsMap feeds hostile values to every relation column: Map never
// panics, and every failure is a *FieldError naming a field and a code.
func FuzzRelationsMap(f *testing.F) {
	f.Add("L-1", "F-1", "P-1", "director", int64(1), true, `{"share_pct": 30}`)
	f.Add("", " ", "\xff", "", int64(-3), false, `[`)
	cols := extract.Columns{"relation_external_id", "parent_customer_external_id", "child_customer_external_id", "relation_type", "disabled", "fields"}
	m, err := NewRelations(cols, RelationOptions{Types: map[string]int64{"director": 1}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, id, parent, child, kind string, n int64, b bool, fields string) {
		for _, typ := range []any{kind, n, nil} {
			r, err := m.Map(extract.Row{Columns: cols, Values: []any{id, parent, child, typ, b, json.RawMessage(fields)}})
			if err != nil {
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Field == "" || fe.Code == "" {
					t.Fatalf("Map error %v is not a well-formed *FieldError", err)
				}
				continue
			}
			if r.RelationExternalID == "" || r.ParentCustomerExternalID == "" || r.RelationType < 1 || r.ParentCustomerExternalID == r.ChildCustomerExternalID {
				t.Fatalf("Map accepted %+v", r)
			}
			if _, err := HashRelation(&r); err != nil {
				t.Fatal(err)
			}
		}
	})
}
