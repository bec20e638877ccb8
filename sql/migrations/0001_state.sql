-- 0001: the state of algoreg-etl — watermarks, runs and per-record errors.
--
-- Names are unqualified: the migrator runs this file inside a transaction
-- with SET LOCAL search_path TO the state schema (default algoreg_etl). The
-- migrator itself creates the schema and the schema_version table before it
-- runs any migration, so that it can tell which ones are missing.

COMMENT ON TABLE schema_version IS
    'The migrations of this schema that have been applied, one row each. Written only by `algoreg-etl migrate`.';

-- runs: one row per run of a job.
--
-- kind:
--   run        an incremental run, scheduled or started by hand
--   backfill   a re-send of every row changed since a given instant
--   verify     a dry run: the API validates, persists nothing (verify_input)
--   offline    a run that reads and transforms but does not call the API
--   retry      a re-send of the records that failed in an earlier run
--   reconcile  a comparison of the source with what was sent
--
-- status:
--   running      started and not yet closed (or its process died: the next
--                process to take the job's lock marks it interrupted)
--   succeeded    finished; every row in the window was accepted or skipped
--   partial      finished; some records were invalid or rejected and are
--                listed in record_errors, the rest were accepted
--   failed       stopped by an error (network, API, database); the
--                watermark holds at the last checkpoint
--   interrupted  stopped by a signal or cancellation, or abandoned by a
--                process that ended without closing the run
CREATE TABLE runs (
    id                bigserial   PRIMARY KEY,
    job               text        NOT NULL,
    kind              text        NOT NULL
        CHECK (kind IN ('run', 'backfill', 'verify', 'offline', 'retry', 'reconcile')),
    status            text        NOT NULL
        CHECK (status IN ('running', 'succeeded', 'partial', 'failed', 'interrupted')),
    started_at        timestamptz NOT NULL DEFAULT now(),
    finished_at       timestamptz,
    window_from       timestamptz,
    window_from_key   text,
    window_to         timestamptz,
    extracted         bigint      NOT NULL DEFAULT 0,
    sent              bigint      NOT NULL DEFAULT 0,
    added             bigint      NOT NULL DEFAULT 0,
    skipped           bigint      NOT NULL DEFAULT 0,
    invalid           bigint      NOT NULL DEFAULT 0,
    rejected          bigint      NOT NULL DEFAULT 0,
    warnings          bigint      NOT NULL DEFAULT 0,
    disable_risk_scan boolean,
    error             text,
    CHECK (status = 'running' OR finished_at IS NOT NULL)
);

CREATE INDEX runs_job_started_at ON runs (job, started_at DESC);

COMMENT ON TABLE runs IS
    'One row per run of a job: what kind of run, over which window of the source, with which outcome and counts. Counts are checkpointed while the run goes on.';
COMMENT ON COLUMN runs.kind IS 'run (incremental), backfill, verify (dry run, nothing persisted by the API), offline (no API call), retry (re-send of failed records), reconcile.';
COMMENT ON COLUMN runs.status IS 'running, succeeded, partial (finished with record errors), failed (stopped by an error), interrupted (cancelled, or abandoned by a process that died).';
COMMENT ON COLUMN runs.started_at IS 'When the run started.';
COMMENT ON COLUMN runs.finished_at IS 'When the run was closed; for a run abandoned by a process that died, when the next process closed it.';
COMMENT ON COLUMN runs.window_from IS 'The source updated_at after which rows were read (NULL: from the beginning).';
COMMENT ON COLUMN runs.window_from_key IS 'With window_from, the source key after which rows were read.';
COMMENT ON COLUMN runs.window_to IS 'The source updated_at up to which (inclusive) rows were read.';
COMMENT ON COLUMN runs.extracted IS 'Rows read from the source.';
COMMENT ON COLUMN runs.sent IS 'Records sent to the API and accepted by it.';
COMMENT ON COLUMN runs.added IS 'Customers the API reported as newly created.';
COMMENT ON COLUMN runs.skipped IS 'Rows not sent because their content equals what was last sent successfully.';
COMMENT ON COLUMN runs.invalid IS 'Rows that failed validation before sending; each has a row in record_errors (stage transform).';
COMMENT ON COLUMN runs.rejected IS 'Records the API refused; each has a row in record_errors (stage api).';
COMMENT ON COLUMN runs.warnings IS 'Warnings the API returned for accepted records; each has a row in record_errors (severity warning).';
COMMENT ON COLUMN runs.disable_risk_scan IS 'The disable_risk_scan flag sent with this run''s requests: true means risk scoring was left to Algoreg''s nightly process.';
COMMENT ON COLUMN runs.error IS 'Why the run failed or was interrupted.';

-- watermarks: how far each stream of each job has been settled.
CREATE TABLE watermarks (
    job        text        NOT NULL,
    stream     text        NOT NULL,
    updated_at timestamptz NOT NULL,
    key        text        NOT NULL,
    run_id     bigint      REFERENCES runs (id) ON DELETE SET NULL,
    moved_at   timestamptz,
    PRIMARY KEY (job, stream)
);

COMMENT ON TABLE watermarks IS
    'For each job and stream, the source position (updated_at, key) up to which every row has been settled: sent and accepted, skipped as unchanged, or recorded in record_errors. The next run reads rows after it (less a lookback margin).';
COMMENT ON COLUMN watermarks.job IS 'The job name from the configuration, e.g. customers.';
COMMENT ON COLUMN watermarks.stream IS 'What the job extracts: customers or relations.';
COMMENT ON COLUMN watermarks.updated_at IS 'The source updated_at of the last settled row.';
COMMENT ON COLUMN watermarks.key IS 'The source key of the last settled row, as text; it breaks ties between rows that share updated_at.';
COMMENT ON COLUMN watermarks.run_id IS 'The run that last moved the watermark.';
COMMENT ON COLUMN watermarks.moved_at IS 'When the watermark last moved.';

-- record_errors: why a record was not sent, or what the API said about it.
CREATE TABLE record_errors (
    id          bigserial   PRIMARY KEY,
    run_id      bigint      NOT NULL REFERENCES runs (id),
    job         text        NOT NULL,
    stream      text        NOT NULL,
    source_key  text,
    external_id text,
    stage       text        NOT NULL CHECK (stage IN ('transform', 'api')),
    severity    text        NOT NULL DEFAULT 'error' CHECK (severity IN ('error', 'warning')),
    code        text        NOT NULL,
    field       text,
    message     text        NOT NULL,
    payload     jsonb,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX record_errors_run_id ON record_errors (run_id);
CREATE INDEX record_errors_job_external_id ON record_errors (job, external_id);

COMMENT ON TABLE record_errors IS
    'One row per problem with one record: a row that failed validation (stage transform), or an error or warning the API returned for a record (stage api). A record with an error here was not accepted by that run.';
COMMENT ON COLUMN record_errors.run_id IS 'The run that met the problem.';
COMMENT ON COLUMN record_errors.stream IS 'customers or relations.';
COMMENT ON COLUMN record_errors.source_key IS 'The key of the source row; identifies the row when external_id is missing or invalid.';
COMMENT ON COLUMN record_errors.external_id IS 'The record''s external_id (for relations, relation_external_id), when known.';
COMMENT ON COLUMN record_errors.stage IS 'transform: refused before sending; api: reported by the Algoreg API.';
COMMENT ON COLUMN record_errors.severity IS 'error: the record was not accepted; warning: the record was accepted with a remark.';
COMMENT ON COLUMN record_errors.code IS 'A short machine-readable reason, e.g. missing_field, or the API''s error code.';
COMMENT ON COLUMN record_errors.field IS 'The input field concerned, when known.';
COMMENT ON COLUMN record_errors.message IS 'A human-readable explanation.';
COMMENT ON COLUMN record_errors.payload IS 'The record as it was (or would have been) sent, when available.';
COMMENT ON COLUMN record_errors.created_at IS 'When the problem was recorded.';
