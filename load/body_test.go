package load

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestReadBodyLimit(t *testing.T) {
	if b, err := readBody(strings.NewReader("12345"), 5); err != nil || string(b) != "12345" {
		t.Errorf("at the limit: %q, %v", b, err)
	}
	if _, err := readBody(strings.NewReader("123456"), 5); !errors.Is(err, errBodyTooLarge) {
		t.Errorf("over the limit: %v, want errBodyTooLarge", err)
	}
}

func TestRequestBodyClose(t *testing.T) {
	b, err := encodeRequest(&SaveRequest{Customers: []Customer{{ExternalID: "A"}}})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := out.ReadFrom(b); err != nil || !strings.Contains(out.String(), `"external_id":"A"`) || b.Len() != out.Len() {
		t.Fatalf("read %q (Len %d), %v", out.String(), b.Len(), err)
	}
	b.Close()
	b.Close() // a second Close must not hand the buffer back twice
	if _, err := b.Read(make([]byte, 1)); err == nil {
		t.Error("Read after Close succeeded")
	}
	if e1, e2 := encoders.Get(), encoders.Get(); e1 == e2 {
		t.Error("the pool handed out one buffer twice")
	}
}

// A request is encoded as encoding/json encodes it without HTML escaping,
// and a record's Encoded, when set, is carried in place of its fields.
func TestEncodeRequest(t *testing.T) {
	yes, two := true, int64(2)
	cs := []Customer{
		{ExternalID: "A & <B>", FirstName: "Ann", Disabled: &yes, KYCLevel: &two, Fields: json.RawMessage(`{ "a": "x\u2028" }`)},
		{ExternalID: "C", ReviewGroups: json.RawMessage(`["g"]`), Variations: []NameVariation{{Op: "set", LastName: "Lee"}}},
	}
	rs := []Relation{{RelationExternalID: "R1", ParentCustomerExternalID: "A", ChildCustomerExternalID: "C", RelationType: 3}}
	reqs := []*SaveRequest{
		{},
		{DisableRiskScan: true, VerifyInput: true},
		{Customers: cs},
		{Relations: rs, VerifyInput: true},
		{Customers: cs, Relations: rs, DisableRiskScan: true},
	}
	for _, req := range reqs {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(req); err != nil {
			t.Fatal(err)
		}
		if got := encoded(t, req); got != want.String() {
			t.Errorf("encodeRequest = %s\nwant %s", got, want.String())
		}
		// Pre-encoded records are carried as they are.
		pre := *req
		pre.Customers, pre.Relations = slices.Clone(req.Customers), slices.Clone(req.Relations)
		for i := range pre.Customers {
			b, err := AppendCustomer(nil, &pre.Customers[i])
			if err != nil {
				t.Fatal(err)
			}
			pre.Customers[i].Encoded = b
		}
		for i := range pre.Relations {
			b, err := AppendRelation(nil, &pre.Relations[i])
			if err != nil {
				t.Fatal(err)
			}
			pre.Relations[i].Encoded = b
		}
		if got := encoded(t, &pre); got != want.String() {
			t.Errorf("encodeRequest of pre-encoded records = %s\nwant %s", got, want.String())
		}
	}
	// Encoded wins over the fields: it is what was hashed.
	req := &SaveRequest{Customers: []Customer{{ExternalID: "A", Encoded: json.RawMessage(`{"external_id":"B"}`)}, {ExternalID: "C"}}}
	if got, want := encoded(t, req), `{"customers":[{"external_id":"B"},{"external_id":"C"}],"disable_risk_scan":false,"verify_input":false}`+"\n"; got != want {
		t.Errorf("encodeRequest = %s, want %s", got, want)
	}
	if _, err := encodeRequest(&SaveRequest{Customers: []Customer{{ExternalID: "A", Fields: json.RawMessage(`{"x"`)}}}); err == nil {
		t.Error("encodeRequest of invalid raw JSON succeeded")
	}
}

// encoded returns the body encodeRequest makes of req.
func encoded(t *testing.T, req *SaveRequest) string {
	t.Helper()
	body, err := encodeRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	var out bytes.Buffer
	if _, err := out.ReadFrom(body); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// BenchmarkEncodeRequest measures encoding a chunk of 500 customers into a
// pooled buffer, the client's own share of a call.
func BenchmarkEncodeRequest(b *testing.B) {
	benchEncodeRequest(b, benchChunk(b, false))
}

// BenchmarkEncodeRequestEncoded measures encoding the chunk of
// BenchmarkEncodeRequest with its customers encoded beforehand, as a run
// sends them.
func BenchmarkEncodeRequestEncoded(b *testing.B) {
	benchEncodeRequest(b, benchChunk(b, true))
}

// benchChunk returns a chunk of 500 customers, encoded beforehand if
// encoded.
func benchChunk(b *testing.B, encoded bool) *SaveRequest {
	req := &SaveRequest{}
	for i := range 500 {
		c := Customer{
			ExternalID: "C" + strings.Repeat("0", i%7), AccountType: AccountIndividual, FirstName: "Ada", LastName: "Lovelace",
			DateOfBirth: "1815-12-10", NationalityCodes: []string{"GB"}, Fields: []byte(`{"segment":"retail"}`),
		}
		if encoded {
			enc, err := AppendCustomer(nil, &c)
			if err != nil {
				b.Fatal(err)
			}
			c.Encoded = enc
		}
		req.Customers = append(req.Customers, c)
	}
	return req
}

func benchEncodeRequest(b *testing.B, req *SaveRequest) {
	b.ReportAllocs()
	for b.Loop() {
		body, err := encodeRequest(req)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(body.Len()))
		body.Close()
	}
}
