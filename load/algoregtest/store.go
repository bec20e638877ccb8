package algoregtest

import (
	"reflect"

	"github.com/algoreg/algoreg-etl/load"
)

// answer is the body of a 200 answer. It mirrors load.SaveResponse but
// writes customer_id as a JSON number, as an integer id would be.
type answer struct {
	Added       []added       `json:"added"`
	Detail      []load.Detail `json:"detail"`
	Status      string        `json:"status"`
	VerifyInput bool          `json:"verify_input"`
}

type added struct {
	CustomerID int64  `json:"customer_id"`
	ExternalID string `json:"external_id"`
}

// apply checks every record of c and, unless it only verifies, stores those
// that pass. h.mu must be held.
func (h *Handler) apply(c *call) answer {
	req := c.req
	ans := answer{Added: []added{}, Detail: []load.Detail{}, Status: StatusOK, VerifyInput: req.VerifyInput}
	report := func(id string, p *problems) {
		if len(p.errs) == 0 && len(p.warns) == 0 {
			return
		}
		if len(p.errs) > 0 {
			ans.Status = StatusPartial
			p.warns = nil // a record that failed is not stored: nothing to warn about
		}
		ans.Detail = append(ans.Detail, load.Detail{
			ExternalID: id,
			Errors:     append([]load.Problem{}, p.errs...),
			Warnings:   append([]load.Problem{}, p.warns...),
		})
	}

	// Customers accepted so far in this call, merged with what is stored.
	customers := make(map[string]load.Customer)
	var order, created []string
	seen := make(map[string]bool)
	exists := func(id string) bool {
		if _, ok := customers[id]; ok {
			return true
		}
		_, ok := h.customers[id]
		return ok
	}
	for i := range req.Customers {
		in := &req.Customers[i]
		var p problems
		p.checkCustomer(in, c.customers[i], c.variations[i], exists)
		if in.ExternalID != "" {
			if seen[in.ExternalID] {
				p.fail(CodeDuplicate, "external_id %s appears earlier in this call", quote(in.ExternalID))
			}
			seen[in.ExternalID] = true
		}
		if len(p.errs) == 0 {
			merged, stored := h.customers[in.ExternalID]
			merged = clone(merged)
			merge(&merged, in)
			if merged.AccountType == load.AccountIndividual && merged.DateOfBirth == "" {
				p.warn(WarnMissingDateOfBirth, "customer %s of account_type N has no date_of_birth", quote(in.ExternalID))
			}
			customers[in.ExternalID] = merged
			order = append(order, in.ExternalID)
			if !stored {
				created = append(created, in.ExternalID)
			}
		}
		report(in.ExternalID, &p)
	}

	relations := make(map[string]load.Relation)
	var relOrder []string
	seen = make(map[string]bool)
	for i := range req.Relations {
		in := &req.Relations[i]
		var p problems
		p.checkRelation(in, c.relations[i], exists)
		if in.RelationExternalID != "" {
			if seen[in.RelationExternalID] {
				p.fail(CodeDuplicate, "relation_external_id %s appears earlier in this call", quote(in.RelationExternalID))
			}
			seen[in.RelationExternalID] = true
		}
		if len(p.errs) == 0 {
			merged := clone(h.relations[in.RelationExternalID])
			merge(&merged, in)
			relations[in.RelationExternalID] = merged
			relOrder = append(relOrder, in.RelationExternalID)
		}
		report(in.RelationExternalID, &p)
	}

	if req.VerifyInput {
		for _, id := range created {
			ans.Added = append(ans.Added, added{ExternalID: id})
		}
		return ans
	}
	for _, id := range order {
		h.customers[id] = customers[id]
	}
	for _, id := range created {
		h.lastID++
		h.ids[id] = h.lastID
		ans.Added = append(ans.Added, added{CustomerID: h.lastID, ExternalID: id})
	}
	for _, id := range relOrder {
		h.relations[id] = relations[id]
	}
	return ans
}

// merge copies into *dst every field of *src that was sent: a non-zero
// value, or a non-nil slice or pointer. Because the decoder rejects null and
// empty strings, a zero value means the field was omitted.
func merge[T any](dst, src *T) {
	d, s := reflect.ValueOf(dst).Elem(), reflect.ValueOf(src).Elem()
	for i := range s.NumField() {
		if f := s.Field(i); !f.IsZero() {
			d.Field(i).Set(f)
		}
	}
}

// clone returns a deep copy of a record, so that callers cannot change the
// store through the slices and pointers they were given.
func clone[T any](v T) T {
	rv := reflect.ValueOf(&v).Elem()
	for i := range rv.NumField() {
		f := rv.Field(i)
		switch {
		case f.Kind() == reflect.Slice && !f.IsNil():
			c := reflect.MakeSlice(f.Type(), f.Len(), f.Len())
			reflect.Copy(c, f) // elements are strings, bytes or structs of strings
			f.Set(c)
		case f.Kind() == reflect.Pointer && !f.IsNil():
			c := reflect.New(f.Type().Elem())
			c.Elem().Set(f.Elem())
			f.Set(c)
		}
	}
	return v
}
