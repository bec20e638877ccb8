package transform

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

//go:generate go run gen_countries.go

// isoCountry is one country of ISO 3166-1 (countries_table.go).
type isoCountry struct {
	alpha2, alpha3, numeric string
	name                    string // the ISO English short name, e.g. "Korea, Republic of"
	official                string // the official name, e.g. "Czech Republic" for Czechia; "" when none is given
	common                  string // iso-codes' common name, e.g. "South Korea"; "" when none is given
	cldr                    string // CLDR's English name, e.g. "South Korea"
}

// formerCountry is one country of ISO 3166-3, whose codes were withdrawn
// (countries_table.go).
type formerCountry struct {
	// alpha4 is the withdrawn alpha-2 code followed by what became of it:
	// the alpha-2 code of its one successor, "AA" when the code was kept
	// under another name, "HH" when it split into several, "XX" when none.
	alpha4    string
	name      string // e.g. "Yugoslavia, (Socialist) Federal Republic of"
	withdrawn string // when, as ISO 3166-3 gives it (a year or a date)
}

// successor returns the accepted alpha-2 code that ISO 3166-3 gives as the
// one successor of f, if there is one: Zaire gives CD, Burma MM.
// Yugoslavia's successor, Serbia and Montenegro (CS), split in turn: it
// has none.
func (f *formerCountry) successor() (string, bool) {
	next := f.alpha4[2:]
	if next == "AA" {
		next = f.alpha4[:2]
	}
	return countryCode(next)
}

// kosovo is XK, a user-assigned code (not in ISO 3166-1) that the European
// Commission, SWIFT, banks and most KYC data providers use for Kosovo. It is
// accepted: refusing it would make every Kosovar customer unsendable.
const kosovo = "XK"

// countries is indexed by the two letters of a code, 'A'..'Z' each, and holds
// the code itself for the accepted ones, "" for the others. Holding the
// strings here lets a lookup return an upper-cased code without allocating.
// alpha3 maps each assigned alpha-3 code to the alpha-2 code of the same
// country, and numeric each assigned numeric code (three digits).
var countries, alpha3, numeric = func() (t [26 * 26]string, a3, num map[string]string) {
	a3, num = make(map[string]string, len(isoCountries)), make(map[string]string, len(isoCountries))
	for _, c := range isoCountries {
		t[int(c.alpha2[0]-'A')*26+int(c.alpha2[1]-'A')] = c.alpha2
		a3[c.alpha3] = c.alpha2
		num[c.numeric] = c.alpha2
	}
	t[int(kosovo[0]-'A')*26+int(kosovo[1]-'A')] = kosovo
	return t, a3, num
}()

// countryCode returns the accepted alpha-2 country code that s, two or
// three ASCII letters in either case, spells: an accepted alpha-2 code is
// returned upper-cased, an assigned alpha-3 code as the alpha-2 code of the
// same country. It does not allocate.
func countryCode(s string) (string, bool) {
	var b [3]byte
	if len(s) != 2 && len(s) != 3 {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		c, ok := upperLetter(s[i])
		if !ok {
			return "", false
		}
		b[i] = c
	}
	if len(s) == 3 {
		c, ok := alpha3[string(b[:])]
		return c, ok
	}
	c := countries[int(b[0]-'A')*26+int(b[1]-'A')]
	return c, c != ""
}

// numericCode returns the alpha-2 code of the country whose ISO 3166-1
// numeric code s is: one to three ASCII digits, "4" and "004" alike.
func numericCode(s string) (string, bool) {
	if len(s) == 0 || len(s) > 3 {
		return "", false
	}
	b := [3]byte{'0', '0', '0'}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return "", false
		}
		b[3-len(s)+i] = s[i]
	}
	c, ok := numeric[string(b[:])]
	return c, ok
}

// upperLetter returns the upper case of the ASCII letter c.
func upperLetter(c byte) (byte, bool) {
	switch {
	case 'A' <= c && c <= 'Z':
		return c, true
	case 'a' <= c && c <= 'z':
		return c - 'a' + 'A', true
	}
	return 0, false
}

// A countryName is what the table of names says of one folded name.
type countryName struct {
	code   string         // the alpha-2 code; "" when former has no successor or the name is ambiguous
	rank   int            // lower ranks win: a name as written beats one derived from it
	codes  []string       // when the name is ambiguous: the countries it names, sorted
	former *formerCountry // the former country of that name, if any
}

// Ranks of the names, lowest first. A name is folded (foldName) before it
// is compared, and a name whose non-ASCII letters were lost ("Runion"
// for "Réunion", as when text passes through an ASCII-only system)
// ranks lostLetters below the name it comes from.
const (
	rankName          = iota // an ISO short, official or common name, or CLDR's
	rankDerived              // "Korea, Republic of" read as "Republic of Korea" or "Korea"; "Holy See (Vatican City State)" as "Holy See"
	rankFormer               // an ISO 3166-3 name ("Zaire, Republic of")
	rankFormerDerived        // derived from one ("Zaire")
	lostLetters       = 4
)

// countryNames is the table of names, by folded name, built on first use.
var countryNames = sync.OnceValue(func() map[string]*countryName {
	t := make(map[string]*countryName, 8*len(isoCountries))
	for _, c := range isoCountries {
		for _, n := range []string{c.name, c.official, c.common, c.cldr} {
			addName(t, n, c.alpha2, rankName, nil)
		}
	}
	addName(t, "Kosovo", kosovo, rankName, nil)
	for i := range formerCountries {
		f := &formerCountries[i]
		code, _ := f.successor()
		addName(t, f.name, code, rankFormer, f)
	}
	return t
})

// addName adds name, the names derived from it, and the same with their
// non-ASCII letters lost, to the table t.
func addName(t map[string]*countryName, name, code string, rank int, former *formerCountry) {
	if name == "" {
		return
	}
	names := []string{name}
	if i, j := strings.Index(name, "("), strings.Index(name, ")"); 0 < i && i < j {
		names = append(names, name[:i]+name[j+1:]) // "Holy See (Vatican City State)": "Holy See"
	}
	for _, n := range names[:len(names):len(names)] {
		if a, b, ok := strings.Cut(n, ","); ok { // "Korea, Republic of": "Republic of Korea", "Korea"
			names = append(names, b+" "+a, a)
		}
	}
	for i, n := range names {
		r := rank
		if i > 0 {
			r++
		}
		addFolded(t, foldName(n), &countryName{code: code, rank: r, former: former})
		if lost := dropNonASCIILetters(n); lost != n {
			addFolded(t, foldName(lost), &countryName{code: code, rank: r + lostLetters, former: former})
		}
	}
}

// addFolded adds e under key, unless a name of a lower rank holds it; a
// name of the same rank for another country makes it ambiguous.
func addFolded(t map[string]*countryName, key string, e *countryName) {
	if key == "" {
		return
	}
	old, ok := t[key]
	switch {
	case !ok || e.rank < old.rank:
		t[key] = e
	case e.rank > old.rank || e.code == old.code && e.former == old.former:
	default: // the same rank, another country: ambiguous
		codes := append(slices.Clone(old.codes), old.code, e.code) // old.code is "" once ambiguous
		codes = slices.DeleteFunc(codes, func(c string) bool { return c == "" })
		slices.Sort(codes)
		if codes = slices.Compact(codes); len(codes) > 1 {
			t[key] = &countryName{rank: old.rank, codes: codes}
		}
	}
}

// foldName returns the form in which names are compared: letters and
// digits without their accents, in lower case, one space between words;
// "&" read as "and", "St" as "Saint"; full stops dropped ("U.S." is "us"),
// other punctuation, apostrophes included, read as a space ("Côte
// d’Ivoire" is "cote d ivoire"), and the word "the" left out.
func foldName(s string) string {
	var words []string
	var w strings.Builder
	end := func() {
		if w.Len() == 0 {
			return
		}
		switch word := w.String(); word {
		case "the":
		case "st":
			words = append(words, "saint")
		default:
			words = append(words, word)
		}
		w.Reset()
	}
	for _, r := range norm.NFD.String(s) {
		switch {
		case unicode.Is(unicode.Mn, r):
		case r == '.':
		case r == '&':
			end()
			words = append(words, "and")
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			w.WriteRune(unicode.ToLower(r))
		default:
			end()
		}
	}
	end()
	return strings.Join(words, " ")
}

// dropNonASCIILetters returns s without its letters outside ASCII, as a
// system that cannot store them leaves it ("Réunion" gives "Runion").
func dropNonASCIILetters(s string) string {
	s = norm.NFC.String(s)
	return strings.Map(func(r rune) rune {
		if r >= utf8.RuneSelf && unicode.IsLetter(r) {
			return -1
		}
		return r
	}, s)
}

// countryOf returns the alpha-2 code of the country that s, trimmed and
// not blank, names: an alpha-2, alpha-3 or numeric code, or a name; or a
// message saying why it names none. A name is matched without regard to
// case, accents, punctuation or the word "the".
func countryOf(s string) (string, string) {
	if c, ok := countryCode(s); ok {
		return c, ""
	}
	if c, ok := numericCode(s); ok {
		return c, ""
	}
	n, ok := countryNames()[foldName(s)]
	switch {
	case !ok:
		return "", "neither an ISO 3166-1 code nor a country name in the table: map it in the job's countries"
	case n.code != "":
		return n.code, ""
	case n.former != nil:
		return "", fmt.Sprintf("a former country (ISO 3166-3, withdrawn %s) that has no one successor: map it in the job's countries", n.former.withdrawn)
	default:
		return "", fmt.Sprintf("names more than one country (%s): map it in the job's countries", strings.Join(n.codes, ", "))
	}
}

// newCountries checks the Options.Countries m and returns it by lower-case
// key, its values as alpha-2 codes. Keys are trimmed and must not be
// blank; a value must be "" or a code countryCode or numericCode accepts;
// two keys that differ only in case must not map to different values.
func newCountries(m map[string]string) (map[string]string, error) {
	if len(m) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(m))
	from := make(map[string]string, len(m)) // the key each lower-case key came from
	for k, v := range m {
		key := strings.ToLower(strings.TrimSpace(k))
		if key == "" {
			return nil, fmt.Errorf("transform: Options.Countries has a blank source value %q", k)
		}
		code := ""
		if v = strings.TrimSpace(v); v != "" {
			c, ok := countryCode(v)
			if !ok {
				c, ok = numericCode(v)
			}
			if !ok {
				return nil, fmt.Errorf("transform: Options.Countries maps %q to %q, which is not an ISO 3166-1 alpha-2, alpha-3 or numeric code", k, v)
			}
			code = c
		}
		if o, clash := from[key]; clash && out[key] != code {
			a, b := min(o, k), max(o, k) // in a stable order
			return nil, fmt.Errorf("transform: Options.Countries maps %q and %q, which differ only in case, to different codes", a, b)
		}
		out[key], from[key] = code, k
	}
	return out, nil
}
