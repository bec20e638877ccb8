package transform

import (
	"fmt"
	"sort"
	"strings"

	"github.com/algoreg/algoreg-etl/load"
)

// accountTypes maps source values of account_type to "F" or "N".
type accountTypes struct {
	values   []accountType
	want     string // the accepted values, for error messages
	required bool   // the source's own values are mapped: NULL or blank is an error
}

// accountType is one source value of account_type and what it stands for.
type accountType struct {
	from string // trimmed, matched without regard to case
	to   string // load.AccountFirm or load.AccountIndividual
}

// newAccountTypes checks the Options.AccountTypes m and returns its
// mapping, or the contract's own values F and N when m is empty. Keys are
// trimmed and must not be blank; values must be "F" or "N", in either case;
// two keys that differ only in case must not map to different values.
func newAccountTypes(m map[string]string) (accountTypes, error) {
	if len(m) == 0 {
		return accountTypes{
			values: []accountType{{"F", load.AccountFirm}, {"N", load.AccountIndividual}},
			want:   `"F" (firm) or "N" (individual)`,
		}, nil
	}
	t := accountTypes{values: make([]accountType, 0, len(m)), required: true}
	for from, to := range m {
		key := strings.TrimSpace(from)
		if key == "" {
			return accountTypes{}, fmt.Errorf("transform: Options.AccountTypes has a blank source value %q", from)
		}
		switch strings.ToUpper(strings.TrimSpace(to)) {
		case load.AccountFirm:
			to = load.AccountFirm
		case load.AccountIndividual:
			to = load.AccountIndividual
		default:
			return accountTypes{}, fmt.Errorf(`transform: Options.AccountTypes maps %q to %q; want "F" (firm) or "N" (individual)`, from, to)
		}
		t.values = append(t.values, accountType{from: key, to: to})
	}
	// Sorted, so that error messages do not depend on the map's order.
	sort.Slice(t.values, func(i, j int) bool { return t.values[i].from < t.values[j].from })
	var b strings.Builder
	for i, a := range t.values {
		for _, o := range t.values[:i] {
			if strings.EqualFold(a.from, o.from) && a.to != o.to {
				return accountTypes{}, fmt.Errorf("transform: Options.AccountTypes maps %q to %q and %q to %q: source values are matched without regard to case",
					o.from, o.to, a.from, a.to)
			}
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q (%s)", a.from, a.to)
	}
	t.want = b.String()
	return t, nil
}

// convert converts the value of account_type: one of t's source values,
// matched without regard to case after trimming. NULL or blank omits the
// field, unless the source's own values are mapped: a row whose kind is
// not one of them is then an error, blank included.
func (t *accountTypes) convert(v any) (string, *FieldError) {
	s, fe := text(fieldAccountType, v)
	if fe != nil {
		return "", fe
	}
	if s == "" {
		if t.required {
			return "", &FieldError{Field: fieldAccountType.String(), Code: CodeMissing, Reason: "missing (NULL or blank); want " + t.want}
		}
		return "", nil
	}
	for _, a := range t.values {
		if strings.EqualFold(s, a.from) {
			return a.to, nil
		}
	}
	return "", fieldError(fieldAccountType, s, CodeInvalidAccountType, "want "+t.want)
}
