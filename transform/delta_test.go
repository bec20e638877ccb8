package transform

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/algoreg/algoreg-etl/extract"
	"github.com/algoreg/algoreg-etl/load"
)

// rowOf returns a row of cols holding values.
func rowOf(cols extract.Columns, values ...any) extract.Row {
	return extract.Row{Columns: cols, Values: values}
}

// sent returns c as the pipeline would read back what it last sent: its
// JSON, decoded.
func sent(t *testing.T, c load.Customer) *load.Customer {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var p load.Customer
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	return &p
}

// mapped maps a row of external_id C1 and cols, failing the test on error.
func mapped(t *testing.T, cols ...col) load.Customer {
	t.Helper()
	c, err := mapRow(t, append([]col{id}, cols...)...)
	if err != nil {
		t.Fatalf("Map: %v", err)
	}
	return c
}

func TestDelta(t *testing.T) {
	groups := func(v any) col { return col{"review_groups", v} }
	contacts := func(v any) col { return col{"contacts", v} }
	vars := func(s string) col { return col{"variations", json.RawMessage(s)} }
	tests := []struct {
		name      string
		prev      []col // nil: no previous send
		cur       []col
		want      string
		unchanged bool // the result is cur itself
	}{
		{name: "no previous send", cur: []col{groups([]string{"B"})},
			want: `{"external_id":"C1","review_groups":[{"_op":"set","value":"B"}]}`, unchanged: true},
		{name: "group removed", prev: []col{groups([]string{"A", "B"})}, cur: []col{groups([]string{"B"})},
			want: `{"external_id":"C1","review_groups":[{"_op":"set","value":"B"},{"_op":"del","value":"A"}]}`},
		{name: "every group removed", prev: []col{groups([]string{"A", "Risk; High"})}, cur: []col{groups([]string{})},
			want: `{"external_id":"C1","review_groups":[{"_op":"del","value":"A"},{"_op":"del","value":"Risk; High"}]}`},
		{name: "group added, none removed", prev: []col{groups([]string{"A"})}, cur: []col{groups([]string{"A", "C"})},
			want: `{"external_id":"C1","review_groups":[{"_op":"set","value":"A"},{"_op":"set","value":"C"}]}`, unchanged: true},
		{name: "groups unchanged", prev: []col{groups([]string{"A", "B"})}, cur: []col{groups([]string{"B", "A"})},
			want: `{"external_id":"C1","review_groups":[{"_op":"set","value":"B"},{"_op":"set","value":"A"}]}`, unchanged: true},
		{name: "column NULL now: left alone", prev: []col{groups([]string{"A"})}, cur: []col{groups(nil)},
			want: `{"external_id":"C1"}`, unchanged: true},
		{name: "column gone now: left alone", prev: []col{groups([]string{"A"})}, cur: nil,
			want: `{"external_id":"C1"}`, unchanged: true},
		{name: "string form before: cur as it is", prev: []col{groups("A;B")}, cur: []col{groups([]string{"B"})},
			want: `{"external_id":"C1","review_groups":[{"_op":"set","value":"B"}]}`, unchanged: true},
		{name: "string form now: the string replaces the list", prev: []col{groups([]string{"A", "B"})}, cur: []col{groups("B")},
			want: `{"external_id":"C1","review_groups":"B"}`, unchanged: true},
		{name: "contacts removed", prev: []col{contacts([]string{"ops@example.com", "risk@example.com"})}, cur: []col{contacts([]string{"risk@example.com"})},
			want: `{"external_id":"C1","contacts":[{"_op":"set","value":"risk@example.com"},{"_op":"del","value":"ops@example.com"}]}`},
		{name: "groups and contacts apart", prev: []col{groups([]string{"A"}), contacts([]string{"x"})}, cur: []col{groups([]string{"A"}), contacts([]string{"y"})},
			want: `{"external_id":"C1","review_groups":[{"_op":"set","value":"A"}],"contacts":[{"_op":"set","value":"y"},{"_op":"del","value":"x"}]}`},
		{name: "variation removed",
			prev: []col{vars(`[{"first_name":"Ann","last_name":"Lee"},{"last_name":"Li"}]`)},
			cur:  []col{vars(`[{"first_name":"Ann","last_name":"Lee"}]`)},
			want: `{"external_id":"C1","variations":[{"_op":"set","first_name":"Ann","last_name":"Lee"},{"_op":"del","last_name":"Li"}]}`},
		{name: "variation identified by all its names",
			prev: []col{vars(`[{"first_name":"Ann","last_name":"Lee"}]`)},
			cur:  []col{vars(`[{"last_name":"Lee"}]`)},
			want: `{"external_id":"C1","variations":[{"_op":"set","last_name":"Lee"},{"_op":"del","first_name":"Ann","last_name":"Lee"}]}`},
		{name: "name moved to another field is another variation",
			prev: []col{vars(`[{"company_name":"Lee"}]`)},
			cur:  []col{vars(`[{"trading_name":"Lee"}]`)},
			want: `{"external_id":"C1","variations":[{"_op":"set","trading_name":"Lee"},{"_op":"del","company_name":"Lee"}]}`},
		{name: "every variation removed", prev: []col{vars(`[{"last_name":"Li"}]`)}, cur: []col{vars(`[]`)},
			want: `{"external_id":"C1","variations":[{"_op":"del","last_name":"Li"}]}`},
		{name: "variations NULL now: left alone", prev: []col{vars(`[{"last_name":"Li"}]`)}, cur: []col{{"variations", nil}},
			want: `{"external_id":"C1"}`, unchanged: true},
		{name: "variations unchanged", prev: []col{vars(`[{"last_name":"Li"}]`)}, cur: []col{vars(`[{"last_name":"Li"}]`)},
			want: `{"external_id":"C1","variations":[{"_op":"set","last_name":"Li"}]}`, unchanged: true},
		{name: "other fields untouched", prev: []col{{"first_name", "Ann"}, groups([]string{"A"})}, cur: []col{{"first_name", "Anne"}, groups([]string{})},
			want: `{"external_id":"C1","first_name":"Anne","review_groups":[{"_op":"del","value":"A"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cur := mapped(t, tt.cur...)
			var prev *load.Customer
			if tt.prev != nil {
				prev = sent(t, mapped(t, tt.prev...))
			}
			before, _ := json.Marshal(cur)
			var prevBefore []byte
			if prev != nil {
				prevBefore, _ = json.Marshal(prev)
			}
			got := Delta(prev, &cur)
			assertJSON(t, &got, tt.want)
			if after, _ := json.Marshal(cur); string(after) != string(before) {
				t.Errorf("Delta modified cur: %s, was %s", after, before)
			}
			if prev != nil {
				if after, _ := json.Marshal(prev); string(after) != string(prevBefore) {
					t.Errorf("Delta modified prev: %s, was %s", after, prevBefore)
				}
			}
			if tt.unchanged {
				g, _ := json.Marshal(got)
				if string(g) != string(before) {
					t.Errorf("Delta = %s; want cur unchanged, %s", g, before)
				}
			}
		})
	}
}

// TestDeltaAfterDelta checks the second run after a removal: what was sent
// then holds a "del" item, which is not removed again, and Delta settles.
func TestDeltaAfterDelta(t *testing.T) {
	first := mapped(t, col{"review_groups", []string{"A", "B"}})
	second := mapped(t, col{"review_groups", []string{"B"}})
	sentSecond := Delta(sent(t, first), &second)
	third := mapped(t, col{"review_groups", []string{}})
	got := Delta(sent(t, sentSecond), &third)
	assertJSON(t, &got, `{"external_id":"C1","review_groups":[{"_op":"del","value":"B"}]}`)
}

// TestDeltaKeepsDelInCur checks that a name cur itself removes is not
// removed twice.
func TestDeltaKeepsDelInCur(t *testing.T) {
	prev := load.Customer{ExternalID: "C1", ReviewGroups: json.RawMessage(`[{"_op":"set","value":"A"},{"_op":"set","value":"B"}]`),
		Variations: []load.NameVariation{{Op: OpSet, LastName: "Li"}}}
	cur := load.Customer{ExternalID: "C1", ReviewGroups: json.RawMessage(`[{"_op":"del","value":"A"}]`),
		Variations: []load.NameVariation{{Op: OpDel, LastName: "Li"}}}
	got := Delta(&prev, &cur)
	assertJSON(t, &got, `{"external_id":"C1","review_groups":[{"_op":"del","value":"A"},{"_op":"del","value":"B"}],"variations":[{"_op":"del","last_name":"Li"}]}`)
}

// TestDeltaDoesNotShareAppendedSlices checks that appending to the result
// cannot write into cur's variations.
func TestDeltaDoesNotShareAppendedSlices(t *testing.T) {
	vs := make([]load.NameVariation, 1, 4) // room to append in place
	vs[0] = load.NameVariation{Op: OpSet, LastName: "Lee"}
	cur := load.Customer{ExternalID: "C1", Variations: vs}
	prev := load.Customer{ExternalID: "C1", Variations: []load.NameVariation{{Op: OpSet, LastName: "Li"}}}
	got := Delta(&prev, &cur)
	if len(got.Variations) != 2 {
		t.Fatalf("Delta variations = %+v, want 2", got.Variations)
	}
	if spare := vs[:2][1]; spare != (load.NameVariation{}) {
		t.Errorf("Delta wrote %+v into cur's spare capacity", spare)
	}
}

func TestDeltaIgnoresUnreadablePrev(t *testing.T) {
	for _, raw := range []string{`[1,2]`, `[{"_op":"set","value":3}]`, `{"a":1}`, `"A;B"`} {
		prev := load.Customer{ExternalID: "C1", ReviewGroups: json.RawMessage(raw)}
		cur := mapped(t, col{"review_groups", []string{"B"}})
		got := Delta(&prev, &cur)
		if string(got.ReviewGroups) != string(cur.ReviewGroups) {
			t.Errorf("Delta with prev review_groups %s = %s; want cur's %s", raw, got.ReviewGroups, cur.ReviewGroups)
		}
	}
}

func ExampleDelta() {
	cols := extract.Columns{"external_id", "review_groups", "variations"}
	m, err := NewCustomers(cols, Options{})
	if err != nil {
		panic(err)
	}
	last, _ := m.Map(rowOf(cols, "C1", []string{"Retail", "Risk; High"}, json.RawMessage(`[{"last_name":"Li"}]`)))
	now, _ := m.Map(rowOf(cols, "C1", []string{"Retail"}, json.RawMessage(`[]`)))
	c := Delta(&last, &now)
	b, _ := json.Marshal(c)
	fmt.Println(string(b))
	// Output:
	// {"external_id":"C1","review_groups":[{"_op":"set","value":"Retail"},{"_op":"del","value":"Risk; High"}],"variations":[{"_op":"del","last_name":"Li"}]}
}
