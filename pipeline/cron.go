package pipeline

import (
	"errors"
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
)

// A Schedule is when a job runs: a 5-field cron expression (or @daily,
// @hourly, ...) read in a time zone.
//
// Daylight-saving changes are handled as cron daemons do, so that a nightly
// job runs once every night:
//   - a wall-clock time that a spring-forward change skips (02:30 on the
//     night clocks jump from 02:00 to 03:00) fires once, at the first
//     instant after the change (03:00);
//   - a wall-clock time that a fall-back change repeats (02:30 on the night
//     clocks go back from 03:00 to 02:00) fires once, at its first
//     occurrence.
//
// A Schedule's activations are a function of the expression and the zone
// alone, never of when a process started: two processes compute the same
// instants, whatever their clocks.
type Schedule struct {
	expr string
	loc  *time.Location
	spec cron.SpecSchedule // in loc
	wall cron.SpecSchedule // in UTC: tells which wall-clock times of a gap match
}

// maxLookBack bounds the search of Schedule.Prev; robfig/cron gives up
// looking forward after five years.
const maxLookBack = 5 * 366 * 24 * time.Hour

// ParseSchedule parses a cron expression read in loc (UTC when nil).
// Expressions that are not anchored to the clock (@every) are refused: two
// processes would compute different instants from them.
func ParseSchedule(expr string, loc *time.Location) (*Schedule, error) {
	if loc == nil {
		loc = time.UTC
	}
	parsed, err := cron.ParseStandard(expr)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %w", expr, err)
	}
	spec, ok := parsed.(*cron.SpecSchedule)
	if !ok {
		return nil, fmt.Errorf("schedule %q: not a cron expression anchored to the clock; use e.g. \"0 2 * * *\"", expr)
	}
	s := &Schedule{expr: expr, loc: loc, spec: *spec, wall: *spec}
	s.spec.Location, s.wall.Location = loc, time.UTC
	if s.Next(time.Now()).IsZero() {
		return nil, fmt.Errorf("schedule %q: never fires", expr)
	}
	return s, nil
}

// String returns the expression and the zone.
func (s *Schedule) String() string { return s.expr + " (" + s.loc.String() + ")" }

// Location returns the zone the expression is read in.
func (s *Schedule) Location() *time.Location { return s.loc }

// Next returns the first activation strictly after t, in t's location; the
// zero time if there is none within five years.
func (s *Schedule) Next(t time.Time) time.Time {
	n := s.spec.Next(t)
	for !n.IsZero() && repeated(n.In(s.loc)) {
		n = s.spec.Next(n)
	}
	if n.IsZero() {
		return n
	}
	if g, ok := s.gapAfter(t, n); ok {
		n = g
	}
	return n.In(t.Location())
}

// Prev returns the last activation at or before t, in t's location; the
// zero time if there is none within five years.
func (s *Schedule) Prev(t time.Time) time.Time {
	for d := time.Minute; d <= maxLookBack; d *= 2 {
		a := s.Next(t.Add(-d))
		if a.IsZero() {
			return a
		}
		if a.After(t) {
			continue
		}
		for {
			b := s.Next(a)
			if b.IsZero() || b.After(t) {
				return a
			}
			a = b
		}
	}
	return time.Time{}
}

// repeated reports whether t's wall-clock time already occurred before t,
// because a fall-back change (the offset decreasing) repeats it.
func repeated(t time.Time) bool {
	start, _ := t.ZoneBounds()
	if start.IsZero() {
		return false
	}
	_, off := t.Zone()
	_, before := start.Add(-time.Nanosecond).Zone()
	return before > off && t.Sub(start) < time.Duration(before-off)*time.Second
}

// gapAfter returns the first spring-forward change strictly between t and n
// whose skipped wall-clock times hold an activation: the schedule fires at
// the instant of that change.
func (s *Schedule) gapAfter(t, n time.Time) (time.Time, bool) {
	_, end := t.In(s.loc).ZoneBounds()
	for !end.IsZero() && end.Before(n) {
		if s.skipsMatch(end) {
			return end, true
		}
		_, next := end.ZoneBounds()
		if !next.After(end) {
			break
		}
		end = next
	}
	return time.Time{}, false
}

// skipsMatch reports whether the zone change at instant at skips wall-clock
// times (the offset increases), one of which the expression matches.
func (s *Schedule) skipsMatch(at time.Time) bool {
	_, before := at.Add(-time.Nanosecond).Zone()
	_, after := at.Zone()
	if after <= before {
		return false
	}
	// The skipped wall-clock times, written as UTC instants: from the
	// clock's reading at the change, for the length of the jump.
	from := at.UTC().Add(time.Duration(before) * time.Second)
	to := from.Add(time.Duration(after-before) * time.Second)
	m := s.wall.Next(from.Add(-time.Second))
	return !m.IsZero() && m.Before(to)
}

// gocronCron lets gocron schedule a job by a Schedule, so that the instants
// gocron fires at are those Schedule.Prev returns as slots.
type gocronCron struct{ s *Schedule }

// IsValid ignores gocron's crontab and location: the Schedule was parsed
// with the job's own zone.
func (c gocronCron) IsValid(_ string, _ *time.Location, now time.Time) error {
	if c.s.Next(now).IsZero() {
		return errors.New("schedule never fires")
	}
	return nil
}

func (c gocronCron) Next(lastRun time.Time) time.Time { return c.s.Next(lastRun) }
