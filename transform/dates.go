package transform

import (
	"time"
)

// earliestBirth is the earliest date of birth accepted, as yyyymmdd: earlier
// dates are typing errors or placeholders (0001-01-01), not people.
const earliestBirth = 1800_01_01

// dateOfBirth converts the value of date_of_birth to YYYY-MM-DD. A
// time.Time (from a date or timestamp column) gives its own calendar date,
// in its own location, with no time zone conversion; text must already be a
// calendar date written YYYY-MM-DD. The date must lie between 1800-01-01 and
// the calendar date of now(), in now's location.
func dateOfBirth(v any, now func() time.Time) (string, *FieldError) {
	const f = fieldDateOfBirth
	var (
		s       string
		y, m, d int
	)
	switch v := v.(type) {
	case nil:
		return "", nil
	case time.Time:
		var month time.Month
		y, month, d = v.Date()
		m = int(month)
	case string:
		var fe *FieldError
		if s, fe = trim(f, v); fe != nil || s == "" {
			return "", fe
		}
		var ok bool
		if y, m, d, ok = parseDate(s); !ok {
			return "", fieldError(f, s, CodeInvalidDate, "want a calendar date written YYYY-MM-DD")
		}
	default:
		return "", invalidType(f, v, "date")
	}
	date := y*10000 + m*100 + d
	if date < earliestBirth {
		return "", fieldError(f, formatDate(y, m, d), CodeDateTooEarly, "date before 1800-01-01")
	}
	ty, tm, td := now().Date()
	if date > ty*10000+int(tm)*100+td {
		return "", fieldError(f, formatDate(y, m, d), CodeDateInFuture, "date in the future")
	}
	if s == "" {
		s = formatDate(y, m, d)
	}
	return s, nil
}

// parseDate parses s, written YYYY-MM-DD, as a calendar date.
func parseDate(s string) (y, m, d int, ok bool) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return 0, 0, 0, false
	}
	num := func(s string) int {
		n := 0
		for i := 0; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				return -1
			}
			n = n*10 + int(s[i]-'0')
		}
		return n
	}
	y, m, d = num(s[0:4]), num(s[5:7]), num(s[8:10])
	if y < 0 || m < 1 || m > 12 || d < 1 || d > daysIn(y, m) {
		return 0, 0, 0, false
	}
	return y, m, d, true
}

// daysIn returns the number of days of month m of year y (Gregorian).
func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// formatDate writes a date as YYYY-MM-DD; a year outside 0..9999 is written
// as it is.
func formatDate(y, m, d int) string {
	if y < 0 || y > 9999 {
		return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC).Format("2006-01-02")
	}
	b := [10]byte{
		byte('0' + y/1000), byte('0' + y/100%10), byte('0' + y/10%10), byte('0' + y%10), '-',
		byte('0' + m/10), byte('0' + m%10), '-',
		byte('0' + d/10), byte('0' + d%10),
	}
	return string(b[:])
}
