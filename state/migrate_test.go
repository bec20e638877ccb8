package state_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	etlsql "github.com/algoreg/algoreg-etl/sql"
	"github.com/algoreg/algoreg-etl/sql/sqltest"
	"github.com/algoreg/algoreg-etl/state"
)

// versions returns the versions of the embedded migrations.
func versions(t *testing.T) []int {
	t.Helper()
	ms, err := etlsql.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	var vs []int
	for _, m := range ms {
		vs = append(vs, m.Version)
	}
	return vs
}

func TestMigrateTwice(t *testing.T) {
	ctx := context.Background()
	db := sqltest.NewDB(t)
	s := open(t, db.URL, "")
	applied, err := s.Migrate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := versions(t); !slices.Equal(applied, want) {
		t.Fatalf("first Migrate applied %v, want %v", applied, want)
	}
	applied, err = s.Migrate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != 0 {
		t.Fatalf("second Migrate applied %v, want nothing", applied)
	}
	if err := s.CheckVersion(ctx); err != nil {
		t.Fatalf("CheckVersion after Migrate: %v", err)
	}
	var tables []string
	if err := db.Select(&tables, `SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY 1`, state.DefaultSchema); err != nil {
		t.Fatal(err)
	}
	if want := []string{"job_tenants", "reconcile_seen", "record_error_runs", "record_errors", "record_history", "run_chunks", "run_claims", "runs", "schedule_slots",
		"schema_version", "sent_records", "watermarks"}; !slices.Equal(tables, want) {
		t.Fatalf("tables in %s: %v, want %v", state.DefaultSchema, tables, want)
	}
}

func TestMigrateConcurrently(t *testing.T) {
	ctx := context.Background()
	db := sqltest.NewDB(t)
	want := versions(t)
	// Several fresh schemas, each raced by two processes.
	for i := range 4 {
		schema := fmt.Sprintf("race_%d", i)
		a, b := open(t, db.URL, schema), open(t, db.URL, schema)
		var (
			wg      sync.WaitGroup
			start   = make(chan struct{})
			applied [2][]int
			errs    [2]error
		)
		for j, s := range []*state.Store{a, b} {
			wg.Go(func() {
				<-start
				applied[j], errs[j] = s.Migrate(ctx)
			})
		}
		close(start)
		wg.Wait()
		for j, err := range errs {
			if err != nil {
				t.Fatalf("%s: Migrate %d: %v", schema, j, err)
			}
		}
		both := slices.Sorted(slices.Values(append(applied[0], applied[1]...)))
		if !slices.Equal(both, want) {
			t.Fatalf("%s: the two Migrates applied %v and %v; want each of %v applied once", schema, applied[0], applied[1], want)
		}
		var recorded []int
		if err := db.Select(&recorded, `SELECT version FROM `+schema+`.schema_version ORDER BY version`); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(recorded, want) {
			t.Fatalf("%s: schema_version holds %v, want %v", schema, recorded, want)
		}
	}
}

func TestCustomSchema(t *testing.T) {
	ctx := context.Background()
	db := sqltest.NewDB(t)
	custom := open(t, db.URL, "etl_state_2")
	if custom.Schema() != "etl_state_2" {
		t.Fatalf("Schema() = %q", custom.Schema())
	}
	if _, err := custom.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := custom.StartRun(ctx, state.Run{Job: "customers", Kind: state.KindRun}); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.Get(&n, `SELECT count(*) FROM etl_state_2.runs`); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("etl_state_2.runs holds %d rows, want 1", n)
	}
	// The default schema was not touched, and a Store on it is unmigrated.
	if err := db.Get(&n, `SELECT count(*) FROM pg_namespace WHERE nspname = $1`, state.DefaultSchema); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("schema %s was created by a Store on etl_state_2", state.DefaultSchema)
	}
}

func TestMigrateIntoExistingSchema(t *testing.T) {
	// An administrator may create the schema beforehand and grant only
	// rights on it.
	ctx := context.Background()
	db := sqltest.NewDB(t)
	if _, err := db.Exec(`CREATE SCHEMA made_by_dba`); err != nil {
		t.Fatal(err)
	}
	s := open(t, db.URL, "made_by_dba")
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckVersion(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestCheckVersion(t *testing.T) {
	ctx := context.Background()
	ms, err := etlsql.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	latest := ms[len(ms)-1].Version
	tests := []struct {
		name  string
		setup string // SQL run on the fresh database
		have  int
	}{
		{"no schema", ``, 0},
		{"empty schema", `CREATE SCHEMA algoreg_etl`, 0},
		{"no migration recorded", `CREATE SCHEMA algoreg_etl; CREATE TABLE algoreg_etl.schema_version (version int PRIMARY KEY, name text, applied_at timestamptz)`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := sqltest.NewDB(t)
			if tt.setup != "" {
				if _, err := db.Exec(tt.setup); err != nil {
					t.Fatal(err)
				}
			}
			s := open(t, db.URL, "")
			err := s.CheckVersion(ctx)
			var ve *state.VersionError
			if !errors.As(err, &ve) {
				t.Fatalf("CheckVersion on an unmigrated schema: %v, want a *VersionError", err)
			}
			if ve.Have != tt.have || ve.Want != latest {
				t.Errorf("VersionError{Have: %d, Want: %d}, want {%d, %d}", ve.Have, ve.Want, tt.have, latest)
			}
			want := fmt.Sprintf("state schema algoreg_etl is at version %d, this binary needs %d: run `algoreg-etl migrate`", tt.have, latest)
			if err.Error() != want {
				t.Errorf("error %q, want %q", err, want)
			}
			if !strings.Contains(err.Error(), "algoreg-etl migrate") {
				t.Errorf("error %q does not say to run algoreg-etl migrate", err)
			}
		})
	}
}

func TestMigrateFromVersion1KeepsData(t *testing.T) {
	ctx := context.Background()
	db := sqltest.NewDB(t)
	ms, err := etlsql.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	// A schema as a binary that knew only migration 1 left it.
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE SCHEMA algoreg_etl`,
		`CREATE TABLE algoreg_etl.schema_version (version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
		`SET LOCAL search_path TO algoreg_etl`,
		ms[0].SQL,
		`INSERT INTO schema_version (version, name) VALUES (1, '` + ms[0].Name + `')`,
		`INSERT INTO runs (id, job, kind, status, finished_at, window_to, extracted, sent, invalid, disable_risk_scan)
			VALUES (1, 'customers', 'run', 'partial', now(), '2025-01-02T00:00:00Z', 10, 9, 1, false),
			       (2, 'customers', 'backfill', 'interrupted', now(), NULL, 5, 5, 0, true)`,
		`SELECT setval('runs_id_seq', 2)`,
		`INSERT INTO watermarks (job, stream, updated_at, key, run_id, moved_at) VALUES ('customers', 'customers', '2025-01-01T12:00:00Z', '77', 1, now())`,
		`INSERT INTO record_errors (run_id, job, stream, source_key, external_id, stage, severity, code, field, message, payload)
			VALUES (1, 'customers', 'customers', '5', 'C-5', 'transform', 'error', 'invalid_date', 'date_of_birth', 'not a date', '{"a": 1}'),
			       (1, 'customers', 'customers', '6', 'C-6', 'api', 'warning', 'W1', NULL, 'odd', NULL)`,
	} {
		if _, err := tx.Exec(q); err != nil {
			t.Fatalf("%.60s: %v", q, err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}

	s := open(t, db.URL, "")
	var ve *state.VersionError
	if err := s.CheckVersion(ctx); !errors.As(err, &ve) || ve.Have != 1 {
		t.Fatalf("CheckVersion at version 1: %v", err)
	}
	applied, err := s.Migrate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := versions(t)[1:]; !slices.Equal(applied, want) {
		t.Fatalf("Migrate from version 1 applied %v, want %v", applied, want)
	}

	r, err := s.Run(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != state.StatusPartial || r.Extracted != 10 || r.Sent != 9 || r.Invalid != 1 || r.Retried != 0 || r.Resolved != 0 ||
		r.WindowTo == nil || r.DisableRiskScan == nil || *r.DisableRiskScan || r.Progress != nil || r.ResumeOf != 0 || r.BackfillFrom != nil {
		t.Errorf("run 1 after migration: %+v", r)
	}
	if r, ok, err := s.LastInterruptedBackfill(ctx, "customers"); err != nil || !ok || r.ID != 2 {
		t.Errorf("interrupted backfill after migration: %d, %v, %v; want run 2", r.ID, ok, err)
	}
	if w, ok, err := s.Watermark(ctx, "customers", "customers"); err != nil || !ok || w.Key != "77" {
		t.Errorf("watermark after migration: %v, %v, %v", w, ok, err)
	}
	errs, err := s.RecordErrorsOfRun(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) != 2 || errs[0].Code != "invalid_date" || string(errs[0].Payload) != `{"a": 1}` || errs[0].ResolvedAt != nil || errs[1].Severity != state.SeverityWarning {
		t.Errorf("record errors after migration: %+v", errs)
	}
	// The old error is open, and a new run can retry and resolve it.
	open, err := s.OpenErrors(ctx, "customers", "customers", 3, 0, 0)
	if err != nil || len(open) != 1 || open[0].SourceKey != "5" || open[0].Attempts != 1 {
		t.Fatalf("open errors after migration: %+v, %v", open, err)
	}
	id, err := s.StartRun(ctx, state.Run{Job: "customers", Kind: state.KindRetry})
	if err != nil {
		t.Fatal(err)
	}
	if id <= 2 {
		t.Errorf("new run got id %d, taken before the migration", id)
	}
	if n, err := s.Accept(ctx, id, "customers", "customers", []state.SentRecord{{ExternalID: "C-5", SourceKey: "5", Hash: make([]byte, 16)}}); err != nil || n != 1 {
		t.Errorf("Accept after migration resolved %d, %v; want 1", n, err)
	}
}
