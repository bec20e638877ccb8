package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"golang.org/x/sync/errgroup"

	"github.com/algoreg/algoreg-etl/load"
)

// reference measures the minimal reference pipeline, run as a child.
func (e *env) reference(ctx context.Context, cpuprofile string) (measure, error) {
	args := []string{"reference", "-url", e.apiURL, "-chunk", fmt.Sprint(chunkSize), "-concurrency", fmt.Sprint(concurrency)}
	if cpuprofile != "" {
		args = append(args, "-cpuprofile", cpuprofile)
	}
	m, stdout, err := e.child(ctx, stepRef, e.self, args)
	if err != nil {
		return m, err
	}
	if m.TimedOut {
		m.Note = fmt.Sprintf("**stopped at the step timeout (%v)**; rows unknown", e.s.stepTimeout)
		return m, nil
	}
	var res refResult
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		return m, fmt.Errorf("reference: reading its result %q: %w", stdout, err)
	}
	m.Rows, m.Sent = res.Customers+res.Relations, res.Customers+res.Relations
	return m, nil
}

// refResult is what the reference child prints.
type refResult struct {
	Customers int64 `json:"customers"`
	Relations int64 `json:"relations"`
}

// referenceMain is the child command "reference": the bar the pipeline is
// measured against. It streams the wrapped example queries with sqlx and
// lib/pq, one query per stream, maps the rows to the wire types, encodes
// them in chunks with encoding/json and POSTs them to the API with the
// given concurrency. No state, no validation, no hashing, no retries.
// The source DSN and the token come from $ALGOREG_BENCH_DSN and
// $ALGOREG_TOKEN.
func referenceMain(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("algoreg-bench reference", flag.ContinueOnError)
	apiURL := fs.String("url", "", "the API's base URL")
	chunk := fs.Int("chunk", chunkSize, "records per call")
	conc := fs.Int("concurrency", concurrency, "calls in flight")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *apiURL == "" {
		return errors.New("reference: -url is required")
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	db, err := openDB(ctx, os.Getenv("ALGOREG_BENCH_DSN"))
	if err != nil {
		return err
	}
	defer db.Close()
	p := &poster{url: strings.TrimRight(*apiURL, "/") + load.SavePath, token: os.Getenv("ALGOREG_TOKEN"),
		hc: &http.Client{Timeout: time.Minute}}

	var res refResult
	q, err := wrapped("customers.sql")
	if err != nil {
		return err
	}
	res.Customers, err = stream(ctx, db, q, *chunk, *conc, refCustomer.wire,
		func(ctx context.Context, cs []load.Customer) error {
			return p.post(ctx, &load.SaveRequest{Customers: cs, DisableRiskScan: true})
		})
	if err != nil {
		return fmt.Errorf("reference: customers: %w", err)
	}
	if q, err = wrapped("relations.sql"); err != nil {
		return err
	}
	res.Relations, err = stream(ctx, db, q, *chunk, *conc, refRelation.wire,
		func(ctx context.Context, rs []load.Relation) error {
			return p.post(ctx, &load.SaveRequest{Relations: rs, DisableRiskScan: true})
		})
	if err != nil {
		return fmt.Errorf("reference: relations: %w", err)
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// stream reads query's rows into T with sqlx, maps them with wire, and
// hands them to send in chunks, at most conc at once. It returns the number
// of rows read.
func stream[T any, W any](ctx context.Context, db *sqlx.DB, query string, chunk, conc int,
	wire func(T) W, send func(context.Context, []W) error) (int64, error) {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(conc)
	rows, err := db.QueryxContext(gctx, query)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var n int64
	batch := make([]W, 0, chunk)
	flush := func() {
		b := batch
		g.Go(func() error { return send(gctx, b) })
		batch = make([]W, 0, chunk)
	}
	for rows.Next() {
		var t T
		if err := rows.StructScan(&t); err != nil {
			g.Wait()
			return n, err
		}
		n++
		if batch = append(batch, wire(t)); len(batch) == chunk {
			flush()
		}
	}
	if len(batch) > 0 {
		flush()
	}
	if err := g.Wait(); err != nil {
		return n, err
	}
	return n, rows.Err()
}

// poster POSTs requests to the Save endpoint.
type poster struct {
	url, token string
	hc         *http.Client
}

func (p *poster) post(ctx context.Context, req *load.SaveRequest) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	hreq.Header.Set("Authorization", "Bearer "+p.token)
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := p.hc.Do(hreq)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the API answered %d: %.200s", resp.StatusCode, answer)
	}
	return nil
}

// refCustomer is a row of customers.sql.
type refCustomer struct {
	UpdatedAt          time.Time      `db:"cursor_updated_at"`
	Key                string         `db:"cursor_key"`
	ExternalID         string         `db:"external_id"`
	AccountType        string         `db:"account_type"`
	FirstName          sql.NullString `db:"first_name"`
	MiddleName         sql.NullString `db:"middle_name"`
	LastName           sql.NullString `db:"last_name"`
	CompanyName        sql.NullString `db:"company_name"`
	TradingName        sql.NullString `db:"trading_name"`
	DateOfBirth        sql.NullTime   `db:"date_of_birth"`
	NationalityCodes   pq.StringArray `db:"nationality_codes"`
	DomicileCodes      pq.StringArray `db:"domicile_codes"`
	AliasIDs           pq.StringArray `db:"alias_ids"`
	RegistrationNumber sql.NullString `db:"registration_number"`
	Phone              sql.NullString `db:"phone"`
	Comment            sql.NullString `db:"comment"`
	KYCLevel           sql.NullInt64  `db:"kyc_level"`
	KYCLevelRequested  sql.NullInt64  `db:"kyc_level_requested"`
	ParentExternalID   sql.NullString `db:"parent_external_id"`
	ReviewGroups       pq.StringArray `db:"review_groups"`
	Contacts           pq.StringArray `db:"contacts"`
	Variations         []byte         `db:"variations"`
	Disabled           bool           `db:"disabled"`
	Fields             []byte         `db:"fields"`
}

// wire maps a row to the wire type the plain way: what the pipeline sends,
// without checking any of it.
func (r refCustomer) wire() load.Customer {
	c := load.Customer{
		ExternalID:         r.ExternalID,
		AccountType:        load.AccountIndividual,
		FirstName:          r.FirstName.String,
		MiddleName:         r.MiddleName.String,
		LastName:           r.LastName.String,
		CompanyName:        r.CompanyName.String,
		TradingName:        r.TradingName.String,
		NationalityCodes:   r.NationalityCodes,
		DomicileCodes:      r.DomicileCodes,
		AliasIDs:           r.AliasIDs,
		RegistrationNumber: r.RegistrationNumber.String,
		Phone:              r.Phone.String,
		Comment:            r.Comment.String,
		ParentExternalID:   r.ParentExternalID.String,
		ReviewGroups:       items(r.ReviewGroups),
		Contacts:           items(r.Contacts),
		Disabled:           &r.Disabled,
		Fields:             r.Fields,
	}
	if r.AccountType == "company" {
		c.AccountType = load.AccountFirm
	}
	if r.DateOfBirth.Valid {
		c.DateOfBirth = r.DateOfBirth.Time.Format(time.DateOnly)
	}
	if r.KYCLevel.Valid {
		c.KYCLevel = &r.KYCLevel.Int64
	}
	if r.KYCLevelRequested.Valid {
		c.KYCLevelRequested = &r.KYCLevelRequested.Int64
	}
	if len(r.Variations) > 2 { // not "[]"
		json.Unmarshal(r.Variations, &c.Variations)
		for i := range c.Variations {
			c.Variations[i].Op = "set"
		}
	}
	return c
}

// items gives a list of names in the array form the pipeline sends.
func items(names []string) json.RawMessage {
	if len(names) == 0 {
		return json.RawMessage("[]")
	}
	type item struct {
		Op    string `json:"_op"`
		Value string `json:"value"`
	}
	list := make([]item, len(names))
	for i, n := range names {
		list[i] = item{"set", n}
	}
	b, _ := json.Marshal(list)
	return b
}

// refRelation is a row of relations.sql.
type refRelation struct {
	UpdatedAt time.Time `db:"cursor_updated_at"`
	Key       string    `db:"cursor_key"`
	ID        string    `db:"relation_external_id"`
	Parent    string    `db:"parent_customer_external_id"`
	Child     string    `db:"child_customer_external_id"`
	Type      string    `db:"relation_type"`
	Disabled  bool      `db:"disabled"`
	Fields    []byte    `db:"fields"`
}

var relationTypes = map[string]int64{"director": 1, "shareholder": 2, "ubo": 3}

func (r refRelation) wire() load.Relation {
	return load.Relation{RelationExternalID: r.ID, ParentCustomerExternalID: r.Parent, ChildCustomerExternalID: r.Child,
		RelationType: relationTypes[r.Type], Disabled: &r.Disabled, Fields: r.Fields}
}
