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
// carries them.
func FuzzEncode(f *testing.F) {
	f.Add("C1", "Ann & <Lee>", `{"a": "<b>&\u2028"}`, int64(3), true)
	f.Add("\xff\xfe", "x\u2028y\u2029z", `["set", {"_op":"set","value":"a&b"}]`, int64(-1), false)
	f.Add("", "\x00\x1f\"\\/", "  \"Risk; High\"  ", int64(0), true)
	f.Add("Zoë", "Ångström", "{\"x\":\"\xe2\x80\xa8\"}", int64(1<<62), false)
	f.Add("a", "b", `{"bad"`, int64(1), true)
	f.Fuzz(func(t *testing.T, s1, s2, raw string, n int64, b bool) {
		c := load.Customer{ExternalID: s1, AccountType: s2, FirstName: s1, MiddleName: s2, LastName: s1 + s2,
			CompanyName: s2, TradingName: s1, DateOfBirth: s2, NationalityCodes: []string{s1, s2}, AliasIDs: []string{s2},
			RegistrationNumber: s1, Phone: s2, Comment: s1 + "\n" + s2, Disabled: &b, KYCLevel: &n, ParentExternalID: s2,
			ReviewGroups: json.RawMessage(raw), Contacts: json.RawMessage(raw), Fields: json.RawMessage(raw),
			Variations: []load.NameVariation{{Op: OpSet, FirstName: s1, LastName: s2}}}
		checkEncodeCustomer(t, &c)
		for _, c := range []load.Customer{{ExternalID: s1}, {ExternalID: s2, Fields: json.RawMessage(raw), Disabled: &b}} {
			checkEncodeCustomer(t, &c)
		}

		r := load.Relation{RelationExternalID: s1, ParentCustomerExternalID: s2, ChildCustomerExternalID: s1 + s2,
			RelationType: n, Disabled: &b, Fields: json.RawMessage(raw)}
		want, wantErr := HashRelation(&r)
		marshalled, _ := json.Marshal(&r)
		got, delta, err := EncodeRelation(&r)
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
		if wire := wireEncoding(t, &r); !bytes.Equal(enc, wire) {
			t.Errorf("Encoded = %s, want %s", enc, wire)
		}
	})
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
}
