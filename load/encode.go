package load

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file writes customers and relations as a json.Encoder with HTML
// escaping turned off writes them, byte for byte, without reflection. The
// content hashes stored for every record sent are computed from these
// bytes: any difference from encoding/json would send every record again.
// FuzzEncode (package transform) holds them to encoding/json's.

// AppendCustomer appends c's JSON encoding, as a request carries it, to dst
// and returns the extended buffer: encoding/json's encoding, without its
// escaping of <, > and & (no HTML reads it). It ignores c.Encoded. It fails
// only if c holds raw JSON that is not valid.
func AppendCustomer(dst []byte, c *Customer) ([]byte, error) {
	dst = slices.Grow(dst, customerSize(c))
	dst = append(dst, `{"external_id":`...)
	dst = appendString(dst, c.ExternalID)
	dst = appendStringMember(dst, `,"account_type":`, c.AccountType)
	dst = appendStringMember(dst, `,"first_name":`, c.FirstName)
	dst = appendStringMember(dst, `,"middle_name":`, c.MiddleName)
	dst = appendStringMember(dst, `,"last_name":`, c.LastName)
	dst = appendStringMember(dst, `,"company_name":`, c.CompanyName)
	dst = appendStringMember(dst, `,"trading_name":`, c.TradingName)
	dst = appendStringMember(dst, `,"date_of_birth":`, c.DateOfBirth)
	dst = appendStringsMember(dst, `,"nationality_codes":`, c.NationalityCodes)
	dst = appendStringsMember(dst, `,"domicile_codes":`, c.DomicileCodes)
	dst = appendStringsMember(dst, `,"alias_ids":`, c.AliasIDs)
	dst = appendStringMember(dst, `,"registration_number":`, c.RegistrationNumber)
	dst = appendStringMember(dst, `,"phone":`, c.Phone)
	dst = appendStringMember(dst, `,"comment":`, c.Comment)
	dst = appendBoolMember(dst, `,"disabled":`, c.Disabled)
	dst = appendIntMember(dst, `,"kyc_level":`, c.KYCLevel)
	dst = appendIntMember(dst, `,"kyc_level_requested":`, c.KYCLevelRequested)
	dst = appendStringMember(dst, `,"parent_external_id":`, c.ParentExternalID)
	var err error
	if dst, err = appendRawMember(dst, `,"review_groups":`, c.ReviewGroups); err != nil {
		return dst, err
	}
	if dst, err = appendRawMember(dst, `,"contacts":`, c.Contacts); err != nil {
		return dst, err
	}
	if dst, err = appendRawMember(dst, `,"fields":`, c.Fields); err != nil {
		return dst, err
	}
	if len(c.Variations) > 0 {
		dst = append(dst, `,"variations":[`...)
		for i := range c.Variations {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendVariation(dst, &c.Variations[i])
		}
		dst = append(dst, ']')
	}
	return append(dst, '}'), nil
}

// customerSize returns about how long c's encoding is, at most a few
// hundred bytes more unless c's strings need escaping, so that it is
// mostly written without growing its buffer.
func customerSize(c *Customer) int {
	n := 360 // every key, quotes and separators
	for _, s := range [...]string{c.ExternalID, c.AccountType, c.FirstName, c.MiddleName, c.LastName, c.CompanyName,
		c.TradingName, c.DateOfBirth, c.RegistrationNumber, c.Phone, c.Comment, c.ParentExternalID} {
		n += len(s)
	}
	for _, list := range [...][]string{c.NationalityCodes, c.DomicileCodes, c.AliasIDs} {
		for _, s := range list {
			n += len(s) + 3
		}
	}
	n += len(c.ReviewGroups) + len(c.Contacts) + len(c.Fields)
	for _, v := range c.Variations {
		n += 90 + len(v.Op) + len(v.FirstName) + len(v.MiddleName) + len(v.LastName) + len(v.CompanyName) + len(v.TradingName)
	}
	return n
}

// appendVariation appends v's encoding.
func appendVariation(dst []byte, v *NameVariation) []byte {
	dst = append(dst, `{"_op":`...)
	dst = appendString(dst, v.Op)
	dst = appendStringMember(dst, `,"first_name":`, v.FirstName)
	dst = appendStringMember(dst, `,"middle_name":`, v.MiddleName)
	dst = appendStringMember(dst, `,"last_name":`, v.LastName)
	dst = appendStringMember(dst, `,"company_name":`, v.CompanyName)
	dst = appendStringMember(dst, `,"trading_name":`, v.TradingName)
	return append(dst, '}')
}

// AppendRelation appends r's JSON encoding, as a request carries it, to
// dst, as AppendCustomer does for a customer.
func AppendRelation(dst []byte, r *Relation) ([]byte, error) {
	dst = append(dst, `{"relation_external_id":`...)
	dst = appendString(dst, r.RelationExternalID)
	dst = append(dst, `,"parent_customer_external_id":`...)
	dst = appendString(dst, r.ParentCustomerExternalID)
	dst = append(dst, `,"child_customer_external_id":`...)
	dst = appendString(dst, r.ChildCustomerExternalID)
	dst = append(dst, `,"relation_type":`...)
	dst = strconv.AppendInt(dst, r.RelationType, 10)
	dst = appendBoolMember(dst, `,"disabled":`, r.Disabled)
	dst, err := appendRawMember(dst, `,"fields":`, r.Fields)
	if err != nil {
		return dst, err
	}
	return append(dst, '}'), nil
}

// appendStringMember appends key and s, unless s is empty (omitempty).
func appendStringMember(dst []byte, key, s string) []byte {
	if s == "" {
		return dst
	}
	return appendString(append(dst, key...), s)
}

// appendStringsMember appends key and list, unless list is empty
// (omitempty).
func appendStringsMember(dst []byte, key string, list []string) []byte {
	if len(list) == 0 {
		return dst
	}
	dst = append(dst, key...)
	dst = append(dst, '[')
	for i, s := range list {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, s)
	}
	return append(dst, ']')
}

// appendBoolMember appends key and *b, unless b is nil (omitempty).
func appendBoolMember(dst []byte, key string, b *bool) []byte {
	if b == nil {
		return dst
	}
	return strconv.AppendBool(append(dst, key...), *b)
}

// appendIntMember appends key and *n, unless n is nil (omitempty).
func appendIntMember(dst []byte, key string, n *int64) []byte {
	if n == nil {
		return dst
	}
	return strconv.AppendInt(append(dst, key...), *n, 10)
}

// appendRawMember appends key and raw, compacted as encoding/json compacts
// what a json.Marshaler returns, unless raw is empty (omitempty). It fails
// if raw is not valid JSON, leaving dst as it was.
func appendRawMember(dst []byte, key string, raw json.RawMessage) ([]byte, error) {
	if len(raw) == 0 {
		return dst, nil
	}
	n := len(dst)
	buf := bytes.NewBuffer(append(dst, key...))
	if err := json.Compact(buf, raw); err != nil {
		return dst[:n], fmt.Errorf("json: %s: %w", strings.Trim(key, `,":`), err)
	}
	return buf.Bytes(), nil
}

// appendString appends s as a JSON string, as encoding/json writes it
// without HTML escaping: ", \ and control characters escaped (\b, \f, \n,
// \r, \t, or \u00XX), invalid UTF-8 replaced by \ufffd, and U+2028 and
// U+2029 escaped.
func appendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= ' ' && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
