package transform

import "strings"

// iso3166 lists the 249 officially assigned ISO 3166-1 alpha-2 country codes
// (as published by the ISO 3166 Maintenance Agency; the list matches
// Debian's iso-codes 3166-1 table). Codes that are reserved, withdrawn or
// user-assigned are not in it.
const iso3166 = "" +
	"AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ " +
	"BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ " +
	"CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ " +
	"DE DJ DK DM DO DZ " +
	"EC EE EG EH ER ES ET " +
	"FI FJ FK FM FO FR " +
	"GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY " +
	"HK HM HN HR HT HU " +
	"ID IE IL IM IN IO IQ IR IS IT " +
	"JE JM JO JP " +
	"KE KG KH KI KM KN KP KR KW KY KZ " +
	"LA LB LC LI LK LR LS LT LU LV LY " +
	"MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ " +
	"NA NC NE NF NG NI NL NO NP NR NU NZ " +
	"OM " +
	"PA PE PF PG PH PK PL PM PN PR PS PT PW PY " +
	"QA " +
	"RE RO RS RU RW " +
	"SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ " +
	"TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ " +
	"UA UG UM US UY UZ " +
	"VA VC VE VG VI VN VU " +
	"WF WS " +
	"YE YT " +
	"ZA ZM ZW"

// kosovo is XK, a user-assigned code (not in ISO 3166-1) that the European
// Commission, SWIFT, banks and most KYC data providers use for Kosovo. It is
// accepted: refusing it would make every Kosovar customer unsendable.
const kosovo = "XK"

// countries is indexed by the two letters of a code, 'A'..'Z' each, and holds
// the code itself for the accepted ones, "" for the others. Holding the
// strings here lets a lookup return an upper-cased code without allocating.
var countries = func() (t [26 * 26]string) {
	for _, c := range strings.Fields(iso3166 + " " + kosovo) {
		t[int(c[0]-'A')*26+int(c[1]-'A')] = c
	}
	return t
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
