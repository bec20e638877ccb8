package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
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
	// table lists the columns a table on a terminal shows, in order; nil
	// for all. CSV and JSON have every column.
	table []string
}

// add appends a row; it must have one value per column.
func (s *section) add(vals ...any) {
	if len(vals) != len(s.cols) {
		panic(fmt.Sprintf("section %s: %d values for %d columns", s.name, len(vals), len(s.cols)))
	}
	s.rows = append(s.rows, vals)
}

// writeReport writes sections in format; a table fits in width columns. A
// report of one section is written as that section alone: a table, a CSV
// file, a JSON array. A report of several is written as headed tables, CSV
// blocks separated by a blank line (each with its header row), or one JSON
// object keyed by section name.
func writeReport(w io.Writer, format string, width int, sections ...*section) error {
	switch format {
	case formatTable:
		return writeTables(w, width, sections)
	case formatCSV:
		return writeCSV(w, sections)
	case formatJSON:
		return writeJSON(w, sections)
	}
	return fmt.Errorf("--format %q: want table, csv or json", format)
}

// tableWidth is the width of a table off a terminal.
const tableWidth = 120

// headings are the short headings of some columns in a table; the others
// are headed by their name in capitals.
var headings = map[string]string{
	"run_id":               "RUN",
	"started_at":           "STARTED",
	"duration":             "TOOK",
	"extracted":            "READ",
	"open_errors":          "OPEN",
	"would_send":           "WOULD",
	"source_key":           "KEY",
	"attempts":             "RUNS",
	"last_accepted_run":    "ACCEPTED_RUN",
	"last_accepted_at":     "ACCEPTED_AT",
	"relation_external_id": "RELATION",
	"parent_external_id":   "PARENT",
	"child_external_id":    "CHILD",
}

func heading(col string) string {
	if h, ok := headings[col]; ok {
		return h
	}
	return strings.ToUpper(col)
}

func writeTables(w io.Writer, width int, sections []*section) error {
	for i, s := range sections {
		indent := ""
		if len(sections) > 1 {
			if i > 0 {
				fmt.Fprintln(w)
			}
			fmt.Fprintf(w, "%s:\n", strings.ToUpper(s.name[:1])+strings.ReplaceAll(s.name[1:], "_", " "))
			indent = "  "
		}
		if len(s.rows) == 0 {
			fmt.Fprintln(w, indent+"(none)")
			continue
		}
		// A single row of many columns reads better down the page, and
		// shows every column.
		if len(s.rows) == 1 && len(s.cols) > 8 {
			keyWidth := 0
			for _, c := range s.cols {
				keyWidth = max(keyWidth, len(c))
			}
			for j, c := range s.cols {
				v := cut(textOf(s.rows[0][j]), width-len(indent)-keyWidth-2)
				fmt.Fprintf(w, "%s%-*s  %s\n", indent, keyWidth, c, v)
			}
			continue
		}
		if err := writeTable(w, s, width, indent); err != nil {
			return err
		}
	}
	return nil
}

// writeTable writes the table columns of s, fitted to width: the widest
// text column is cut (its values ending in "…") until the table fits or
// every text column is as narrow as its heading. Numbers and times are
// never cut.
func writeTable(w io.Writer, s *section, width int, indent string) error {
	cols := s.table
	if cols == nil {
		cols = s.cols
	}
	idx := make([]int, len(cols))
	for i, c := range cols {
		idx[i] = slices.Index(s.cols, c)
		if idx[i] < 0 {
			panic(fmt.Sprintf("section %s: table column %s is not a column", s.name, c))
		}
	}
	const gap = 2
	cells := make([][]string, len(s.rows))
	widths := make([]int, len(cols))
	floors := make([]int, len(cols))
	for i, c := range cols {
		widths[i] = len(heading(c))
		floors[i] = widths[i]
	}
	text := make([]bool, len(cols)) // whether the column may be cut
	for r, row := range s.rows {
		cells[r] = make([]string, len(cols))
		for i, j := range idx {
			v := strings.Join(strings.Fields(textOf(row[j])), " ")
			cells[r][i] = v
			widths[i] = max(widths[i], utf8.RuneCountInString(v))
			switch row[j].(type) {
			case string, []string:
				text[i] = true
			}
		}
	}
	for i := range cols {
		if !text[i] {
			floors[i] = widths[i]
		}
	}
	total := len(indent) + gap*(len(cols)-1)
	for _, n := range widths {
		total += n
	}
	for total > width {
		widest := -1
		for i := range cols {
			if widths[i] > floors[i] && (widest < 0 || widths[i] > widths[widest]) {
				widest = i
			}
		}
		if widest < 0 {
			break // as narrow as it goes
		}
		widths[widest]--
		total--
	}
	bw := bufio.NewWriter(w)
	line := func(vals []string) {
		var b strings.Builder
		b.WriteString(indent)
		for i, v := range vals {
			v = cut(v, widths[i])
			b.WriteString(v)
			if i < len(vals)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(v)+gap))
			}
		}
		bw.WriteString(strings.TrimRight(b.String(), " ") + "\n")
	}
	heads := make([]string, len(cols))
	for i, c := range cols {
		heads[i] = heading(c)
	}
	line(heads)
	for _, row := range cells {
		line(row)
	}
	return bw.Flush()
}

// cut shortens s, on one line, to n characters, ending in "…" when cut.
func cut(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n <= 1 {
		return "…"
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
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
