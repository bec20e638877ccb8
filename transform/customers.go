package transform

import (
	"fmt"
	"strings"
	"time"

	"github.com/algoreg/algoreg-etl/extract"
	"github.com/algoreg/algoreg-etl/load"
)

// Options configures a [Customers] mapping. The zero value is ready to use.
type Options struct {
	// Now returns the current time; a date of birth after its calendar date
	// is refused. Nil means time.Now.
	Now func() time.Time

	// AccountTypes maps the source's values of account_type to the
	// contract's "F" (firm) or "N" (individual), e.g.
	// {"company": "F", "person": "N"}; values are "F" or "N", in either
	// case. Source values are matched without regard to case, after
	// trimming. When set, it replaces the default:
	// only its keys are accepted (add "F" and "N" to accept those too).
	// Nil or empty accepts only "F" and "N", in either case.
	AccountTypes map[string]string

	// Countries maps the source's own spellings of countries in
	// nationality_codes and domicile_codes to alpha-2 codes, e.g.
	// {"Kazakstan": "KZ", "UK": "GB"}, before the codes and names that Map
	// knows are tried; a value may also be an alpha-3 or numeric code, or
	// "" to drop the element as if it were blank. Source values are matched
	// without regard to case, after trimming.
	Countries map[string]string
	// Drop names optional fields (see [OptionalFields]) whose invalid
	// value [Customers.MapDropping] leaves out of the customer, returning
	// its problem, rather than refusing the row. [Customers.Map] ignores
	// it. Nil drops nothing.
	Drop map[string]bool
}

// OptionalFields are the customer fields whose invalid value may be left
// out of a customer that is sent anyway (Options.Drop): none of them
// identifies the customer, says what it is, or is sent as a delta against
// what was sent before. The names (first_name to trading_name), which
// screening matches on, are not among them, nor external_id,
// account_type, disabled, parent_external_id, review_groups, contacts and
// variations.
var OptionalFields = []string{
	"date_of_birth", "nationality_codes", "domicile_codes", "alias_ids", "registration_number",
	"phone", "comment", "kyc_level", "kyc_level_requested", "fields",
}

// optional reports whether f is one of OptionalFields.
func optional(f field) bool {
	switch f {
	case fieldDateOfBirth, fieldNationalityCodes, fieldDomicileCodes, fieldAliasIDs, fieldRegistrationNumber,
		fieldPhone, fieldComment, fieldKYCLevel, fieldKYCLevelRequested, fieldFields:
		return true
	}
	return false
}

// Customers maps the rows of one query to customers. It is safe for
// concurrent use.
type Customers struct {
	plan         []field // the field each column carries, by column position
	now          func() time.Time
	accountTypes accountTypes
	countries    map[string]string // Options.Countries by lower-case key, to alpha-2 codes
	drop         [numFields]bool   // the fields Options.Drop names
}

// NewCustomers returns the mapping of rows with columns cols, which are a
// query's columns other than the cursor columns. It fails if a column is not
// a customer field (naming it, so that a typo in a query shows before any
// row is read), if a column appears twice, or if there is no external_id
// column. It also fails if opts.AccountTypes maps a value to something
// other than "F" or "N", or has a blank key, or if opts.Drop names a field
// that is not one of [OptionalFields].
func NewCustomers(cols extract.Columns, opts Options) (*Customers, error) {
	m := &Customers{plan: make([]field, len(cols)), now: opts.Now}
	if m.now == nil {
		m.now = time.Now
	}
	var err error
	if m.accountTypes, err = newAccountTypes(opts.AccountTypes); err != nil {
		return nil, err
	}
	if m.countries, err = newCountries(opts.Countries); err != nil {
		return nil, err
	}
	for name, drop := range opts.Drop {
		f, ok := lookupField(name)
		if !ok || !optional(f) {
			return nil, fmt.Errorf("transform: Options.Drop names %q, which is not an optional field (%s)", name, strings.Join(OptionalFields, ", "))
		}
		m.drop[f] = drop
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
// the first wrong field in column order, or, when every field is right on
// its own, about the first field missing for the account type; any other
// error means the row does not have the columns given to NewCustomers.
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
//   - account_type: "F" or "N", in either case, or, when
//     Options.AccountTypes is set, one of its source values, matched
//     without regard to case after trimming; anything else is an error
//     (code "invalid_account_type"). Without Options.AccountTypes it may
//     be omitted (NULL or blank); with it, NULL or blank is an error (code
//     "missing"), since the source's kind is then unknown. A firm ("F") needs
//     a company_name and an individual ("N") a last_name: without it (no
//     such column, NULL or blank) the row is an error naming the missing
//     field (code "missing").
//   - first_name, middle_name, last_name, company_name, trading_name: text,
//     in Unicode NFC, with each run of white space (Unicode's White_Space,
//     no-break spaces included) made one ASCII space: " Anne\u00a0 Marie "
//     gives "Anne Marie", and "e" followed by a combining acute accent
//     gives "é".
//   - registration_number, comment: text.
//   - phone: text, trimmed; the white space inside is kept as it is and no
//     format is guessed.
//   - parent_external_id: text, or an integer, like external_id.
//   - date_of_birth: a date or timestamp gives its own calendar date,
//     without time zone conversion; text must be a calendar date written
//     YYYY-MM-DD, or an ISO timestamp ("1980-02-29T00:00:00Z",
//     "1980-02-29 00:00:00+01"), which gives its date part, again without
//     time zone conversion (code "invalid_date"). The date must not be
//     after today by Options.Now (code "date_in_future") nor before
//     1800-01-01 (code "date_too_early").
//   - nationality_codes, domicile_codes: text[], or text taken as a
//     one-element list, of countries, each sent as an ISO 3166-1 alpha-2
//     code. Each element is trimmed, then looked up in
//     Options.Countries (without regard to case), then read as an
//     officially assigned alpha-2 code or XK for Kosovo ("ch" gives "CH"),
//     an assigned alpha-3 code ("GBR" gives "GB"), an assigned numeric
//     code ("826" or "4"), or a country's English name: ISO's short,
//     official or common name, CLDR's, and the forms derived from them
//     (see the package documentation). Anything else is an error (code
//     "invalid_country_code") that names the value. Blank elements (and
//     NULL elements, which arrive blank) and duplicates (after conversion)
//     are dropped; an empty list is omitted.
//   - alias_ids: text[], or text taken as a one-element list; elements are
//     trimmed and blank ones dropped; an empty list is omitted.
//   - disabled: boolean, always sent when not NULL: false re-enables a
//     customer.
//   - kyc_level, kyc_level_requested: an integer, or text holding one (code
//     "invalid_integer"); negative values are an error (code
//     "negative_integer").
//   - fields: json or jsonb, or text holding JSON, that must be an object
//     (code "invalid_fields"); an empty object and JSON null are omitted.
//   - review_groups, contacts: text gives the contract's string form, sent
//     as one JSON string in Unicode NFC, which the API splits on ";" and
//     ","; a list with an empty entry ("A;;B") is sent with its entries
//     trimmed, the blank ones dropped and the rest joined with ";". A
//     text[] gives the array form: one [DeltaItem] with Op "set" per name,
//     each trimmed and in NFC, blank (or NULL) and repeated names dropped.
//     A name holding ";" or "," ("Risk; High") must come as an element of
//     a text[]: it arrives as one item. An empty array is sent as [] (the
//     source has none), which lets [Delta] remove what was sent before.
//   - variations: json or jsonb, or text holding JSON: an array of objects
//     with any of the keys first_name, middle_name, last_name,
//     company_name, trading_name, each a string or null. Each object gives
//     a [load.NameVariation] with Op "set", its names normalised like the
//     name fields; repeated variations are dropped. JSON null is omitted;
//     an empty array gives an empty, non-nil slice (see [Delta]). Not an
//     array, an element that is not an object, another key, a name that is
//     not a string, or an element with no name is an error (code
//     "invalid_variations").
func (m *Customers) Map(row extract.Row) (load.Customer, error) {
	return m.mapRow(row, nil)
}

// MapDropping maps row like [Customers.Map], except for the fields that
// Options.Drop names: an invalid value of one of them is left out of the
// customer, which is returned with the field's problem in dropped, rather
// than refusing the row. A customer so sent lacks the field: the API
// leaves what it held for it as it was. The rules of Map about required
// fields and every other field still refuse the row, with dropped nil.
func (m *Customers) MapDropping(row extract.Row) (c load.Customer, dropped []*FieldError, err error) {
	c, err = m.mapRow(row, &dropped)
	if err != nil {
		return c, nil, err
	}
	return c, dropped, nil
}

// mapRow maps row; with dropped not nil, the problems of the fields that
// m drops are appended to it instead of refusing the row.
func (m *Customers) mapRow(row extract.Row, dropped *[]*FieldError) (load.Customer, error) {
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
			c.AccountType, fe = m.accountTypes.convert(v)
		case fieldFirstName:
			c.FirstName, fe = name(f, v)
		case fieldMiddleName:
			c.MiddleName, fe = name(f, v)
		case fieldLastName:
			c.LastName, fe = name(f, v)
		case fieldCompanyName:
			c.CompanyName, fe = name(f, v)
		case fieldTradingName:
			c.TradingName, fe = name(f, v)
		case fieldDateOfBirth:
			c.DateOfBirth, fe = dateOfBirth(v, m.now)
		case fieldNationalityCodes:
			c.NationalityCodes, fe = m.countryCodes(f, v)
		case fieldDomicileCodes:
			c.DomicileCodes, fe = m.countryCodes(f, v)
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
			c.ReviewGroups, fe = nameList(f, v)
		case fieldContacts:
			c.Contacts, fe = nameList(f, v)
		case fieldFields:
			c.Fields, fe = object(f, v)
		case fieldVariations:
			c.Variations, fe = variations(v)
		default:
			panic(fmt.Sprintf("transform: field %d has no conversion", f))
		}
		if fe != nil {
			if dropped == nil || !m.drop[f] {
				return load.Customer{}, fe
			}
			omit(&c, f)
			*dropped = append(*dropped, fe)
		}
	}
	if fe := requiredByType(&c); fe != nil {
		return load.Customer{}, fe
	}
	return c, nil
}

// requiredByType checks the name that c's account type requires: a
// company_name for a firm, a last_name for an individual.
func requiredByType(c *load.Customer) *FieldError {
	switch {
	case c.AccountType == load.AccountFirm && c.CompanyName == "":
		return &FieldError{Field: fieldCompanyName.String(), Code: CodeMissing, Reason: "a firm (account_type F) needs a company_name"}
	case c.AccountType == load.AccountIndividual && c.LastName == "":
		return &FieldError{Field: fieldLastName.String(), Code: CodeMissing, Reason: "an individual (account_type N) needs a last_name"}
	}
	return nil
}

// omit leaves the optional field f out of c.
func omit(c *load.Customer, f field) {
	switch f {
	case fieldDateOfBirth:
		c.DateOfBirth = ""
	case fieldNationalityCodes:
		c.NationalityCodes = nil
	case fieldDomicileCodes:
		c.DomicileCodes = nil
	case fieldAliasIDs:
		c.AliasIDs = nil
	case fieldRegistrationNumber:
		c.RegistrationNumber = ""
	case fieldPhone:
		c.Phone = ""
	case fieldComment:
		c.Comment = ""
	case fieldKYCLevel:
		c.KYCLevel = nil
	case fieldKYCLevelRequested:
		c.KYCLevelRequested = nil
	case fieldFields:
		c.Fields = nil
	default:
		panic(fmt.Sprintf("transform: field %s is not optional", f))
	}
}
