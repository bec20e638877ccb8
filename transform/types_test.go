package transform

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/algoreg/algoreg-etl/extract"
)

// TypeErrors names exactly the columns whose type Map refuses.
func TestTypeErrors(t *testing.T) {
	fields := func(fes []*FieldError) []string {
		var out []string
		for _, fe := range fes {
			if fe.Code != CodeInvalidType || fe.Value != "" {
				t.Errorf("%+v: want code %s and no value", fe, CodeInvalidType)
			}
			out = append(out, fe.Field)
		}
		return out
	}
	c, err := NewCustomers(extract.Columns{"last_name", "external_id", "kyc_level", "fields", "disabled", "date_of_birth", "nationality_codes", "variations", "phone"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := fields(c.TypeErrors([]any{[]string(nil), int64(0), "", false, false, time.Time{}, "", json.RawMessage(nil), float64(0)}))
	if want := []string{"last_name", "fields", "phone"}; !reflect.DeepEqual(got, want) {
		t.Errorf("customers: type errors of %v, want %v", got, want)
	}
	if got := c.TypeErrors([]any{"", "", int64(0), json.RawMessage(nil), false, time.Time{}, []string(nil), "", ""}); len(got) != 0 {
		t.Errorf("customers: usable types refused: %v", fields(got))
	}

	r, err := NewRelations(extract.Columns{"relation_type", "relation_external_id", "parent_customer_external_id", "child_customer_external_id", "disabled"}, RelationOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got = fields(r.TypeErrors([]any{false, "", int64(0), float64(0), ""}))
	if want := []string{"relation_type", "child_customer_external_id", "disabled"}; !reflect.DeepEqual(got, want) {
		t.Errorf("relations: type errors of %v, want %v", got, want)
	}
}
