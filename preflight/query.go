package preflight

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/algoreg/algoreg-etl/configs"
	"github.com/algoreg/algoreg-etl/extract"
	"github.com/algoreg/algoreg-etl/load"
	"github.com/algoreg/algoreg-etl/transform"
)

// A stream is one query of a job and how its rows become records.
type stream struct {
	key   string // the config key of the query: customers_query or relations_query
	query extract.Query
	// mapping compiles the mapping of the query's columns (cursor columns
	// left out); zeros are the zero values of their types.
	mapping func(cols extract.Columns, zeros []any) (mapper, []*transform.FieldError, error)
}

// A mapper turns a row into a one-record call with verify_input, and names
// the record. dropped are the invalid optional fields left out of it, as a
// run leaves them out (on_invalid_field: drop).
type mapper func(row extract.Row) (id string, req *load.SaveRequest, dropped []*transform.FieldError, err error)

// streamsOf returns the queries of job, customers first.
func streamsOf(job *configs.Job, now func() time.Time) []stream {
	out := []stream{{
		key:   "customers_query",
		query: extract.Query{SQL: job.CustomersSQL, Location: job.CursorTimezone, ByKey: job.Diff()},
		mapping: func(cols extract.Columns, zeros []any) (mapper, []*transform.FieldError, error) {
			// The options of a run's mapping (pipeline.Run), so that a
			// sample forecasts what a run does with each row.
			m, err := transform.NewCustomers(cols, transform.Options{Now: now, AccountTypes: job.AccountTypes, Countries: job.Countries, Drop: job.DropInvalid()})
			if err != nil {
				return nil, nil, err
			}
			return func(row extract.Row) (string, *load.SaveRequest, []*transform.FieldError, error) {
				c, dropped, err := m.MapDropping(row)
				if err != nil {
					return externalID(row, "external_id"), nil, nil, err
				}
				return c.ExternalID, &load.SaveRequest{Customers: []load.Customer{c}}, dropped, nil
			}, m.TypeErrors(zeros), nil
		},
	}}
	if job.RelationsSQL != "" {
		out = append(out, stream{
			key:   "relations_query",
			query: extract.Query{SQL: job.RelationsSQL, Location: job.CursorTimezone, ByKey: job.Diff()},
			mapping: func(cols extract.Columns, zeros []any) (mapper, []*transform.FieldError, error) {
				m, err := transform.NewRelations(cols, transform.RelationOptions{Types: job.RelationTypes})
				if err != nil {
					return nil, nil, err
				}
				return func(row extract.Row) (string, *load.SaveRequest, []*transform.FieldError, error) {
					r, err := m.Map(row)
					if err != nil {
						return externalID(row, "relation_external_id"), nil, nil, err
					}
					return r.RelationExternalID, &load.SaveRequest{Relations: []load.Relation{r}}, nil, nil
				}, m.TypeErrors(zeros), nil
			},
		})
	}
	return out
}

// externalID returns the value of a row's id column as text, or its key.
func externalID(row extract.Row, col string) string {
	if v, ok := row.Get(col); ok && v != nil {
		return fmt.Sprint(v)
	}
	return "key " + row.Pos.Key
}

// stream checks one query of job: its columns, the plan of its pages, the
// source role's privileges on the tables it reads, and, with a sample, what
// the API says of its first rows.
func (c *checker) stream(ctx context.Context, src *sqlx.DB, job *configs.Job, s stream) {
	subject := job.Name + ": " + s.key
	cols, err := extract.DescribeColumns(ctx, src, s.query)
	if err != nil && s.query.ByKey {
		c.report(Fail, subject, "incremental: diff: %v", err)
		return
	}
	if err != nil {
		c.report(Fail, subject, "%v", err)
		return
	}
	var (
		names    extract.Columns
		zeros    []any
		upd, key = -1, -1
	)
	for i, col := range cols {
		switch col.Name {
		case extract.CursorUpdatedAt:
			upd = i
		case extract.CursorKey:
			key = i
		default:
			names = append(names, col.Name)
			zeros = append(zeros, col.Zero)
		}
	}
	m, typeErrs, err := s.mapping(names, zeros)
	if err != nil {
		c.report(Fail, subject, "%v", err)
		return
	}
	if len(typeErrs) > 0 {
		var msgs []string
		for _, fe := range typeErrs {
			msgs = append(msgs, fe.Error())
		}
		c.report(Fail, subject, "columns of unusable types, every row would be refused: %s; cast them in the query (README, \"Writing a job's query\")", strings.Join(msgs, "; "))
	} else if s.query.ByKey {
		c.report(OK, subject, "compiles; %d columns of usable types, cursor_key %s (incremental: diff: each run reads the query whole, by cursor_key)",
			len(names), strings.ToLower(cols[key].DatabaseType))
	} else {
		c.report(OK, subject, "compiles; %d columns of usable types, cursor_updated_at %s, cursor_key %s",
			len(names), strings.ToLower(cols[upd].DatabaseType), strings.ToLower(cols[key].DatabaseType))
	}

	now := c.opts.Now()
	w := extract.Window{After: extract.Position{UpdatedAt: now.Add(-24 * time.Hour)}, Until: now.Add(-job.SafetyLag)}
	raw, err := extract.Explain(ctx, src, s.query, w, extract.Options{PageSize: job.PageSize})
	if err != nil {
		c.report(Fail, subject, "%v", err)
		return
	}
	p, err := parsePlan(raw)
	if err != nil {
		c.report(Fail, subject, "%v", err)
		return
	}
	c.cursorIndex(ctx, src, subject, p, upd, key)
	c.privileges(ctx, src, subject, p)

	if c.opts.Sample > 0 && c.opts.API != nil && len(typeErrs) == 0 {
		c.sample(ctx, src, subject, s.query, m, now.Add(-job.SafetyLag))
	}
}

// sample sends the first rows of q, each alone in a verify_input call, and
// reports what the API says of each. A record the API or the mapping
// refuses is a warning: a run records it as a record error and goes on.
func (c *checker) sample(ctx context.Context, src *sqlx.DB, subject string, q extract.Query, m mapper, until time.Time) {
	subject += " sample"
	n := 0
	errStop := fmt.Errorf("enough rows")
	read := func(fn func(extract.Row) error) error {
		if q.ByKey {
			return extract.ReadAll(ctx, src, q, extract.Options{PageSize: c.opts.Sample}, fn)
		}
		return extract.Read(ctx, src, q, extract.Window{Until: until}, extract.Options{PageSize: c.opts.Sample}, fn)
	}
	err := read(func(row extract.Row) error {
		n++
		id, req, dropped, err := m(row)
		if err != nil {
			c.report(Warn, subject, "%s: not sent, a run records it as invalid: %s", id, fieldProblem(err))
		} else {
			for _, fe := range dropped {
				c.report(Warn, subject, "%s: sent without %s, as on_invalid_field says; a run records a warning: %s", id, fe.Field, fieldProblem(fe))
			}
			c.verify(ctx, subject, id, req)
		}
		if n == c.opts.Sample {
			return errStop
		}
		return nil
	})
	if err != nil && err != errStop {
		c.report(Fail, subject, "%v", err)
		return
	}
	switch {
	case n == 0 && q.ByKey:
		c.report(OK, subject, "the query returns no rows")
	case n == 0:
		c.report(OK, subject, "the query returns no rows before %s", until.UTC().Format(time.RFC3339))
	}
}

// fieldProblem describes a mapping error without the value it quotes,
// which may be personal data.
func fieldProblem(err error) string {
	if fe, ok := err.(*transform.FieldError); ok {
		return fe.Field + ": " + fe.Reason + " (" + fe.Code + ")"
	}
	return err.Error()
}

// verify sends one record with verify_input and reports the API's answer.
func (c *checker) verify(ctx context.Context, subject, id string, req *load.SaveRequest) {
	req.VerifyInput, req.DisableRiskScan = true, true
	resp, err := c.opts.API.Save(ctx, req)
	if err != nil {
		c.report(Warn, subject, "%s: the API refused the call: %v", id, err)
		return
	}
	var errs, warns []string
	for _, d := range resp.Detail {
		for _, e := range d.Errors {
			errs = append(errs, issueText(e))
		}
		for _, w := range d.Warnings {
			warns = append(warns, issueText(w))
		}
	}
	switch {
	case len(errs) > 0:
		c.report(Warn, subject, "%s: the API would refuse it: %s", id, strings.Join(errs, "; "))
	case len(warns) > 0:
		c.report(Warn, subject, "%s: the API would accept it with warnings: %s", id, strings.Join(warns, "; "))
	default:
		c.report(OK, subject, "%s: the API would accept it", id)
	}
}

func issueText(i load.Problem) string {
	if i.Detail == "" {
		return i.Error
	}
	return i.Error + " (" + i.Detail + ")"
}
