package algoregtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/algoreg/algoreg-etl/load"
)

// SetFast turns fast mode on or off. In fast mode, for benchmarks, a call's
// body is decoded into the wire types, which checks that it is JSON of the
// right shape and types, and each record must carry its ids (a customer's
// external_id; a relation's relation_external_id, both customer ids and a
// relation_type), or the call gets 400. Nothing else is checked and nothing
// is stored; the answer is 200 with empty added and detail. Faults, Poison,
// the hook and the counters (Requests, Received, RiskScanFlags, CallTimes)
// work as in normal mode.
func (h *Handler) SetFast(on bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fast = on
}

// decodeFast decodes a body for fast mode.
func decodeFast(body []byte) (*call, error) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, errors.New("the body is empty")
	}
	if trimmed[0] != '{' {
		return nil, errors.New("invalid body: not a JSON object")
	}
	c := &call{req: new(load.SaveRequest)}
	if err := json.Unmarshal(trimmed, c.req); err != nil {
		return nil, fmt.Errorf("invalid body: %v", err)
	}
	req := c.req
	for i := range req.Customers {
		if req.Customers[i].ExternalID == "" {
			return nil, fmt.Errorf("invalid body: customers[%d] has no external_id", i)
		}
	}
	for i := range req.Relations {
		r := &req.Relations[i]
		if r.RelationExternalID == "" || r.ParentCustomerExternalID == "" || r.ChildCustomerExternalID == "" || r.RelationType == 0 {
			return nil, fmt.Errorf("invalid body: relations[%d] lacks one of relation_external_id, parent_customer_external_id, child_customer_external_id, relation_type", i)
		}
	}
	if len(req.Customers) == 0 && len(req.Relations) == 0 {
		return nil, errors.New("the request holds no customers and no relations")
	}
	return c, nil
}
