package transform

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// name converts the value of a name field (first_name, middle_name,
// last_name, company_name, trading_name): text, normalised by normName;
// "" when NULL or blank.
func name(f field, v any) (string, *FieldError) {
	s, fe := text(f, v)
	if fe != nil || s == "" {
		return "", fe
	}
	return normName(s), nil
}

// normName returns s, valid UTF-8, in Unicode NFC with each run of white
// space made one ASCII space and none at either end. It allocates only when
// s needs a change.
func normName(s string) string {
	return collapseSpace(nfc(s))
}

// nfc returns s, valid UTF-8, in Unicode Normalization Form C. An already
// normal string, the common case, is returned as it is, without allocating.
//
// The quick check comes first: QuickSpanString covering all of s proves s
// normal without allocating, whereas IsNormalString allocates on every call
// (x/text v0.44.0: its closure captures a local). IsNormalString settles the
// few strings the quick check leaves in doubt before String rebuilds one.
func nfc(s string) string {
	if norm.NFC.QuickSpanString(s) == len(s) || norm.NFC.IsNormalString(s) {
		return s
	}
	return norm.NFC.String(s)
}

// collapseSpace returns s, valid UTF-8, with each run of white space (as
// unicode.IsSpace defines it: Unicode's White_Space characters) made one
// ASCII space and white space at either end removed. A string already so is
// returned as it is, without allocating.
//
// Applied to a string in NFC the result is still in NFC: white space
// characters are starters that compose with nothing, so replacing or
// removing them cannot create or break a composition.
func collapseSpace(s string) string {
	if !needsCollapse(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	pending := false // a space is owed before the next non-space rune
	for _, r := range s {
		if unicode.IsSpace(r) {
			pending = b.Len() > 0
			continue
		}
		if pending {
			b.WriteByte(' ')
			pending = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

// needsCollapse reports whether collapseSpace would change s: whether s
// has white space at either end, white space other than an ASCII space, or
// two white space characters in a row.
func needsCollapse(s string) bool {
	afterSpace := true // white space at the start needs removing
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == ' ':
				if afterSpace {
					return true
				}
				afterSpace = true
			case c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r':
				return true
			default:
				afterSpace = false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if unicode.IsSpace(r) {
			return true
		}
		afterSpace = false
		i += n
	}
	return afterSpace && len(s) > 0 // white space at the end
}
