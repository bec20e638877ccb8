package algoregtest

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/algoreg/algoreg-etl/load"
)

// Codes of the errors in an answer's detail. The real API's codes are not in
// the contract; these are the sandbox's.
const (
	CodeMissingField    = "missing_field"         // a required field is absent
	CodeNullValue       = "null_value"            // a field is null
	CodeEmptyValue      = "empty_value"           // a string is empty or only white space
	CodeInvalidValue    = "invalid_value"         // a value breaks the contract
	CodeDuplicate       = "duplicate_external_id" // an id already seen in the same call
	CodeUnknownCustomer = "unknown_customer"      // a parent, or a relation's customer, does not exist
)

// WarnMissingDateOfBirth is the warning given to a customer of account type
// N stored without a date of birth.
const WarnMissingDateOfBirth = "missing_date_of_birth"

// Values of an answer's status. The contract does not give the real ones.
const (
	StatusOK      = "ok"      // every record passed, perhaps with warnings
	StatusPartial = "partial" // at least one record failed
)

// maxQuoted is the most of a value quoted in a detail message.
const maxQuoted = 64

// problems collects the errors and warnings of one record.
type problems struct {
	errs, warns []load.Problem
}

func (p *problems) fail(code, format string, args ...any) {
	p.errs = append(p.errs, load.Problem{Error: code, Detail: fmt.Sprintf(format, args...)})
}

func (p *problems) warn(code, format string, args ...any) {
	p.warns = append(p.warns, load.Problem{Error: code, Detail: fmt.Sprintf(format, args...)})
}

// checkRaw reports the fields of a raw record that are null or blank
// strings, naming them with prefix.
func (p *problems) checkRaw(prefix string, raw map[string]json.RawMessage) {
	for _, k := range sortedKeys(raw) {
		switch v := raw[k]; {
		case isNull(v):
			p.fail(CodeNullValue, "%s%s is null; omit it instead", prefix, k)
		case isBlankString(v):
			p.fail(CodeEmptyValue, "%s%s is %s; omit it instead", prefix, k, v)
		}
	}
}

// checkRequired reports the keys absent from a raw record.
func (p *problems) checkRequired(raw map[string]json.RawMessage, keys ...string) {
	for _, k := range keys {
		if _, ok := raw[k]; !ok {
			p.fail(CodeMissingField, "%s is required", k)
		}
	}
}

// checkObject reports a field present, not null, and not a JSON object.
func (p *problems) checkObject(raw map[string]json.RawMessage, key string) {
	if v, ok := raw[key]; ok && !isNull(v) && (len(v) == 0 || v[0] != '{') {
		p.fail(CodeInvalidValue, "%s must be a JSON object, not %s", key, quote(string(v)))
	}
}

// checkCustomer checks one customer against the contract. exists reports
// whether a customer is stored or was accepted earlier in the call.
func (p *problems) checkCustomer(c *load.Customer, raw map[string]json.RawMessage, variations []map[string]json.RawMessage, exists func(string) bool) {
	p.checkRaw("", raw)
	p.checkRequired(raw, "external_id")
	switch c.AccountType {
	case "", load.AccountFirm, load.AccountIndividual:
	default:
		p.fail(CodeInvalidValue, "account_type %s must be %q or %q", quote(c.AccountType), load.AccountFirm, load.AccountIndividual)
	}
	if c.DateOfBirth != "" && !isDate(c.DateOfBirth) {
		p.fail(CodeInvalidValue, "date_of_birth %s is not a real YYYY-MM-DD date", quote(c.DateOfBirth))
	}
	p.checkCountries("nationality_codes", c.NationalityCodes)
	p.checkCountries("domicile_codes", c.DomicileCodes)
	for i, a := range c.AliasIDs {
		if strings.TrimSpace(a) == "" {
			p.fail(CodeEmptyValue, "alias_ids[%d] is %s; leave it out instead", i, quote(a))
		}
	}
	p.checkObject(raw, "fields")
	p.checkList(raw, "review_groups")
	p.checkList(raw, "contacts")
	for i, v := range c.Variations {
		where := fmt.Sprintf("variations[%d]", i)
		if i < len(variations) {
			p.checkRaw(where+".", variations[i])
		}
		if v.Op != "set" && v.Op != "del" {
			p.fail(CodeInvalidValue, "%s._op %s must be \"set\" or \"del\"", where, quote(v.Op))
		}
		if v.FirstName == "" && v.MiddleName == "" && v.LastName == "" && v.CompanyName == "" && v.TradingName == "" {
			p.fail(CodeInvalidValue, "%s names nothing: give at least one of first_name, middle_name, last_name, company_name, trading_name", where)
		}
	}
	switch parent := c.ParentExternalID; {
	case parent == "":
	case parent == c.ExternalID:
		p.fail(CodeInvalidValue, "parent_external_id %s is the customer itself", quote(parent))
	case !exists(parent):
		p.fail(CodeUnknownCustomer, "parent_external_id %s names no customer stored or sent earlier in this call", quote(parent))
	}
}

// checkRelation checks one relation against the contract. exists reports
// whether a customer is stored or was accepted in the call.
func (p *problems) checkRelation(r *load.Relation, raw map[string]json.RawMessage, exists func(string) bool) {
	p.checkRaw("", raw)
	p.checkRequired(raw, "relation_external_id", "parent_customer_external_id", "child_customer_external_id", "relation_type")
	if _, ok := raw["relation_type"]; ok && r.RelationType < 1 {
		p.fail(CodeInvalidValue, "relation_type %d must be a positive integer", r.RelationType)
	}
	p.checkObject(raw, "fields")
	if r.ParentCustomerExternalID != "" && r.ParentCustomerExternalID == r.ChildCustomerExternalID {
		p.fail(CodeInvalidValue, "parent and child are the same customer %s", quote(r.ChildCustomerExternalID))
	}
	for _, end := range []struct{ key, id string }{
		{"parent_customer_external_id", r.ParentCustomerExternalID},
		{"child_customer_external_id", r.ChildCustomerExternalID},
	} {
		if end.id != "" && !exists(end.id) {
			p.fail(CodeUnknownCustomer, "%s %s names no customer stored or sent in this call", end.key, quote(end.id))
		}
	}
}

// checkCountries reports codes that are not two upper-case ASCII letters.
func (p *problems) checkCountries(key string, codes []string) {
	for i, code := range codes {
		if len(code) != 2 || !isUpper(code[0]) || !isUpper(code[1]) {
			p.fail(CodeInvalidValue, "%s[%d] %s is not a country code of two upper-case letters", key, i, quote(code))
		}
	}
}

// checkList checks review_groups or contacts: a string whose parts, split
// on ';' and ',', are all non-empty, or an array of non-empty strings or of
// objects.
func (p *problems) checkList(raw map[string]json.RawMessage, key string) {
	v, ok := raw[key]
	if !ok || isNull(v) || isBlankString(v) {
		return // absent, or already reported by checkRaw
	}
	switch v[0] {
	case '"':
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			p.fail(CodeInvalidValue, "%s: %v", key, err)
			return
		}
		for _, part := range strings.Split(strings.ReplaceAll(s, ",", ";"), ";") {
			if strings.TrimSpace(part) == "" {
				p.fail(CodeInvalidValue, "%s %s holds an empty entry between separators ';' or ','", key, quote(s))
				return
			}
		}
	case '[':
		var items []json.RawMessage
		if err := json.Unmarshal(v, &items); err != nil {
			p.fail(CodeInvalidValue, "%s: %v", key, err)
			return
		}
		for i, it := range items {
			switch {
			case isBlankString(it):
				p.fail(CodeEmptyValue, "%s[%d] is %s; leave it out instead", key, i, it)
			case len(it) > 0 && (it[0] == '"' || it[0] == '{'):
			default:
				p.fail(CodeInvalidValue, "%s[%d] %s must be a string or an object", key, i, quote(string(it)))
			}
		}
	default:
		p.fail(CodeInvalidValue, "%s must be a string or an array, not %s", key, quote(string(v)))
	}
}

// isDate reports whether s is a real date written YYYY-MM-DD.
func isDate(s string) bool {
	_, err := time.Parse(time.DateOnly, s)
	return err == nil && len(s) == len(time.DateOnly)
}

func isUpper(b byte) bool { return 'A' <= b && b <= 'Z' }

// quote quotes a value for a message, cut short if long.
func quote(s string) string {
	if len(s) > maxQuoted {
		return fmt.Sprintf("%q...", s[:maxQuoted])
	}
	return fmt.Sprintf("%q", s)
}
