package transform

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Codes of a [FieldError]. They are stable: tools and reports may match on
// them.
const (
	CodeMissing            = "missing"              // a required field is NULL or empty
	CodeInvalidType        = "invalid_type"         // the column's type does not fit the field
	CodeInvalidUTF8        = "invalid_utf8"         // a string is not valid UTF-8
	CodeInvalidAccountType = "invalid_account_type" // account_type is not F, N or a configured source value
	CodeInvalidDate        = "invalid_date"         // not a calendar date written YYYY-MM-DD, nor an ISO timestamp
	CodeDateInFuture       = "date_in_future"       // a date of birth after today
	CodeDateTooEarly       = "date_too_early"       // a date of birth before 1800-01-01
	CodeInvalidCountryCode = "invalid_country_code" // names no country: not a code, nor a name the table or Options.Countries knows
	CodeInvalidInteger     = "invalid_integer"      // text that does not hold an integer
	CodeNegativeInteger    = "negative_integer"     // an integer below zero
	CodeInvalidFields      = "invalid_fields"       // fields is not a JSON object
	CodeInvalidVariations  = "invalid_variations"   // variations is not an array of name objects
)

// maxValueRunes is how much of an offending value a FieldError keeps.
const maxValueRunes = 100

// FieldError says which field of a row is wrong and why. The row itself is
// known to the caller, which has its position.
type FieldError struct {
	Field string // API field name, e.g. "date_of_birth"
	// Value is the offending value as text: at most 100 runes (a cut value
	// ends in "…"), valid UTF-8 (invalid bytes become U+FFFD), and empty
	// when the problem is a missing value.
	Value  string
	Code   string // stable machine code, one of the Code constants
	Reason string // human text
}

// Error returns the field, the value if any, and the reason, as in
//
//	date_of_birth "2999-01-01": date in the future
func (e *FieldError) Error() string {
	if e.Value == "" {
		return e.Field + ": " + e.Reason
	}
	return e.Field + " " + strconv.Quote(e.Value) + ": " + e.Reason
}

// fieldError returns a FieldError for field f about value v, which may be
// any row value or a piece of one.
func fieldError(f field, v any, code, reason string) *FieldError {
	return &FieldError{Field: f.String(), Value: valueText(v), Code: code, Reason: reason}
}

// valueText renders a row value as text for a FieldError.
func valueText(v any) string {
	var s string
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		s = v
	case int64:
		s = strconv.FormatInt(v, 10)
	case float64:
		s = strconv.FormatFloat(v, 'g', -1, 64)
	case bool:
		s = strconv.FormatBool(v)
	case time.Time:
		s = v.Format(time.RFC3339Nano)
	case []string:
		// PostgreSQL's array text form, unquoted: enough to recognise it.
		s = "{" + strings.Join(v, ",") + "}"
	case json.RawMessage:
		s = string(v)
	default:
		s = fmt.Sprint(v)
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	if utf8.RuneCountInString(s) <= maxValueRunes {
		return s
	}
	n := 0
	for i := range s {
		if n == maxValueRunes-1 {
			return s[:i] + "…"
		}
		n++
	}
	return s
}

// sqlType names the SQL type that a row value of v's Go type comes from,
// for error messages.
func sqlType(v any) string {
	switch v.(type) {
	case string:
		return "text"
	case int64:
		return "integer"
	case float64:
		return "double precision"
	case bool:
		return "boolean"
	case time.Time:
		return "timestamp"
	case []string:
		return "text[]"
	case json.RawMessage:
		return "json"
	default:
		return fmt.Sprintf("Go type %T", v)
	}
}

// invalidType returns the FieldError for a value of the wrong type.
func invalidType(f field, v any, want string) *FieldError {
	return &FieldError{
		Field:  f.String(),
		Value:  valueText(v),
		Code:   CodeInvalidType,
		Reason: "want " + want + ", got " + sqlType(v),
	}
}
