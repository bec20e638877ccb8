package transform

import (
	"time"
)

// earliestBirth is the earliest date of birth accepted, as yyyymmdd: earlier
// dates are typing errors or placeholders (0001-01-01), not people.
const earliestBirth = 1800_01_01

// dateOfBirth converts the value of date_of_birth to YYYY-MM-DD. A
// time.Time (from a date or timestamp column) gives its own calendar date,
// in its own location, with no time zone conversion; text must be a
// calendar date written YYYY-MM-DD, or an ISO 8601 timestamp whose date part
// is one (see parseDateTime), which gives that date part, again with no time
// zone conversion. The date must lie between 1800-01-01 and the calendar
// date of now(), in now's location.
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
		if y, m, d, ok = parseDateTime(s); !ok {
			return "", fieldError(f, s, CodeInvalidDate, "want a calendar date written YYYY-MM-DD, or an ISO timestamp")
		}
		s = s[:10] // the date part of a timestamp
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

// parseDateTime parses s, a calendar date written YYYY-MM-DD or an ISO 8601
// timestamp, and returns its date part. A timestamp is the date, "T" or a
// space (as PostgreSQL writes timestamps as text), then hh:mm, optionally
// :ss and a fraction of a second of 1 to 9 digits, then optionally a zone:
// "Z", or a sign and hh, hh:mm, hhmm or hh:mm:ss. "T" and "Z" may be lower
// case, as RFC 3339 allows. The time must be a valid time of day (a second
// of 60, for a leap second, is allowed); its value is otherwise ignored.
func parseDateTime(s string) (y, m, d int, ok bool) {
	if len(s) > 10 {
		if sep := s[10]; (sep != 'T' && sep != 't' && sep != ' ') || !isClock(s[11:]) {
			return 0, 0, 0, false
		}
		s = s[:10]
	}
	return parseDate(s)
}

// isClock reports whether s is a time of day as parseDateTime allows it,
// with its optional zone.
func isClock(s string) bool {
	if len(s) < 5 || s[2] != ':' || !inRange(s[0:2], 23) || !inRange(s[3:5], 59) {
		return false
	}
	s = s[5:]
	if len(s) >= 3 && s[0] == ':' {
		if !inRange(s[1:3], 60) {
			return false
		}
		s = s[3:]
		if len(s) > 0 && s[0] == '.' {
			n := 1
			for n < len(s) && '0' <= s[n] && s[n] <= '9' {
				n++
			}
			if n == 1 || n > 10 {
				return false // no digit, or more than 9
			}
			s = s[n:]
		}
	}
	switch {
	case s == "" || s == "Z" || s == "z":
		return true
	case s[0] == '+' || s[0] == '-':
		return isOffset(s[1:])
	}
	return false
}

// isOffset reports whether s is a zone offset without its sign: hh, hh:mm,
// hhmm or hh:mm:ss.
func isOffset(s string) bool {
	switch len(s) {
	case 2:
		return inRange(s, 23)
	case 4:
		return inRange(s[0:2], 23) && inRange(s[2:4], 59)
	case 5:
		return s[2] == ':' && inRange(s[0:2], 23) && inRange(s[3:5], 59)
	case 8:
		return s[2] == ':' && s[5] == ':' && inRange(s[0:2], 23) && inRange(s[3:5], 59) && inRange(s[6:8], 59)
	}
	return false
}

// inRange reports whether s is two decimal digits whose value is at most hi.
func inRange(s string, hi int) bool {
	return len(s) == 2 && '0' <= s[0] && s[0] <= '9' && '0' <= s[1] && s[1] <= '9' &&
		int(s[0]-'0')*10+int(s[1]-'0') <= hi
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
