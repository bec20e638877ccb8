package load

import (
	"encoding/json"
	"fmt"
)

// This file holds the wire types of the Algoreg "Save customers" contract
// (POST /api/v1/customers/save). It is the one place in the project that
// spells out the contract; other packages use these types.
//
// Where the contract is silent, the choices are ours and are documented on
// the field they concern:
//
//   - Omitted fields leave the stored value alone. Every optional field is
//     therefore omitted from the JSON when empty, and a field is only set when
//     the source knows its value. Booleans and integers are pointers so that
//     "false" and "0" can be sent on purpose.
//   - review_groups and contacts accept a string or an array; they are carried
//     as raw JSON so that either form passes through unchanged.

// SavePath is the path of the Save customers endpoint, relative to the base URL.
const SavePath = "/api/v1/customers/save"

// SaveRequest is the body of a Save customers call.
type SaveRequest struct {
	Customers       []Customer `json:"customers,omitempty"`
	Relations       []Relation `json:"relations,omitempty"`
	DisableRiskScan bool       `json:"disable_risk_scan"`
	VerifyInput     bool       `json:"verify_input"`
}

// Customer is a SaveCustomerInput: one customer to create or update, keyed by
// ExternalID.
type Customer struct {
	ExternalID         string          `json:"external_id"`
	AccountType        string          `json:"account_type,omitempty"` // "F" firm or "N" individual
	FirstName          string          `json:"first_name,omitempty"`
	MiddleName         string          `json:"middle_name,omitempty"`
	LastName           string          `json:"last_name,omitempty"`
	CompanyName        string          `json:"company_name,omitempty"`
	TradingName        string          `json:"trading_name,omitempty"`
	DateOfBirth        string          `json:"date_of_birth,omitempty"` // YYYY-MM-DD
	NationalityCodes   []string        `json:"nationality_codes,omitempty"`
	DomicileCodes      []string        `json:"domicile_codes,omitempty"`
	AliasIDs           []string        `json:"alias_ids,omitempty"`
	RegistrationNumber string          `json:"registration_number,omitempty"`
	Phone              string          `json:"phone,omitempty"`
	Comment            string          `json:"comment,omitempty"`
	Disabled           *bool           `json:"disabled,omitempty"`
	KYCLevel           *int64          `json:"kyc_level,omitempty"`
	KYCLevelRequested  *int64          `json:"kyc_level_requested,omitempty"`
	ParentExternalID   string          `json:"parent_external_id,omitempty"`
	ReviewGroups       json.RawMessage `json:"review_groups,omitempty"`
	Contacts           json.RawMessage `json:"contacts,omitempty"`
	Fields             json.RawMessage `json:"fields,omitempty"` // a JSON object
	Variations         []NameVariation `json:"variations,omitempty"`

	// Encoded, if not nil, is the customer's encoding by [AppendCustomer],
	// which a request carries as it is instead of encoding the customer
	// again. Whoever sets it keeps it in step: a change to any other field
	// must clear it.
	Encoded json.RawMessage `json:"-"`
}

// Account types of a Customer.
const (
	AccountFirm       = "F"
	AccountIndividual = "N"
)

// NameVariation is a SaveCustomerNameVariationInput.
type NameVariation struct {
	Op          string `json:"_op"` // "set" or "del"
	FirstName   string `json:"first_name,omitempty"`
	MiddleName  string `json:"middle_name,omitempty"`
	LastName    string `json:"last_name,omitempty"`
	CompanyName string `json:"company_name,omitempty"`
	TradingName string `json:"trading_name,omitempty"`
}

// Relation is a SaveCustomerRelationInput: a link between two customers.
type Relation struct {
	RelationExternalID       string          `json:"relation_external_id"`
	ParentCustomerExternalID string          `json:"parent_customer_external_id"`
	ChildCustomerExternalID  string          `json:"child_customer_external_id"`
	RelationType             int64           `json:"relation_type"`
	Disabled                 *bool           `json:"disabled,omitempty"`
	Fields                   json.RawMessage `json:"fields,omitempty"`

	// Encoded, if not nil, is the relation's encoding by [AppendRelation],
	// which a request carries as it is instead of encoding the relation
	// again. Whoever sets it keeps it in step: a change to any other field
	// must clear it.
	Encoded json.RawMessage `json:"-"`
}

// SaveResponse is the body of a 200 answer.
type SaveResponse struct {
	Added       []Added  `json:"added"`
	Detail      []Detail `json:"detail"`
	Status      string   `json:"status"`
	VerifyInput bool     `json:"verify_input"`
}

// Added names a customer created by a call.
type Added struct {
	CustomerID ID     `json:"customer_id"`
	ExternalID string `json:"external_id"`
}

// Detail holds the problems found with one record of a call.
type Detail struct {
	ExternalID string    `json:"external_id"`
	Errors     []Problem `json:"errors"`
	Warnings   []Problem `json:"warnings"`
}

// Problem is one error or warning of a Detail.
type Problem struct {
	Error  string `json:"error"`
	Detail string `json:"detail"`
}

// ErrorBody is the body of any answer other than 200.
type ErrorBody struct {
	Errors []ErrorItem `json:"errors"`
}

// ErrorItem is one entry of ErrorBody. The list may mix deprecated ("v1") and
// current ("v2") errors for the same problem.
type ErrorItem struct {
	Code             string `json:"code"`
	Message          string `json:"message"`
	Deprecated       bool   `json:"deprecated"`
	WillBeDeprecated bool   `json:"will_be_deprecated"`
}

// ID is an identifier the API assigns. The contract does not give its JSON
// type, so both a number and a string are accepted; it is kept as text.
type ID string

// UnmarshalJSON accepts a JSON string or number.
func (id *ID) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*id = ID(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("customer id: %w", err)
	}
	*id = ID(n)
	return nil
}
