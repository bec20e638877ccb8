package transform

import (
	"errors"

	"github.com/algoreg/algoreg-etl/extract"
)

// TypeErrors returns, for each column whose SQL type can never carry its
// field, the error (code "invalid_type") that every non-NULL value of the
// column would get, so that a query selecting, say, a text[] as last_name
// is refused before any row is read. zeros holds, for each column given to
// [NewCustomers], the zero value of the Go type of its values
// ([extract.Column.Zero]).
//
// The conversions of Map are the judge: each column is mapped alone, with
// its zero value, so a type passes exactly when Map accepts it.
func (m *Customers) TypeErrors(zeros []any) []*FieldError {
	var out []*FieldError
	for i := range m.plan {
		values := make([]any, len(m.plan))
		for j, f := range m.plan {
			if f == fieldExternalID && j != i {
				values[j] = "x" // external_id is required and converted first
			}
		}
		values[i] = zeros[i]
		_, err := m.Map(extract.Row{Values: values})
		if fe := typeError(err, m.plan[i]); fe != nil {
			out = append(out, fe)
		}
	}
	return out
}

// TypeErrors is [Customers.TypeErrors] for the columns of a relations
// query.
func (m *Relations) TypeErrors(zeros []any) []*FieldError {
	var out []*FieldError
	for i := range m.plan {
		values := make([]any, len(m.plan))
		for j, f := range m.plan {
			if f == fieldRelationType && j != i {
				values[j] = int64(1) // required, and an integer needs no mapping
			}
		}
		values[i] = zeros[i]
		_, err := m.Map(extract.Row{Values: values})
		if fe := typeError(err, m.plan[i]); fe != nil {
			out = append(out, fe)
		}
	}
	return out
}

// typeError returns err when it is the invalid_type error of field f.
func typeError(err error, f field) *FieldError {
	var fe *FieldError
	if errors.As(err, &fe) && fe.Code == CodeInvalidType && fe.Field == f.String() {
		return &FieldError{Field: fe.Field, Code: fe.Code, Reason: fe.Reason}
	}
	return nil
}
