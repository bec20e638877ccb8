package transform

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/algoreg/algoreg-etl/load"
)

// customer returns the customer of fullRow, built afresh each time.
func customer(t *testing.T) load.Customer {
	t.Helper()
	row := fullRow()
	m, err := NewCustomers(row.Columns, Options{Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	c, err := m.Map(row)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func hash(t *testing.T, c load.Customer) Hash {
	t.Helper()
	h, err := HashCustomer(&c)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHashCustomerGolden(t *testing.T) {
	// A changed golden value means every customer is sent again once after
	// an upgrade: change it only on purpose.
	const want = "c3e4d893ab7d08b9ed27da5b4bf69724"
	if got := hash(t, customer(t)).String(); got != want {
		t.Errorf("HashCustomer = %s, want %s", got, want)
	}
}

func TestHashCustomerEqual(t *testing.T) {
	a, b := customer(t), customer(t)
	if hash(t, a) != hash(t, b) {
		t.Error("equal customers hash differently")
	}
	// nil and empty values are sent alike (omitted), so hash alike.
	c := load.Customer{ExternalID: "C1"}
	d := load.Customer{ExternalID: "C1", NationalityCodes: []string{}, Fields: json.RawMessage{}}
	if hash(t, c) != hash(t, d) {
		t.Error("customers that encode alike hash differently")
	}
}

func TestHashCustomerChanges(t *testing.T) {
	t1 := true
	n := int64(9)
	changes := map[string]func(c *load.Customer){
		"external_id":         func(c *load.Customer) { c.ExternalID += "x" },
		"account_type":        func(c *load.Customer) { c.AccountType = load.AccountFirm },
		"first_name":          func(c *load.Customer) { c.FirstName = "Anne" },
		"middle_name":         func(c *load.Customer) { c.MiddleName = "" },
		"last_name":           func(c *load.Customer) { c.LastName = "Lea" },
		"company_name":        func(c *load.Customer) { c.CompanyName = "Lee Ltd" },
		"trading_name":        func(c *load.Customer) { c.TradingName = "Lee" },
		"date_of_birth":       func(c *load.Customer) { c.DateOfBirth = "1984-03-08" },
		"nationality_codes":   func(c *load.Customer) { c.NationalityCodes = []string{"IE", "GB"} },
		"domicile_codes":      func(c *load.Customer) { c.DomicileCodes = nil },
		"alias_ids":           func(c *load.Customer) { c.AliasIDs = append(c.AliasIDs, "x") },
		"registration_number": func(c *load.Customer) { c.RegistrationNumber = "REG 43" },
		"phone":               func(c *load.Customer) { c.Phone = "" },
		"comment":             func(c *load.Customer) { c.Comment = "Prefers post" },
		"disabled true":       func(c *load.Customer) { c.Disabled = &t1 },
		"disabled unset":      func(c *load.Customer) { c.Disabled = nil },
		"kyc_level":           func(c *load.Customer) { c.KYCLevel = &n },
		"kyc_level unset":     func(c *load.Customer) { c.KYCLevel = nil },
		"kyc_level_requested": func(c *load.Customer) { c.KYCLevelRequested = &n },
		"parent_external_id":  func(c *load.Customer) { c.ParentExternalID = "1001" },
		"review_groups":       func(c *load.Customer) { c.ReviewGroups = json.RawMessage(`"retail"`) },
		"contacts":            func(c *load.Customer) { c.Contacts = nil },
		"fields":              func(c *load.Customer) { c.Fields = json.RawMessage(`{"segment":"private"}`) },
		"variations":          func(c *load.Customer) { c.Variations = []load.NameVariation{{Op: "set", LastName: "Li"}} },
	}
	base := hash(t, customer(t))
	for name, change := range changes {
		c := customer(t)
		change(&c)
		if hash(t, c) == base {
			t.Errorf("changing %s leaves the hash unchanged", name)
		}
	}
}

func TestHashCustomerInvalidJSON(t *testing.T) {
	c := load.Customer{ExternalID: "C1", Fields: json.RawMessage(`{"a":`)}
	if _, err := HashCustomer(&c); err == nil {
		t.Error("HashCustomer of a customer with invalid fields JSON succeeded")
	}
}

// needsHTMLEscape tells exactly the encodings that json.HTMLEscape changes.
func TestNeedsHTMLEscape(t *testing.T) {
	for _, s := range []string{"", "abc", "a<b", ">", "x&", "\u2028", "a\u2029b", "\xe2\x80", "\xe2\x80\xa7", "\xe2\x80\xaa",
		"\xe2\xe2\x80\xa8", "\u2019\u2019\u2028", "\u2019 plain", "\xe2", "é\xe2\x80\xa9"} {
		var buf bytes.Buffer
		json.HTMLEscape(&buf, []byte(s))
		if want := buf.String() != s; needsHTMLEscape([]byte(s)) != want {
			t.Errorf("needsHTMLEscape(%q) = %v, want %v", s, !want, want)
		}
	}
}
