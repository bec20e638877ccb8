package transform

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/algoreg/algoreg-etl/load"
)

// checkEncodeCustomer checks that EncodeCustomer gives c the hash that
// HashCustomer gives it, so that what was stored before stays valid, and
// sets c.Encoded to what a request carries for c.
func checkEncodeCustomer(t *testing.T, c *load.Customer) {
	t.Helper()
	want, wantErr := HashCustomer(c)
	e := *c
	got, err := EncodeCustomer(&e)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("EncodeCustomer: %v; HashCustomer: %v", err, wantErr)
	}
	if err != nil {
		return
	}
	if got != want {
		t.Errorf("EncodeCustomer's hash %s, HashCustomer's %s, for %+v", got, want, c)
	}
	enc := e.Encoded
	e.Encoded = nil
	if wire := wireEncoding(t, &e); !bytes.Equal(enc, wire) {
		t.Errorf("Encoded = %s, want %s", enc, wire)
	}
}

// wireEncoding returns v as a json.Encoder without HTML escaping writes it
// in a request, without its newline.
func wireEncoding(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// checkDeltaEncoded checks that Delta(prev, cur), cur encoded by
// EncodeCustomer, keeps an Encoded only if it is the result's encoding.
func checkDeltaEncoded(t *testing.T, prev, cur *load.Customer) {
	t.Helper()
	if _, err := EncodeCustomer(cur); err != nil {
		t.Fatal(err)
	}
	d := Delta(prev, cur)
	if d.Encoded == nil {
		return
	}
	enc := d.Encoded
	d.Encoded = nil
	if want := wireEncoding(t, &d); !bytes.Equal(enc, want) {
		t.Errorf("Delta keeps Encoded %s, but the customer it returns encodes as %s", enc, want)
	}
}

// FuzzEncode builds customers and relations from fuzzed text, raw JSON
// included, and checks that EncodeCustomer and EncodeRelation give the
// hashes that json.Marshal's encoding gives, and encode as a request
// carries them. shape picks, two bits per field, what each field of a
// second customer holds: its zero value, an empty but not nil value (for
// slices and raw JSON), or one of the fuzzed values, so that every field
// kind is covered with and without omitempty's omission.
func FuzzEncode(f *testing.F) {
	f.Add("C1", "Ann & <Lee>", `{"a": "<b>&\u2028"}`, int64(3), true, uint64(0))
	f.Add("\xff\xfe", "x\u2028y\u2029z", `["set", {"_op":"set","value":"a&b"}]`, int64(-1), false, ^uint64(0))
	f.Add("", "\x00\x1f\"\\/", "  \"Risk; High\"  ", int64(0), true, uint64(0x5555555555555555))
	f.Add("Zoë", "Ångström", "{\"x\":\"\xe2\x80\xa8\"}", int64(1<<62), false, uint64(0xaaaaaaaaaaaaaaaa))
	f.Add("a", "b", `{"bad"`, int64(1), true, uint64(0x123456789abcdef))
	// Every control character, DEL, and the escapes that have a short form.
	f.Add("\x00\x01\x02\x03\x04\x05\x06\x07\b\t\n\x0b\f\r\x0e\x0f\x10\x1b\x1f\x7f", "\"\\\b\f\n\r\t",
		"[ ]", int64(-1<<63), false, uint64(0xfedcba9876543210))
	// Invalid UTF-8: a lone continuation byte, a truncated sequence, an
	// overlong encoding, a surrogate, and U+2028 cut short.
	f.Add("\x80a\xe2\x80", "\xc0\xaf\xed\xa0\x80\xe2\x80\xa8\xe2\x80\xa9\xe2\x80", `"\u2029<>&"`, int64(255), true, uint64(0xffff0000ffff))
	// Dates as Map writes them, names with HTML characters, raw JSON with
	// white space to compact, numbers and literals.
	f.Add("1980-02-29", "<script>&amp;</script>", "{ \"a\" : [ 1, 2.5e10, -0, true, false, null ], \"b\" : { } }\n",
		int64(1<<53+1), true, uint64(0x0f0f0f0f0f0f0f0f))
	f.Add(" ", "\u00a0\ufeff\U0001F600", "\t\r\n null", int64(-42), false, uint64(0xf0f0f0f0f0f0f0f0))
	f.Fuzz(func(t *testing.T, s1, s2, raw string, n int64, b bool, shape uint64) {
		c := load.Customer{ExternalID: s1, AccountType: s2, FirstName: s1, MiddleName: s2, LastName: s1 + s2,
			CompanyName: s2, TradingName: s1, DateOfBirth: s2, NationalityCodes: []string{s1, s2}, AliasIDs: []string{s2},
			RegistrationNumber: s1, Phone: s2, Comment: s1 + "\n" + s2, Disabled: &b, KYCLevel: &n, ParentExternalID: s2,
			ReviewGroups: json.RawMessage(raw), Contacts: json.RawMessage(raw), Fields: json.RawMessage(raw),
			Variations: []load.NameVariation{{Op: OpSet, FirstName: s1, LastName: s2}}}
		checkEncodeCustomer(t, &c)
		for _, c := range []load.Customer{{ExternalID: s1}, {ExternalID: s2, Fields: json.RawMessage(raw), Disabled: &b}} {
			checkEncodeCustomer(t, &c)
		}
		shaped := shapedCustomer(s1, s2, raw, n, b, shape)
		checkEncodeCustomer(t, &shaped)
		if _, err := EncodeCustomer(&shaped); err == nil {
			checkDeltaEncoded(t, nil, &shaped)
			checkDeltaEncoded(t, &c, &shaped)
		}

		r := load.Relation{RelationExternalID: s1, ParentCustomerExternalID: s2, ChildCustomerExternalID: s1 + s2,
			RelationType: n, Disabled: &b, Fields: json.RawMessage(raw)}
		checkEncodeRelation(t, &r)
		r = load.Relation{RelationExternalID: s2, RelationType: -n}
		switch shape & 3 {
		case 1:
			r.Fields = json.RawMessage{}
		case 2:
			r.Fields = json.RawMessage(raw)
		case 3:
			r.Disabled = &b
		}
		checkEncodeRelation(t, &r)
	})
}

// shapedCustomer returns a customer whose every field holds, as the two
// bits of shape for it say, its zero value, an empty value (a non-nil
// empty slice or raw JSON; a pointer to false or 0), or a value made of
// s1, s2, raw, n or b.
func shapedCustomer(s1, s2, raw string, n int64, b bool, shape uint64) load.Customer {
	pick := func() uint64 {
		k := shape & 3
		shape >>= 2
		return k
	}
	text := func() string {
		return [...]string{"", s1, s2, s1 + s2}[pick()]
	}
	list := func() []string {
		return [...][]string{nil, {}, {s1}, {s2, s1, ""}}[pick()]
	}
	yes, zero := false, int64(0)
	flag := func() *bool {
		return [...]*bool{nil, &yes, &b, &b}[pick()]
	}
	num := func() *int64 {
		m := -n
		return [...]*int64{nil, &zero, &n, &m}[pick()]
	}
	rawJSON := func() json.RawMessage {
		return [...]json.RawMessage{nil, {}, json.RawMessage(raw), json.RawMessage(" [" + raw + "]\t")}[pick()]
	}
	variations := func() []load.NameVariation {
		switch pick() {
		case 1:
			return []load.NameVariation{}
		case 2:
			return []load.NameVariation{{Op: s1}}
		case 3:
			return []load.NameVariation{{Op: OpSet, FirstName: s1, MiddleName: s2, LastName: s1, CompanyName: s2, TradingName: s1},
				{Op: OpDel, LastName: s2}, {}}
		}
		return nil
	}
	return load.Customer{ExternalID: text(), AccountType: text(), FirstName: text(), MiddleName: text(), LastName: text(),
		CompanyName: text(), TradingName: text(), DateOfBirth: text(), NationalityCodes: list(), DomicileCodes: list(),
		AliasIDs: list(), RegistrationNumber: text(), Phone: text(), Comment: text(), Disabled: flag(), KYCLevel: num(),
		KYCLevelRequested: num(), ParentExternalID: text(), ReviewGroups: rawJSON(), Contacts: rawJSON(), Fields: rawJSON(),
		Variations: variations()}
}

// checkEncodeRelation checks that EncodeRelation gives r the hash and the
// encoding that json.Marshal gives it, and sets r.Encoded to what a request
// carries for r.
func checkEncodeRelation(t *testing.T, r *load.Relation) {
	t.Helper()
	want, wantErr := HashRelation(r)
	marshalled, _ := json.Marshal(r)
	got, delta, err := EncodeRelation(r)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("EncodeRelation: %v; HashRelation: %v", err, wantErr)
	}
	if err != nil {
		return
	}
	if got != want || !bytes.Equal(delta, marshalled) {
		t.Errorf("EncodeRelation = %s, %s; want %s, %s", got, delta, want, marshalled)
	}
	enc := r.Encoded
	r.Encoded = nil
	if wire := wireEncoding(t, r); !bytes.Equal(enc, wire) {
		t.Errorf("Encoded = %s, want %s", enc, wire)
	}
}

// Delta leaves out a customer's empty lists from its encoding too, and
// only the customer's own: not a member of the same name in its fields,
// nor text in a string.
func TestDeltaEncodedEmptyLists(t *testing.T) {
	c := load.Customer{ExternalID: `x,"contacts":[]`, LastName: `\`, ReviewGroups: json.RawMessage(` [] `), Contacts: json.RawMessage(`[]`),
		Fields: json.RawMessage(`{"a":[1],"contacts":[],"review_groups":[]}`)}
	if _, err := EncodeCustomer(&c); err != nil {
		t.Fatal(err)
	}
	d := Delta(nil, &c)
	want := `{"external_id":"x,\"contacts\":[]","last_name":"\\","fields":{"a":[1],"contacts":[],"review_groups":[]}}`
	if string(d.Encoded) != want {
		t.Errorf("Delta's Encoded = %s, want %s", d.Encoded, want)
	}
	checkDeltaEncoded(t, nil, &c)

	// A member named contacts inside review_groups is not the customer's.
	c = load.Customer{ExternalID: "y", ReviewGroups: json.RawMessage(`[{"x":"\\\"","contacts":[]},"]"]`), Contacts: json.RawMessage(`[]`)}
	if _, err := EncodeCustomer(&c); err != nil {
		t.Fatal(err)
	}
	d = Delta(nil, &c)
	want = `{"external_id":"y","review_groups":[{"x":"\\\"","contacts":[]},"]"]}`
	if string(d.Encoded) != want {
		t.Errorf("Delta's Encoded = %s, want %s", d.Encoded, want)
	}
	checkDeltaEncoded(t, nil, &c)
}
