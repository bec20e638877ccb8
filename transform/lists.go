package transform

import (
	"encoding/json"
	"slices"
	"strings"
)

// DeltaItem is one item of the array form of review_groups and contacts,
// which the contract calls a SaveCustomerDeltaArrayItemString without giving
// its shape. The shape is our choice, modelled on the "_op" of name
// variations: an item adds the named review group or contact,
//
//	{"_op":"set","value":"Risk; High"}
//
// or removes it:
//
//	{"_op":"del","value":"Risk; High"}
//
// [Customers.Map] sends only "set" items, one per name in the source; [Delta]
// adds the "del" items. Value is a whole name, never split: a name that
// holds ";" or "," travels safely in this form only.
type DeltaItem struct {
	Op    string `json:"_op"`   // OpSet or OpDel
	Value string `json:"value"` // the name of a review group or contact
}

// Ops of a [DeltaItem] and of a [load.NameVariation].
const (
	OpSet = "set" // add the item, or keep it
	OpDel = "del" // remove the item
)

// nameList converts the value of review_groups or contacts. Text gives the
// contract's string form, which the API splits on ";" and ",": it is sent
// as one JSON string (see stringForm). A text[] gives the array form: a JSON
// array of DeltaItem (see arrayForm).
func nameList(f field, v any) (json.RawMessage, *FieldError) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case string:
		return stringForm(f, v)
	case []string:
		return arrayForm(f, v)
	}
	return nil, invalidType(f, v, "text or text[]")
}

// stringForm returns s, trimmed and in Unicode NFC, as a JSON string; nil
// when s is blank. An empty entry between separators (as in "A;;B" or
// "A;B;") names nothing and may be refused or misread by the API, so a list
// holding one is rewritten: its entries trimmed, the blank ones dropped, the
// rest joined with ";" (nil when none is left). Otherwise the text is sent
// as it is.
func stringForm(f field, s string) (json.RawMessage, *FieldError) {
	s, fe := trim(f, s)
	if fe != nil || s == "" {
		return nil, fe
	}
	s = nfc(s)
	if hasBlankEntry(s) {
		var kept []string
		for _, e := range strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == ',' }) {
			if e = strings.TrimSpace(e); e != "" {
				kept = append(kept, e)
			}
		}
		if len(kept) == 0 {
			return nil, nil
		}
		s = strings.Join(kept, ";")
	}
	return appendJSONString(make([]byte, 0, len(s)+2), s), nil
}

// hasBlankEntry reports whether s, split on ";" and ",", has an entry that
// is empty or white space.
func hasBlankEntry(s string) bool {
	for {
		i := strings.IndexAny(s, ";,")
		if i < 0 {
			return strings.TrimSpace(s) == ""
		}
		if strings.TrimSpace(s[:i]) == "" {
			return true
		}
		s = s[i+1:]
	}
}

// arrayForm returns the names in, each trimmed and in Unicode NFC, as a
// JSON array of DeltaItem with Op "set", in the order given. Blank names
// (and NULL elements, which arrive blank) and repeated ones are dropped. A
// list left empty gives "[]": the source says there is none, which is not
// the same as NULL, and lets [Delta] remove what was sent before.
func arrayForm(f field, in []string) (json.RawMessage, *FieldError) {
	var buf [8]string
	names, size := buf[:0], 2
	for _, s := range in {
		s, fe := trim(f, s)
		if fe != nil {
			return nil, fe
		}
		if s == "" {
			continue
		}
		if s = nfc(s); slices.Contains(names, s) {
			continue
		}
		names = append(names, s)
		size += len(s) + len(`{"_op":"set","value":""},`)
	}
	b := make([]byte, 0, size)
	b = append(b, '[')
	for i, s := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendDeltaItem(b, OpSet, s)
	}
	return append(b, ']'), nil
}

// appendDeltaItem appends the DeltaItem {op, value} as JSON to b.
func appendDeltaItem(b []byte, op, value string) []byte {
	b = append(b, `{"_op":`...)
	b = appendJSONString(b, op)
	b = append(b, `,"value":`...)
	b = appendJSONString(b, value)
	return append(b, '}')
}

// appendJSONString appends s, valid UTF-8, to b as a JSON string. It
// escapes only what JSON requires (quote, backslash, control characters):
// cheaper than json.Marshal, and encoding/json re-escapes raw JSON as it
// sends it anyway.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// deltaItems returns the items of raw when it holds the array form of
// review_groups or contacts; ok is false for the string form, for nil, and
// for anything that is not an array of DeltaItem.
func deltaItems(raw json.RawMessage) (items []DeltaItem, ok bool) {
	b := trimJSONSpace(raw)
	if len(b) == 0 || b[0] != '[' {
		return nil, false
	}
	if err := json.Unmarshal(b, &items); err != nil {
		return nil, false
	}
	return items, true
}
