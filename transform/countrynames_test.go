package transform

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/algoreg/algoreg-etl/extract"
	"golang.org/x/text/language"
	"golang.org/x/text/language/display"
	"golang.org/x/text/runes"
	xtransform "golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

func TestCountryOf(t *testing.T) {
	tests := []struct {
		in, code string
		why      string // in the message when code is ""
	}{
		// Codes.
		{"DE", "DE", ""}, {"deu", "DE", ""}, {"276", "DE", ""}, {"4", "AF", ""}, {"XK", "XK", ""},
		// ISO short, official and common names, and CLDR's.
		{"Germany", "DE", ""},
		{"Federal Republic of Germany", "DE", ""},
		{"Russian Federation", "RU", ""},
		{"Russia", "RU", ""},
		{"Korea, Republic of", "KR", ""},
		{"South Korea", "KR", ""},
		{"Korea, Democratic People's Republic of", "KP", ""},
		{"North Korea", "KP", ""},
		{"Virgin Islands, U.S.", "VI", ""},
		{"U.S. Virgin Islands", "VI", ""},
		{"Virgin Islands, British", "VG", ""},
		{"British Virgin Islands", "VG", ""},
		{"Congo", "CG", ""},
		{"Congo, The Democratic Republic of the", "CD", ""},
		{"Congo - Kinshasa", "CD", ""},
		{"Iran", "IR", ""},
		{"Iran, Islamic Republic of", "IR", ""},
		{"Taiwan", "TW", ""},
		{"Holy See (Vatican City State)", "VA", ""},
		{"Vatican City", "VA", ""},
		{"Czech Republic", "CZ", ""},
		{"Czechia", "CZ", ""},
		{"Türkiye", "TR", ""},
		{"Turkey", "TR", ""},
		{"Swaziland", "SZ", ""},
		{"Eswatini", "SZ", ""},
		{"Macedonia", "MK", ""},
		{"Viet Nam", "VN", ""},
		{"Vietnam", "VN", ""},
		{"Cape Verde", "CV", ""},
		{"Hong Kong SAR China", "HK", ""},
		{"Kosovo", "XK", ""},
		// Derived forms: inverted, before the comma, without the brackets.
		{"Republic of Korea", "KR", ""},
		{"Democratic Republic of the Congo", "CD", ""},
		{"Democratic Republic of Congo", "CD", ""},
		{"Holy See", "VA", ""},
		{"Palestine", "PS", ""},
		{"Saint Helena", "SH", ""},
		{"Myanmar", "MM", ""},
		// Spelling: case, accents, punctuation, "the", "&", "St.".
		{"RUSSIAN FEDERATION", "RU", ""},
		{"  germany ", "DE", ""},
		{"Réunion", "RE", ""},
		{"Reunion", "RE", ""},
		{"Runion", "RE", ""}, // é lost on the way, as in Pagila
		{"Côte d’Ivoire", "CI", ""},
		{"Cote d'Ivoire", "CI", ""},
		{"COTE D IVOIRE", "CI", ""},
		{"Curacao", "CW", ""},
		{"Aland Islands", "AX", ""},
		{"US Virgin Islands", "VI", ""},
		{"the Netherlands", "NL", ""},
		{"The Gambia", "GM", ""},
		{"Guinea Bissau", "GW", ""},
		{"St. Kitts & Nevis", "KN", ""},
		{"Saint Kitts and Nevis", "KN", ""},
		{"St Vincent & the Grenadines", "VC", ""},
		// Former countries with one successor (ISO 3166-3).
		{"Burma", "MM", ""},
		{"Zaire", "CD", ""},
		{"East Timor", "TL", ""},
		{"Upper Volta", "BF", ""},
		// Former countries that split, names of two countries, unknown names.
		{"Yugoslavia", "", "a former country (ISO 3166-3, withdrawn 2003-07-23) that has no one successor"},
		{"USSR", "", "a former country (ISO 3166-3, withdrawn 1992-08-30)"},
		{"Czechoslovakia", "", "a former country"},
		{"Serbia and Montenegro", "", "a former country"},
		{"Netherlands Antilles", "", "a former country"},
		{"Korea", "", "names more than one country (KP, KR)"},
		{"Virgin Islands", "", "names more than one country (VG, VI)"},
		{"Kazakstan", "", "neither an ISO 3166-1 code nor a country name in the table"},
		{"Atlantis", "", "neither"},
		{"UK", "", "neither"}, // reserved, not assigned: map it in countries
		{"ZZ", "", "neither"},
		{"-", "", "neither"},
	}
	for _, tt := range tests {
		code, why := countryOf(strings.TrimSpace(tt.in))
		if code != tt.code || !strings.Contains(why, tt.why) || (code == "") != (why != "") {
			t.Errorf("countryOf(%q) = %q, %q; want %q, %q", tt.in, code, why, tt.code, tt.why)
		}
		if code == "" && !strings.HasSuffix(why, "map it in the job's countries") {
			t.Errorf("countryOf(%q): %q does not say how to map it", tt.in, why)
		}
	}
}

// TestCountryTableMatchesCLDR: the table holds x/text's English region
// names, so that upgrading golang.org/x/text without `go generate
// ./transform` fails here.
func TestCountryTableMatchesCLDR(t *testing.T) {
	en := display.English.Regions()
	for _, c := range isoCountries {
		if want := en.Name(language.MustParseRegion(c.alpha2)); c.cldr != want {
			t.Errorf("%s: the table's CLDR name %q, x/text's %q: run go generate ./transform", c.alpha2, c.cldr, want)
		}
	}
}

// isoCodesDir holds Debian's iso-codes JSON files (apt-get install
// iso-codes), the source of the table.
const isoCodesDir = "/usr/share/iso-codes/json"

// spellings returns the ways a source may hold name: as written, in upper
// case (as ISO 3166 itself lists names), without accents, and with its
// non-ASCII letters lost.
func spellings(name string) []string {
	strip := xtransform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
	plain, _, _ := xtransform.String(strip, name)
	s := []string{name, strings.ToUpper(name), plain, dropNonASCIILetters(name)}
	slices.Sort(s)
	return slices.Compact(s)
}

// TestISONamesMap measures which names of ISO 3166 still need an entry in
// a job's countries: every English name of iso-codes (short, official and
// common) of every assigned country, in each of its spellings, must give
// its country; the names of ISO 3166-3's former countries are reported.
// It reads the iso-codes installed on the machine, which may be newer than
// the table: a name the table lacks is reported, not failed.
func TestISONamesMap(t *testing.T) {
	var current struct {
		List []map[string]string `json:"3166-1"`
	}
	var former struct {
		List []map[string]string `json:"3166-3"`
	}
	for name, v := range map[string]any{"iso_3166-1.json": &current, "iso_3166-3.json": &former} {
		b, err := os.ReadFile(filepath.Join(isoCodesDir, name))
		if err != nil {
			t.Skipf("%v: install Debian's iso-codes package to measure the names", err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatal(err)
		}
	}
	inTable := map[string]bool{}
	for _, c := range isoCountries {
		for _, n := range []string{c.name, c.official, c.common, c.cldr} {
			inTable[n] = true
		}
	}

	var names, mapped int
	var unmapped []string
	for _, c := range current.List {
		for _, key := range []string{"name", "official_name", "common_name"} {
			if c[key] == "" {
				continue
			}
			for _, s := range spellings(c[key]) {
				names++
				code, why := countryOf(s)
				switch {
				case code == c["alpha_2"]:
					mapped++
				case inTable[c[key]]:
					t.Errorf("ISO %s %q of %s, spelt %q: got %q, %s", key, c[key], c["alpha_2"], s, code, why)
				default:
					unmapped = append(unmapped, s+" ("+c["alpha_2"]+")")
				}
			}
		}
	}
	t.Logf("ISO 3166-1 English names (short, official, common), each as written, upper-cased, without accents and with non-ASCII letters lost: %d of %d spellings map to their country", mapped, names)
	if len(unmapped) > 0 {
		t.Logf("not in the table (iso-codes newer than it? run go generate ./transform), need a countries entry: %q", unmapped)
	}

	var successors, none []string
	for _, c := range former.List {
		short, _, _ := strings.Cut(c["name"], ",")
		code, why := countryOf(short)
		if code != "" {
			successors = append(successors, short+" → "+code)
		} else {
			none = append(none, short)
			if !strings.Contains(why, "former country") {
				t.Errorf("former country %q: %s", short, why)
			}
		}
	}
	t.Logf("ISO 3166-3 former countries mapped to their one successor: %s", strings.Join(successors, ", "))
	t.Logf("ISO 3166-3 former countries that need a countries entry (split, or no successor): %s", strings.Join(none, ", "))
}

// pagilaCountries are the 109 names of the country table of Pagila, the
// PostgreSQL sample database, as it holds them.
var pagilaCountries = []string{
	"Afghanistan", "Algeria", "American Samoa", "Angola", "Anguilla", "Argentina", "Armenia", "Australia", "Austria",
	"Azerbaijan", "Bahrain", "Bangladesh", "Belarus", "Bolivia", "Brazil", "Brunei", "Bulgaria", "Cambodia", "Cameroon",
	"Canada", "Chad", "Chile", "China", "Colombia", "Congo, The Democratic Republic of the", "Czech Republic",
	"Dominican Republic", "Ecuador", "Egypt", "Estonia", "Ethiopia", "Faroe Islands", "Finland", "France",
	"French Guiana", "French Polynesia", "Gambia", "Germany", "Greece", "Greenland", "Holy See (Vatican City State)",
	"Hong Kong", "Hungary", "India", "Indonesia", "Iran", "Iraq", "Israel", "Italy", "Japan", "Kazakstan", "Kenya",
	"Kuwait", "Latvia", "Liechtenstein", "Lithuania", "Madagascar", "Malawi", "Malaysia", "Mexico", "Moldova",
	"Morocco", "Mozambique", "Myanmar", "Nauru", "Nepal", "Netherlands", "New Zealand", "Nigeria", "North Korea",
	"Oman", "Pakistan", "Paraguay", "Peru", "Philippines", "Poland", "Puerto Rico", "Romania", "Runion",
	"Russian Federation", "Saint Vincent and the Grenadines", "Saudi Arabia", "Senegal", "Slovakia", "South Africa",
	"South Korea", "Spain", "Sri Lanka", "Sudan", "Sweden", "Switzerland", "Taiwan", "Tanzania", "Thailand", "Tonga",
	"Tunisia", "Turkey", "Turkmenistan", "Tuvalu", "Ukraine", "United Arab Emirates", "United Kingdom",
	"United States", "Venezuela", "Vietnam", "Virgin Islands, U.S.", "Yemen", "Yugoslavia", "Zambia",
}

// TestPagilaCountries: of Pagila's 109 country names, all but two map
// without a table of the source's own: "Kazakstan" (a spelling ISO 3166
// dropped long ago) and "Yugoslavia" (a former country that split).
func TestPagilaCountries(t *testing.T) {
	if len(pagilaCountries) != 109 {
		t.Fatalf("%d names, want Pagila's 109", len(pagilaCountries))
	}
	var unmapped []string
	codes := map[string]string{}
	for _, n := range pagilaCountries {
		code, _ := countryOf(n)
		if code == "" {
			unmapped = append(unmapped, n)
			continue
		}
		if other, dup := codes[code]; dup {
			t.Errorf("%q and %q both map to %s", other, n, code)
		}
		codes[code] = n
	}
	t.Logf("Pagila: %d of %d country names map; need a countries entry: %q", len(codes), len(pagilaCountries), unmapped)
	if want := []string{"Kazakstan", "Yugoslavia"}; !slices.Equal(unmapped, want) {
		t.Errorf("unmapped %q, want %q", unmapped, want)
	}
	for name, want := range map[string]string{"Runion": "RE", "Holy See (Vatican City State)": "VA", "Virgin Islands, U.S.": "VI",
		"Congo, The Democratic Republic of the": "CD", "Russian Federation": "RU", "Brunei": "BN", "Moldova": "MD"} {
		if codes[want] != name {
			t.Errorf("%q: want %s", name, want)
		}
	}
}

// TestCountryNamesAreUnambiguous lists the folded names that name more
// than one country, so that a change of the table that adds one shows.
func TestCountryNamesAreUnambiguous(t *testing.T) {
	var ambiguous []string
	for k, n := range countryNames() {
		if n.codes != nil && n.rank < lostLetters {
			ambiguous = append(ambiguous, k+" "+strings.Join(n.codes, "/"))
		}
	}
	slices.Sort(ambiguous)
	want := []string{"korea KP/KR", "virgin islands VG/VI"}
	if !slices.Equal(ambiguous, want) {
		t.Errorf("ambiguous names %q, want %q", ambiguous, want)
	}
}

func TestMapCountriesOption(t *testing.T) {
	own := Options{Countries: map[string]string{" Kazakstan ": "KZ", "UK": "gb", "Yugoslavia": "RS", "Congo": "COD", "n/a": "", "Österreich": "40"}}
	c := func(v any) []col { return []col{id, {"nationality_codes", v}} }
	want := func(codes string) string { return `{"external_id":"C1","nationality_codes":` + codes + `}` }
	runMapCases(t, []mapCase{
		{name: "own spellings", opts: own, cols: c([]string{"kazakstan", "UK", "YUGOSLAVIA", "österreich"}), want: want(`["KZ","GB","RS","AT"]`)},
		{name: "before the table", opts: own, cols: c([]string{"Congo"}), want: want(`["CD"]`)},
		{name: "dropped", opts: own, cols: c([]string{"N/A", "DE"}), want: want(`["DE"]`)},
		{name: "only dropped", opts: own, cols: c([]string{"n/a"}), want: `{"external_id":"C1"}`},
		{name: "the table still", opts: own, cols: c([]string{"Russian Federation", "che"}), want: want(`["RU","CH"]`)},
		{name: "not in either", opts: own, cols: c([]string{"Kazakhstan", "Prussia"}), field: "nationality_codes", code: CodeInvalidCountryCode, value: "Prussia"},
	})
}

func TestNewCustomersCountries(t *testing.T) {
	for _, tt := range []struct {
		m    map[string]string
		want string // in the error
	}{
		{map[string]string{" ": "DE"}, "blank source value"},
		{map[string]string{"Prussia": "PR1"}, `maps "Prussia" to "PR1", which is not an ISO 3166-1`},
		{map[string]string{"Prussia": "ZZ"}, `maps "Prussia" to "ZZ"`},
		{map[string]string{"UK": "GB", "uk": "UA"}, `maps "UK" and "uk", which differ only in case, to different codes`},
	} {
		_, err := NewCustomers(extract.Columns{"external_id", "nationality_codes"}, Options{Countries: tt.m})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewCustomers(Countries %q) = %v; want an error saying %q", tt.m, err, tt.want)
		}
	}
	if _, err := NewCustomers(extract.Columns{"external_id"}, Options{Countries: map[string]string{"UK": "GB", "uk": "gbr"}}); err != nil {
		t.Errorf("two spellings of one code: %v", err)
	}
}
