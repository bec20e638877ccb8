package main

import (
	"bytes"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"
)

// This file writes the sections of a report as a table on a terminal, as
// CSV or as JSON.

// Output formats of `report --format`.
const (
	formatTable = "table"
	formatCSV   = "csv"
	formatJSON  = "json"
)

// A section is one table of a report: a name (its JSON key and heading),
// its columns, and rows of values. A value is a string, an integer, a bool,
// a time.Time, a time.Duration, a hash ([]byte), a nil pointer for none, a
// *time.Time or *bool, a []string, or a json.RawMessage (kept as JSON in
// JSON output).
type section struct {
	name string
	cols []string
	rows [][]any
}

// add appends a row; it must have one value per column.
func (s *section) add(vals ...any) {
	if len(vals) != len(s.cols) {
		panic(fmt.Sprintf("section %s: %d values for %d columns", s.name, len(vals), len(s.cols)))
	}
	s.rows = append(s.rows, vals)
}

// writeReport writes sections in format. A report of one section is
// written as that section alone: a table, a CSV file, a JSON array. A
// report of several is written as headed tables, CSV blocks separated by a
// blank line (each with its header row), or one JSON object keyed by
// section name.
func writeReport(w io.Writer, format string, sections ...*section) error {
	switch format {
	case formatTable:
		return writeTables(w, sections)
	case formatCSV:
		return writeCSV(w, sections)
	case formatJSON:
		return writeJSON(w, sections)
	}
	return fmt.Errorf("--format %q: want table, csv or json", format)
}

// maxCell is the width at which a table cell is cut; CSV and JSON keep
// every character.
const maxCell = 60

func writeTables(w io.Writer, sections []*section) error {
	for i, s := range sections {
		if len(sections) > 1 {
			if i > 0 {
				fmt.Fprintln(w)
			}
			fmt.Fprintf(w, "%s:\n", strings.ToUpper(s.name[:1])+strings.ReplaceAll(s.name[1:], "_", " "))
		}
		if len(s.rows) == 0 {
			fmt.Fprintln(w, "  (none)")
			continue
		}
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		// A single row of many columns reads better down the page.
		if len(s.rows) == 1 && len(s.cols) > 8 {
			for j, c := range s.cols {
				fmt.Fprintf(tw, "  %s\t%s\n", c, cut(textOf(s.rows[0][j])))
			}
		} else {
			fmt.Fprintln(tw, "  "+strings.ToUpper(strings.Join(s.cols, "\t")))
			for _, row := range s.rows {
				cells := make([]string, len(row))
				for j, v := range row {
					cells[j] = cut(textOf(v))
				}
				fmt.Fprintln(tw, "  "+strings.Join(cells, "\t"))
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// cut shortens s to maxCell characters, on one line.
func cut(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= maxCell {
		return s
	}
	r := []rune(s)
	return string(r[:maxCell-1]) + "…"
}

func writeCSV(w io.Writer, sections []*section) error {
	cw := csv.NewWriter(w)
	for i, s := range sections {
		if i > 0 {
			cw.Flush()
			fmt.Fprintln(w)
		}
		if err := cw.Write(s.cols); err != nil {
			return err
		}
		for _, row := range s.rows {
			cells := make([]string, len(row))
			for j, v := range row {
				cells[j] = csvOf(v)
			}
			if err := cw.Write(cells); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

func writeJSON(w io.Writer, sections []*section) error {
	var out any
	if len(sections) == 1 {
		out = sections[0]
	} else {
		obj := make(orderedObject, len(sections))
		for i, s := range sections {
			obj[i] = field{s.name, s}
		}
		out = obj
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// MarshalJSON writes the section as an array of objects, one per row, with
// the columns in order.
func (s *section) MarshalJSON() ([]byte, error) {
	rows := make([]orderedObject, len(s.rows))
	for i, row := range s.rows {
		obj := make(orderedObject, len(row))
		for j, v := range row {
			obj[j] = field{s.cols[j], jsonOf(v)}
		}
		rows[i] = obj
	}
	return json.Marshal(rows)
}

// An orderedObject is a JSON object whose keys keep their order.
type orderedObject []field

type field struct {
	key string
	val any
}

func (o orderedObject) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f.key)
		v, err := json.Marshal(f.val)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.key, err)
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// textOf formats a value for a table on a terminal: times in UTC to the
// second, durations to the millisecond, none as "-".
func textOf(v any) string {
	switch v := v.(type) {
	case time.Time:
		return v.UTC().Format("2006-01-02 15:04:05")
	case *time.Time:
		if v == nil {
			return "-"
		}
		return textOf(*v)
	case time.Duration:
		return v.Round(time.Millisecond).String()
	case *bool:
		if v == nil {
			return "-"
		}
		return strconv.FormatBool(*v)
	case []string:
		return strings.Join(v, "; ")
	case string:
		if v == "" {
			return "-"
		}
		return v
	}
	return csvOf(v)
}

// csvOf formats a value for CSV: times in RFC 3339 UTC, durations in
// seconds, none as an empty cell.
func csvOf(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano)
	case *time.Time:
		if v == nil {
			return ""
		}
		return csvOf(*v)
	case time.Duration:
		return strconv.FormatFloat(v.Seconds(), 'f', 3, 64)
	case *bool:
		if v == nil {
			return ""
		}
		return strconv.FormatBool(*v)
	case json.RawMessage:
		return string(v)
	case []byte:
		return hex.EncodeToString(v)
	case []string:
		return strings.Join(v, "; ")
	}
	return fmt.Sprint(v)
}

// jsonOf returns a value as it goes into JSON: times as RFC 3339 UTC
// strings, durations as seconds, hashes in hex, none as null.
func jsonOf(v any) any {
	switch v := v.(type) {
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano)
	case *time.Time:
		if v == nil {
			return nil
		}
		return jsonOf(*v)
	case time.Duration:
		return json.Number(strconv.FormatFloat(v.Seconds(), 'f', 3, 64))
	case []byte:
		if v == nil {
			return nil
		}
		return hex.EncodeToString(v)
	case []string:
		if v == nil {
			return []string{}
		}
	}
	return v
}
