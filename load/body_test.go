package load

import (
	"bytes"
	"errors"
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

// BenchmarkEncodeRequest measures encoding a chunk of 500 customers into a
// pooled buffer, the client's own share of a call.
func BenchmarkEncodeRequest(b *testing.B) {
	req := &SaveRequest{}
	for i := range 500 {
		req.Customers = append(req.Customers, Customer{
			ExternalID: "C" + strings.Repeat("0", i%7), AccountType: AccountIndividual, FirstName: "Ada", LastName: "Lovelace",
			DateOfBirth: "1815-12-10", NationalityCodes: []string{"GB"}, Fields: []byte(`{"segment":"retail"}`),
		})
	}
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
