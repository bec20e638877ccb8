package transform

import (
	"fmt"
	"strings"
)

// field is a customer field that a query column may carry.
type field uint8

// The customer fields a query may select, in the contract's order.
const (
	fieldExternalID field = iota
	fieldAccountType
	fieldFirstName
	fieldMiddleName
	fieldLastName
	fieldCompanyName
	fieldTradingName
	fieldDateOfBirth
	fieldNationalityCodes
	fieldDomicileCodes
	fieldAliasIDs
	fieldRegistrationNumber
	fieldPhone
	fieldComment
	fieldDisabled
	fieldKYCLevel
	fieldKYCLevelRequested
	fieldParentExternalID
	fieldReviewGroups
	fieldContacts
	fieldFields
	fieldVariations

	// The fields of a relation.
	fieldRelationExternalID
	fieldParentCustomerExternalID
	fieldChildCustomerExternalID
	fieldRelationType
	fieldRelationDisabled
	fieldRelationFields

	numFields
)

// Customer fields are those before fieldRelationExternalID; relation
// fields the rest.
var (
	customerFields = fieldNames[:fieldRelationExternalID]
	relationFields = fieldNames[fieldRelationExternalID:]
)

// fieldNames holds the API name of each field, which is also the name of the
// column that carries it.
var fieldNames = [numFields]string{
	fieldExternalID:         "external_id",
	fieldAccountType:        "account_type",
	fieldFirstName:          "first_name",
	fieldMiddleName:         "middle_name",
	fieldLastName:           "last_name",
	fieldCompanyName:        "company_name",
	fieldTradingName:        "trading_name",
	fieldDateOfBirth:        "date_of_birth",
	fieldNationalityCodes:   "nationality_codes",
	fieldDomicileCodes:      "domicile_codes",
	fieldAliasIDs:           "alias_ids",
	fieldRegistrationNumber: "registration_number",
	fieldPhone:              "phone",
	fieldComment:            "comment",
	fieldDisabled:           "disabled",
	fieldKYCLevel:           "kyc_level",
	fieldKYCLevelRequested:  "kyc_level_requested",
	fieldParentExternalID:   "parent_external_id",
	fieldReviewGroups:       "review_groups",
	fieldContacts:           "contacts",
	fieldFields:             "fields",
	fieldVariations:         "variations",

	fieldRelationExternalID:       "relation_external_id",
	fieldParentCustomerExternalID: "parent_customer_external_id",
	fieldChildCustomerExternalID:  "child_customer_external_id",
	fieldRelationType:             "relation_type",
	fieldRelationDisabled:         "disabled",
	fieldRelationFields:           "fields",
}

// String returns the API name of f.
func (f field) String() string { return fieldNames[f] }

// lookupField returns the customer field a column named name carries.
// Names are matched exactly: PostgreSQL folds unquoted column names to lower
// case.
func lookupField(name string) (field, bool) {
	for f, n := range customerFields {
		if n == name {
			return field(f), true
		}
	}
	return 0, false
}

// lookupRelationField returns the relation field a column named name
// carries.
func lookupRelationField(name string) (field, bool) {
	for f, n := range relationFields {
		if n == name {
			return fieldRelationExternalID + field(f), true
		}
	}
	return 0, false
}

// unknownColumnError describes a column that carries no customer field,
// suggesting the field it may be a misspelling of.
func unknownColumnError(name string) error {
	return unknownColumn(name, "customer", customerFields)
}

// unknownColumn describes a column that carries none of the known fields,
// suggesting the one it may be a misspelling of.
func unknownColumn(name, what string, known []string) error {
	hint := ""
	best, bestDist := "", 3 // suggest only names at most 2 edits away
	for _, n := range known {
		if d := editDistance(strings.ToLower(name), n); d < bestDist {
			best, bestDist = n, d
		}
	}
	if best != "" {
		hint = fmt.Sprintf(" (did you mean %q?)", best)
	}
	return fmt.Errorf("transform: column %q is not a %s field%s; the query may select only the cursor columns and these: %s",
		name, what, hint, strings.Join(known, ", "))
}

// editDistance returns the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
