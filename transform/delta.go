package transform

import (
	"bytes"
	"encoding/json"
	"slices"

	"github.com/algoreg/algoreg-etl/load"
)

// Delta returns what to send for cur: cur with "del" items added for the
// review groups, contacts and name variations that prev had and cur lacks,
// and without the lists that, after that, have nothing to set or remove.
// prev is nil when nothing was sent before.
//
// prev is what was last sent for cur's external_id, cur a customer as
// [Customers.Map] returned it. Delta works on each of the three fields
// apart, and only where both prev and cur carry the array form:
//
//   - review_groups, contacts: when both are JSON arrays of [DeltaItem],
//     each name that prev sets ("_op":"set") and that cur neither sets nor
//     removes gets an item {"_op":"del","value":name}, after cur's own items,
//     in prev's order. When either holds the string form, or nothing, the
//     field is left as cur has it: the contract's string form replaces the
//     whole list, so a removal is expressed by the string itself and cannot
//     be a delta. That is our reading of the contract, which does not say
//     how the two forms combine.
//   - variations: a variation is identified by its full set of names. Each
//     variation that prev sets and that cur neither sets nor removes is
//     added to cur with Op "del". A nil cur.Variations means the source said
//     nothing (NULL, or no variations column) and is left alone; a non-nil
//     empty one, which Map returns for an empty array, means the source has
//     none, so every variation prev set is removed.
//
// Items that prev itself removed are not removed again. Delta neither
// modifies prev or cur nor shares a slice of cur that it appends to: the
// result may be modified freely except where it equals cur's fields. The
// result's Encoded is its encoding when Delta can tell it from
// cur.Encoded (cur's own, or cur's without the empty lists it leaves out),
// nil otherwise.
func Delta(prev, cur *load.Customer) load.Customer {
	out := *cur
	if prev != nil {
		out.ReviewGroups = deltaList(prev.ReviewGroups, cur.ReviewGroups)
		out.Contacts = deltaList(prev.Contacts, cur.Contacts)
		out.Variations = deltaVariations(prev.Variations, cur.Variations)
	}
	// An empty list says "none": with nothing to remove, it is left out
	// rather than sent as [] and read as "clear" or as "no change".
	if isEmptyArray(out.ReviewGroups) {
		out.ReviewGroups = nil
	}
	if isEmptyArray(out.Contacts) {
		out.Contacts = nil
	}
	if out.Variations != nil && len(out.Variations) == 0 {
		out.Variations = nil
	}
	out.Encoded = deltaEncoded(cur, &out)
	return out
}

// deltaEncoded returns the encoding of out, Delta's result for cur, from
// cur.Encoded: cur's own when they encode alike, cur's without its empty
// review_groups or contacts when Delta only left those out, nil otherwise.
// Variations are only ever added to, or left out when empty, which
// encodes alike (an empty list is omitted).
func deltaEncoded(cur, out *load.Customer) json.RawMessage {
	enc := cur.Encoded
	if enc == nil || len(out.Variations) != len(cur.Variations) {
		return nil
	}
	var drop [2]int // where the members to leave out start in enc, in order; -1 for none
	for i, f := range [...]struct {
		member   string
		cur, out json.RawMessage
	}{{rgMember, cur.ReviewGroups, out.ReviewGroups}, {contactsMember, cur.Contacts, out.Contacts}} {
		drop[i] = -1
		if bytes.Equal(f.cur, f.out) {
			continue
		}
		if f.out != nil || !isEmptyArray(f.cur) {
			return nil
		}
		if drop[i] = emptyMember(enc, f.member); drop[i] < 0 {
			return nil
		}
	}
	if drop == [2]int{-1, -1} {
		return enc
	}
	b := make([]byte, 0, len(enc))
	from := 0
	for i, member := range [...]string{rgMember, contactsMember} {
		if drop[i] >= 0 {
			b = append(b, enc[from:drop[i]]...)
			from = drop[i] + len(member) + len("[]")
		}
	}
	return append(b, enc[from:]...)
}

// The names of review_groups and contacts, as an encoding writes them
// after the member before them.
const (
	rgMember       = `,"review_groups":`
	contactsMember = `,"contacts":`
)

// emptyMember returns where member, rgMember or contactsMember, starts in
// enc, a customer's encoding by [load.AppendCustomer] that holds it, when
// its value is []; -1 otherwise.
//
// The member is found without reading enc byte by byte. Outside its raw
// JSON members, the encoding holds `,"` only before a member's name or
// before a string of a list (a quote inside a string is escaped), and a
// string of a list is followed by a comma or a bracket, never a colon. So
// the first `,"review_groups":` is the member, which comes before any raw
// JSON; and the first `,"contacts":` is the member unless review_groups
// comes before it, and is then skipped: contacts follows it.
func emptyMember(enc []byte, member string) int {
	i := bytes.Index(enc, []byte(rgMember))
	if member == contactsMember {
		c := bytes.Index(enc, []byte(contactsMember))
		if i >= 0 && (c < 0 || i < c) {
			c = skipValue(enc, i+len(rgMember))
		}
		i = c
	}
	if i < 0 || !bytes.HasPrefix(enc[i:], []byte(member)) || !bytes.HasPrefix(enc[i+len(member):], []byte("[]")) {
		return -1
	}
	return i
}

// skipValue returns the end of the compact JSON value that starts at
// enc[i]: the index of the comma or closing bracket after it.
func skipValue(enc []byte, i int) int {
	depth, inString, escaped := 0, false, false
	for ; i < len(enc); i++ {
		c := enc[i]
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			if depth == 0 {
				return i
			}
			depth--
		case c == ',' && depth == 0:
			return i
		}
	}
	return i
}

// isEmptyArray reports whether raw is the JSON array [].
func isEmptyArray(raw json.RawMessage) bool {
	return string(trimJSONSpace(raw)) == "[]"
}

// deltaList returns cur with "del" items for the names that prev sets and
// cur lacks, when both hold the array form; cur otherwise.
func deltaList(prev, cur json.RawMessage) json.RawMessage {
	curItems, ok := deltaItems(cur)
	if !ok {
		return cur
	}
	prevItems, ok := deltaItems(prev)
	if !ok {
		return cur
	}
	items := slices.Clip(curItems)
	for _, p := range prevItems {
		if p.Op != OpSet || slices.ContainsFunc(items, func(c DeltaItem) bool { return c.Value == p.Value }) {
			continue
		}
		items = append(items, DeltaItem{Op: OpDel, Value: p.Value})
	}
	if len(items) == len(curItems) {
		return cur
	}
	b := []byte{'['}
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendDeltaItem(b, it.Op, it.Value)
	}
	return append(b, ']')
}

// deltaVariations returns cur with a "del" variation for each one that
// prev sets and cur lacks; cur itself when cur is nil or lacks none.
func deltaVariations(prev, cur []load.NameVariation) []load.NameVariation {
	if cur == nil {
		return nil
	}
	out := slices.Clip(cur)
	for _, p := range prev {
		if p.Op != OpSet || slices.ContainsFunc(out, func(c load.NameVariation) bool { return sameNames(c, p) }) {
			continue
		}
		p.Op = OpDel
		out = append(out, p)
	}
	return out
}

// sameNames reports whether a and b name the same variation: whether all
// their names are equal, whatever their Op.
func sameNames(a, b load.NameVariation) bool {
	a.Op, b.Op = "", ""
	return a == b
}
