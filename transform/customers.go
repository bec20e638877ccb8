package transform

import (
	"fmt"
	"time"

	"github.com/algoreg/algoreg-etl/extract"
	"github.com/algoreg/algoreg-etl/load"
)

// Options configures a [Customers] mapping. The zero value is ready to use.
type Options struct {
	// Now returns the current time; a date of birth after its calendar date
	// is refused. Nil means time.Now.
	Now func() time.Time
}

// Customers maps the rows of one query to customers. It is safe for
// concurrent use.
type Customers struct {
	plan []field // the field each column carries, by column position
	now  func() time.Time
}

// NewCustomers returns the mapping of rows with columns cols, which are a
// query's columns other than the cursor columns. It fails if a column is not
// a customer field (naming it, so that a typo in a query shows before any
// row is read), if a column appears twice, or if there is no external_id
// column.
func NewCustomers(cols extract.Columns, opts Options) (*Customers, error) {
	m := &Customers{plan: make([]field, len(cols)), now: opts.Now}
	if m.now == nil {
		m.now = time.Now
	}
	var seen [numFields]int // column position + 1 of each field
	for i, c := range cols {
		f, ok := lookupField(c)
		if !ok {
			return nil, unknownColumnError(c)
		}
		if j := seen[f]; j != 0 {
			return nil, fmt.Errorf("transform: column %q appears twice, at positions %d and %d", c, j, i+1)
		}
		seen[f] = i + 1
		m.plan[i] = f
	}
	if seen[fieldExternalID] == 0 {
		return nil, fmt.Errorf("transform: no %q column: a customer query must select one", fieldExternalID.String())
	}
	return m, nil
}

// pointers backs the pointer fields of one customer, so that setting all
// of them costs one allocation.
type pointers struct {
	disabled          bool
	kycLevel          int64
	kycLevelRequested int64
}

// Map maps row, whose columns must be those given to [NewCustomers], to a
// customer. When the row cannot be sent, Map returns a [*FieldError] about
// the first wrong field in column order; any other error means the row does
// not have the columns given to NewCustomers.
//
// The customer shares memory with the row (strings and json values), so the
// row's values must not be modified afterwards.
//
// Besides the rules of the package documentation (NULL omits a field,
// strings are trimmed, blank strings are omitted, invalid UTF-8 and
// mistyped values are errors), fields are converted so:
//
//   - external_id: text, or an integer written in decimal. Required: NULL or
//     blank is an error (code "missing"). The contract gives no length limit
//     and neither does Map: the API is the judge of that.
//   - account_type: "F" or "N", in either case; anything else is an error
//     (code "invalid_account_type"). It may be omitted.
//   - first_name, middle_name, last_name, company_name, trading_name,
//     registration_number, phone, comment: text.
//   - parent_external_id: text, or an integer, like external_id.
//   - date_of_birth: a date or timestamp gives its own calendar date,
//     without time zone conversion; text must be a calendar date written
//     YYYY-MM-DD (code "invalid_date"). The date must not be after today by
//     Options.Now (code "date_in_future") nor before 1800-01-01 (code
//     "date_too_early").
//   - nationality_codes, domicile_codes: text[], or text taken as a
//     one-element list. Each code is trimmed and upper-cased and must be an
//     officially assigned ISO 3166-1 alpha-2 code, or XK for Kosovo (code
//     "invalid_country_code"). Blank elements (and NULL elements, which
//     arrive blank) and duplicates are dropped; an empty list is omitted.
//   - alias_ids: text[], or text taken as a one-element list; elements are
//     trimmed and blank ones dropped; an empty list is omitted.
//   - disabled: boolean, always sent when not NULL: false re-enables a
//     customer.
//   - kyc_level, kyc_level_requested: an integer, or text holding one (code
//     "invalid_integer"); negative values are an error (code
//     "negative_integer").
//   - fields: json or jsonb, or text holding JSON, that must be an object
//     (code "invalid_fields"); an empty object and JSON null are omitted.
//   - review_groups, contacts: text, sent as a JSON string, which the API
//     splits on ";" and ",".
func (m *Customers) Map(row extract.Row) (load.Customer, error) {
	var c load.Customer
	if len(row.Values) != len(m.plan) {
		return c, fmt.Errorf("transform: row %q has %d values, want %d (one per column)", row.Pos.Key, len(row.Values), len(m.plan))
	}
	var ptrs *pointers
	box := func() *pointers {
		if ptrs == nil {
			ptrs = new(pointers)
		}
		return ptrs
	}
	for i, f := range m.plan {
		v := row.Values[i]
		var (
			fe  *FieldError
			n   int64
			b   bool
			set bool
		)
		// A switch, not a slice of setter funcs: an indirect call would
		// make c escape to the heap, costing an allocation per row.
		switch f {
		case fieldExternalID:
			if c.ExternalID, fe = key(f, v); fe == nil && c.ExternalID == "" {
				fe = &FieldError{Field: f.String(), Code: CodeMissing, Reason: "missing (NULL or blank)"}
			}
		case fieldAccountType:
			c.AccountType, fe = accountType(v)
		case fieldFirstName:
			c.FirstName, fe = text(f, v)
		case fieldMiddleName:
			c.MiddleName, fe = text(f, v)
		case fieldLastName:
			c.LastName, fe = text(f, v)
		case fieldCompanyName:
			c.CompanyName, fe = text(f, v)
		case fieldTradingName:
			c.TradingName, fe = text(f, v)
		case fieldDateOfBirth:
			c.DateOfBirth, fe = dateOfBirth(v, m.now)
		case fieldNationalityCodes:
			c.NationalityCodes, fe = countryCodes(f, v)
		case fieldDomicileCodes:
			c.DomicileCodes, fe = countryCodes(f, v)
		case fieldAliasIDs:
			c.AliasIDs, fe = strs(f, v)
		case fieldRegistrationNumber:
			c.RegistrationNumber, fe = text(f, v)
		case fieldPhone:
			c.Phone, fe = text(f, v)
		case fieldComment:
			c.Comment, fe = text(f, v)
		case fieldDisabled:
			if b, set, fe = flag(f, v); set {
				p := box()
				p.disabled = b
				c.Disabled = &p.disabled
			}
		case fieldKYCLevel:
			if n, set, fe = level(f, v); set {
				p := box()
				p.kycLevel = n
				c.KYCLevel = &p.kycLevel
			}
		case fieldKYCLevelRequested:
			if n, set, fe = level(f, v); set {
				p := box()
				p.kycLevelRequested = n
				c.KYCLevelRequested = &p.kycLevelRequested
			}
		case fieldParentExternalID:
			c.ParentExternalID, fe = key(f, v)
		case fieldReviewGroups:
			c.ReviewGroups, fe = delta(f, v)
		case fieldContacts:
			c.Contacts, fe = delta(f, v)
		case fieldFields:
			c.Fields, fe = object(f, v)
		default:
			panic(fmt.Sprintf("transform: field %d has no conversion", f))
		}
		if fe != nil {
			return load.Customer{}, fe
		}
	}
	return c, nil
}
