-- 0008: the lifecycle of a record error, and what a tenant accepted across
-- its jobs.
--
-- A source row that fails keeps one open error per reason (code): a run
-- that reads it again unchanged and finds the same reason marks the open
-- error seen again (last_seen_at, last_run_id) instead of adding a row, and
-- an attempt is counted only when the row's content or the reason changed.
-- Errors whose reason no longer applies are resolved as superseded.
--
-- Like the earlier migrations, names are unqualified: the migrator sets
-- search_path to the state schema inside the migration's transaction.

ALTER TABLE record_errors
    ADD COLUMN hash         bytea CHECK (hash IS NULL OR octet_length(hash) = 16),
    ADD COLUMN attempt      integer NOT NULL DEFAULT 1 CHECK (attempt >= 0),
    ADD COLUMN last_seen_at timestamptz,
    ADD COLUMN last_run_id  bigint REFERENCES runs (id),
    ADD COLUMN resolution   text CHECK (resolution IN ('accepted', 'unchanged', 'superseded', 'moved')),
    ADD COLUMN released_at  timestamptz;

-- prune deletes the errors whose last run it prunes.
CREATE INDEX record_errors_last_run ON record_errors ((coalesce(last_run_id, run_id)));

COMMENT ON COLUMN record_errors.hash IS 'The content hash of the failing row (of the record as it would be sent, or of the source row when it could not be mapped); NULL when there is none, e.g. a row the query no longer returns.';
COMMENT ON COLUMN record_errors.attempt IS 'Which attempt of the source row failed: 1 for the first failure since the row was last settled, one more each time the row failed again with other content or for another reason. Reading an unchanged row again and finding the same reason is not an attempt. A row whose open errors reach the job''s stuck_after is stuck: runs no longer retry it. algoreg-etl release sets it back to 0.';
COMMENT ON COLUMN record_errors.last_seen_at IS 'When a later run last met the same problem again (same row content, same code) without recording a new error; NULL if none has.';
COMMENT ON COLUMN record_errors.last_run_id IS 'The run that last met the problem again; NULL if none has (then it is run_id).';
COMMENT ON COLUMN record_errors.resolution IS 'How a resolved error was settled: accepted (the API accepted the row''s record), unchanged (the row was found unchanged since its record was last accepted), superseded (the row now fails with other content or for another reason, recorded as a newer error), moved (the query no longer returns the row, and the API accepted its external id from another source row). NULL while open, for warnings, and for errors resolved before this column existed.';
COMMENT ON COLUMN record_errors.released_at IS 'When a person released the stuck row (algoreg-etl release), so that runs retry it again.';

-- Open errors recorded before this migration: a lookback that read an
-- unchanged failing row again added one row per run. Keep the latest of each
-- row and code open, as the first attempt; the others are superseded.
UPDATE record_errors AS e
SET resolved_at = now(), resolution = 'superseded'
WHERE e.resolved_at IS NULL AND e.severity = 'error' AND e.source_key IS NOT NULL
  AND EXISTS (SELECT 1 FROM record_errors AS later
              WHERE later.job = e.job AND later.stream = e.stream AND later.source_key = e.source_key
                AND later.code = e.code AND later.severity = 'error' AND later.resolved_at IS NULL
                AND later.id > e.id);

-- record_error_runs: the later runs that met an open error again, so that
-- the errors of a run are all its own failures, recorded or met again.
CREATE TABLE record_error_runs (
    run_id   bigint NOT NULL REFERENCES runs (id),
    error_id bigint NOT NULL REFERENCES record_errors (id) ON DELETE CASCADE,
    seen_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, error_id)
);
CREATE INDEX record_error_runs_error_id ON record_error_runs (error_id);
COMMENT ON TABLE record_error_runs IS 'One row per run that met an open record error again (same source row, content and code) without recording a new one: with record_errors.run_id, every run the problem failed. Deleted with the error, or by prune with the run''s history.';

-- open_errors_by_code counts, besides the runs that recorded an error, the
-- runs that met it again; its errors are one per row, reason and attempt.
CREATE OR REPLACE VIEW open_errors_by_code AS
SELECT e.job, e.stream, e.stage, e.code,
    count(DISTINCT coalesce(e.source_key, e.external_id)) AS records,
    count(DISTINCT e.id) AS errors,
    count(DISTINCT x.run_id) AS runs,
    min(e.created_at) AS first_seen,
    max(coalesce(e.last_seen_at, e.created_at)) AS last_seen,
    min(e.external_id) AS example_external_id
FROM record_errors AS e
JOIN runs AS r ON r.id = e.run_id
CROSS JOIN LATERAL (
    SELECT e.run_id
    UNION ALL
    SELECT m.run_id FROM record_error_runs AS m WHERE m.error_id = e.id
) AS x (run_id)
WHERE e.resolved_at IS NULL AND e.severity = 'error' AND r.kind NOT IN ('verify', 'offline')
GROUP BY e.job, e.stream, e.stage, e.code;

COMMENT ON COLUMN open_errors_by_code.errors IS 'Open error rows: one per source row and reason, so a record failing for two reasons counts twice.';
COMMENT ON COLUMN open_errors_by_code.runs IS 'Distinct runs that recorded these errors or met them again.';
COMMENT ON COLUMN open_errors_by_code.last_seen IS 'When a run last recorded or met one of these errors.';

-- The runs' counts of the errors they left.
ALTER TABLE runs
    ADD COLUMN new_errors bigint NOT NULL DEFAULT 0,
    ADD COLUMN stuck      bigint NOT NULL DEFAULT 0;

COMMENT ON COLUMN runs.new_errors IS 'Errors the run recorded for a source row and code that had no open error before the run, still open when it ended: what exit_on_errors: new reports.';
COMMENT ON COLUMN runs.stuck IS 'Source rows of the job with open errors that had failed stuck_after attempts when the run ended: runs no longer retry them (algoreg-etl release).';

-- run_summary: a run's open errors are those it recorded and those it met
-- again; new_errors and stuck as on the run row.
CREATE OR REPLACE VIEW run_summary AS
SELECT r.id AS run_id, r.job, r.kind, r.dry_run, r.status, r.started_at, r.finished_at,
    r.finished_at - r.started_at AS duration,
    r.window_from, r.window_to, r.backfill_from, r.backfill_until,
    r.extracted, r.retried,
    CASE WHEN r.dry_run THEN 0 ELSE r.sent END AS sent,
    CASE WHEN r.dry_run THEN 0 ELSE r.added END AS added,
    CASE WHEN r.dry_run THEN 0 ELSE r.sent - r.added END AS updated,
    CASE WHEN r.dry_run THEN r.sent ELSE 0 END AS would_send,
    r.skipped, r.invalid, r.rejected, r.warnings, r.resolved,
    (SELECT count(*) FROM record_errors AS e
        WHERE (e.run_id = r.id OR e.id IN (SELECT m.error_id FROM record_error_runs AS m WHERE m.run_id = r.id))
            AND e.severity = 'error' AND e.resolved_at IS NULL) AS open_errors,
    r.disable_risk_scan,
    coalesce(c.chunks, 0) AS chunks, coalesce(c.calls, 0) AS calls, c.slowest_chunk,
    r.error, r.warning, r.history_pruned_at,
    r.new_errors, r.stuck
FROM runs AS r
LEFT JOIN LATERAL (
    SELECT count(*) AS chunks, sum(calls)::bigint AS calls, max(duration) AS slowest_chunk
    FROM run_chunks WHERE run_id = r.id
) AS c ON true;

COMMENT ON COLUMN run_summary.open_errors IS 'Error-severity record errors that this run recorded, or met again, and that no later run has resolved.';
COMMENT ON COLUMN run_summary.new_errors IS 'Errors the run recorded for a source row and code that had no open error before it, still open when it ended.';
COMMENT ON COLUMN run_summary.stuck IS 'Source rows of the job that runs no longer retry (stuck_after attempts) when the run ended.';

-- run_claims: the external ids a run is sending for the first time, with the
-- source row each came from, so that two rows of one external id are caught
-- within a run. Emptied when the run ends. Unlogged: scratch data, lost only
-- with a crash that also ends the run.
CREATE UNLOGGED TABLE run_claims (
    run_id      bigint NOT NULL,
    job         text   NOT NULL,
    stream      text   NOT NULL,
    external_id text   NOT NULL,
    source_key  text   NOT NULL,
    PRIMARY KEY (run_id, stream, external_id)
);
CREATE INDEX run_claims_job ON run_claims (job);
COMMENT ON TABLE run_claims IS 'Scratch: per running run, the source row that first gave each external id the API had not accepted before; emptied when the run ends.';

-- job_tenants: the Algoreg tenant (API URL) each job sends to. What the API
-- accepted is a fact about the tenant: a relation of one job may name a
-- customer another job of the same tenant sent.
CREATE TABLE job_tenants (
    job        text        PRIMARY KEY,
    tenant     text        NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX job_tenants_tenant ON job_tenants (tenant);
COMMENT ON TABLE job_tenants IS 'The Algoreg tenant (the API''s base URL) each job last ran against: the jobs of one tenant share what the API accepted when dependencies are checked.';
