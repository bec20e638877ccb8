package transform

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/algoreg/algoreg-etl/extract"
	"github.com/algoreg/algoreg-etl/load"
)

// Code of a relation_type the job's mapping does not know.
const CodeInvalidRelationType = "invalid_relation_type"

// RelationOptions tune the mapping of relation rows.
type RelationOptions struct {
	// Types maps the source's link kinds to Algoreg relation_type integers.
	// The contract does not fix those integers (they are the tenant's
	// RelationsTypes), so the mapping is configuration. Keys are matched
	// without regard to case, after trimming.
	Types map[string]int64
}

// Relations maps the rows of one relations query to relations. It is safe
// for concurrent use.
type Relations struct {
	plan  []field
	types map[string]int64 // keys lower-cased
}

// NewRelations returns the mapping of rows with columns cols. It fails if a
// column is not a relation field, appears twice, or if one of
// relation_external_id, parent_customer_external_id,
// child_customer_external_id and relation_type is missing.
func NewRelations(cols extract.Columns, opts RelationOptions) (*Relations, error) {
	m := &Relations{plan: make([]field, len(cols)), types: make(map[string]int64, len(opts.Types))}
	for k, v := range opts.Types {
		if v < 1 {
			return nil, fmt.Errorf("transform: relation type %q maps to %d; relation types are positive integers", k, v)
		}
		m.types[strings.ToLower(strings.TrimSpace(k))] = v
	}
	seen := make(map[field]bool, len(cols))
	for i, c := range cols {
		f, ok := lookupRelationField(c)
		if !ok {
			return nil, unknownColumn(c, "relation", relationFields)
		}
		if seen[f] {
			return nil, fmt.Errorf("transform: column %q appears twice", c)
		}
		seen[f] = true
		m.plan[i] = f
	}
	for _, f := range []field{fieldRelationExternalID, fieldParentCustomerExternalID, fieldChildCustomerExternalID, fieldRelationType} {
		if !seen[f] {
			return nil, fmt.Errorf("transform: no %q column: a relations query must select one", f.String())
		}
	}
	return m, nil
}

// Map maps row, whose columns must be those given to [NewRelations], to a
// relation, or returns a [*FieldError]:
//
//   - relation_external_id, parent_customer_external_id,
//     child_customer_external_id: text or an integer; required (code
//     "missing"). A relation from a customer to itself is an error (code
//     "invalid_relation").
//   - relation_type: an integer of at least 1, or a text link kind that
//     RelationOptions.Types maps to one (code "invalid_relation_type").
//   - disabled: boolean, always sent when not NULL: a link that ended is
//     sent with disabled true.
//   - fields: a JSON object, as for customers.
func (m *Relations) Map(row extract.Row) (load.Relation, error) {
	var r load.Relation
	if len(row.Values) != len(m.plan) {
		return r, fmt.Errorf("transform: row has %d values, want %d", len(row.Values), len(m.plan))
	}
	for i, f := range m.plan {
		v := row.Values[i]
		var fe *FieldError
		switch f {
		case fieldRelationExternalID:
			r.RelationExternalID, fe = key(f, v)
		case fieldParentCustomerExternalID:
			r.ParentCustomerExternalID, fe = key(f, v)
		case fieldChildCustomerExternalID:
			r.ChildCustomerExternalID, fe = key(f, v)
		case fieldRelationType:
			r.RelationType, fe = m.relationType(v)
		case fieldRelationDisabled:
			var b, ok bool
			if b, ok, fe = flag(f, v); ok {
				r.Disabled = &b
			}
		case fieldRelationFields:
			r.Fields, fe = object(f, v)
		}
		if fe != nil {
			return load.Relation{}, fe
		}
	}
	for _, f := range []field{fieldRelationExternalID, fieldParentCustomerExternalID, fieldChildCustomerExternalID} {
		if m.value(&r, f) == "" {
			return load.Relation{}, &FieldError{Field: f.String(), Code: CodeMissing, Reason: "required"}
		}
	}
	if r.ParentCustomerExternalID == r.ChildCustomerExternalID {
		return load.Relation{}, &FieldError{Field: fieldChildCustomerExternalID.String(), Value: r.ChildCustomerExternalID,
			Code: CodeInvalidRelation, Reason: "a relation links two different customers"}
	}
	return r, nil
}

// Code of a relation that links a customer to itself.
const CodeInvalidRelation = "invalid_relation"

func (m *Relations) value(r *load.Relation, f field) string {
	switch f {
	case fieldRelationExternalID:
		return r.RelationExternalID
	case fieldParentCustomerExternalID:
		return r.ParentCustomerExternalID
	}
	return r.ChildCustomerExternalID
}

func (m *Relations) relationType(v any) (int64, *FieldError) {
	f := fieldRelationType
	switch v := v.(type) {
	case nil:
		return 0, &FieldError{Field: f.String(), Code: CodeMissing, Reason: "required"}
	case int64:
		if v < 1 {
			return 0, fieldError(f, v, CodeInvalidRelationType, "relation types are positive integers")
		}
		return v, nil
	case string:
		s, fe := trim(f, v)
		if fe != nil {
			return 0, fe
		}
		if t, ok := m.types[strings.ToLower(s)]; ok {
			return t, nil
		}
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 1 {
			return n, nil
		}
		known := make([]string, 0, len(m.types))
		for k := range m.types {
			known = append(known, k)
		}
		return 0, fieldError(f, s, CodeInvalidRelationType, fmt.Sprintf("not a link kind of the job's relation_types (%s)", strings.Join(known, ", ")))
	}
	return 0, invalidType(f, v, "integer or text")
}

// HashRelation returns the content hash of r, as [HashCustomer] does for a
// customer.
func HashRelation(r *load.Relation) (Hash, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return Hash{}, fmt.Errorf("transform: hashing relation %q: %w", r.RelationExternalID, err)
	}
	sum := sha256.Sum256(b)
	return Hash(sum[:16]), nil
}

// EncodeRelation encodes r once for the request, setting r.Encoded (see
// [load.AppendRelation]), and returns its content hash, the same as
// [HashRelation]'s, and its encoding by json.Marshal, which shares r.Encoded
// unless r holds <, > or &.
func EncodeRelation(r *load.Relation) (Hash, json.RawMessage, error) {
	r.Encoded = nil
	b, err := load.AppendRelation(nil, r)
	if err != nil {
		return Hash{}, nil, fmt.Errorf("transform: hashing relation %q: %w", r.RelationExternalID, err)
	}
	r.Encoded = b
	m := marshalled(b)
	sum := sha256.Sum256(m)
	return Hash(sum[:16]), m, nil
}
