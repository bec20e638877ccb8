-- 0004: the audit trail. What each run sent, record by record, and what the
-- API answered (record_history); how long each API call took (run_chunks);
-- when a run's history was pruned; and views for BI tools and auditors.
--
-- Like the earlier migrations, names are unqualified: the migrator sets
-- search_path to the state schema inside the migration's transaction.

-- record_history: one row per record sent to the API, per run.
--
-- Rows skipped as unchanged are not recorded: they were not sent, and a row
-- per skip would grow this table by the size of the source every night.
-- Rows refused before sending (transform, dependency) are in record_errors.
-- There is no foreign key to runs: the pipeline writes the run before its
-- records, runs are never deleted (prune keeps them), and a key checked
-- for every row would cost each chunk a trigger per record.
CREATE TABLE record_history (
    id                 bigserial   PRIMARY KEY,
    run_id             bigint      NOT NULL,
    job                text        NOT NULL,
    stream             text        NOT NULL,
    external_id        text        NOT NULL,
    source_key         text,
    parent_external_id text,
    child_external_id  text,
    hash               bytea       NOT NULL,
    outcome            text        NOT NULL CHECK (outcome IN ('added', 'updated', 'error')),
    warnings           integer     NOT NULL DEFAULT 0 CHECK (warnings >= 0),
    customer_id        text,
    disable_risk_scan  boolean     NOT NULL,
    payload            jsonb,
    created_at         timestamptz NOT NULL DEFAULT now()
);

-- `algoreg-etl report customer X` and the customer_last_sync view.
CREATE INDEX record_history_external_id ON record_history (external_id, created_at);
-- `report run ID` and prune, which deletes a run's rows in batches.
CREATE INDEX record_history_run_id ON record_history (run_id);
-- The relations of a customer, for `report customer X`.
CREATE INDEX record_history_parent ON record_history (parent_external_id) WHERE parent_external_id IS NOT NULL;
CREATE INDEX record_history_child ON record_history (child_external_id) WHERE child_external_id IS NOT NULL;

COMMENT ON TABLE record_history IS
    'One row per record a run sent to the Algoreg API and per run: the content hash of what was sent, the API''s answer for the record, and the disable_risk_scan flag of the call. Rows skipped as unchanged are not sent and not recorded; rows refused before sending are in record_errors. Kept history_days days (algoreg-etl prune).';
COMMENT ON COLUMN record_history.run_id IS 'The run that sent the record (runs.id).';
COMMENT ON COLUMN record_history.job IS 'The job name from the configuration.';
COMMENT ON COLUMN record_history.stream IS 'customers or relations.';
COMMENT ON COLUMN record_history.external_id IS 'The record''s external_id (for relations, relation_external_id).';
COMMENT ON COLUMN record_history.source_key IS 'The key (cursor_key) of the source row the record was made from.';
COMMENT ON COLUMN record_history.parent_external_id IS 'For a relation, its parent_customer_external_id; NULL for customers.';
COMMENT ON COLUMN record_history.child_external_id IS 'For a relation, its child_customer_external_id; NULL for customers.';
COMMENT ON COLUMN record_history.hash IS 'The 16-byte content hash of the record as sent (sent_records.hash once accepted).';
COMMENT ON COLUMN record_history.outcome IS 'The API''s answer: added (listed in the answer''s added: a new customer), updated (accepted, not listed as added; for relations simply accepted, since the API does not say whether a relation is new), error (refused: the reasons are in record_errors, same run_id and external_id). In a verify run nothing is persisted: added and updated mean would be.';
COMMENT ON COLUMN record_history.warnings IS 'How many warnings the API returned for the record (their text is in record_errors, severity warning).';
COMMENT ON COLUMN record_history.customer_id IS 'The Algoreg customer_id the API gave, when the record was added; NULL otherwise (the API gives it only on creation).';
COMMENT ON COLUMN record_history.disable_risk_scan IS 'The disable_risk_scan flag of the call that carried the record.';
COMMENT ON COLUMN record_history.payload IS 'The record exactly as sent, only when the job sets store_payloads (it holds personal data); NULL otherwise.';
COMMENT ON COLUMN record_history.created_at IS 'When the API''s answer was recorded.';

-- run_chunks: one row per chunk a run sent, with its timing.
CREATE TABLE run_chunks (
    id                bigserial   PRIMARY KEY,
    run_id            bigint      NOT NULL,
    job               text        NOT NULL,
    stream            text        NOT NULL,
    retry             boolean     NOT NULL,
    chunk             integer     NOT NULL,
    records           integer     NOT NULL,
    added             integer     NOT NULL,
    updated           integer     NOT NULL,
    errors            integer     NOT NULL,
    warnings          integer     NOT NULL,
    calls             integer     NOT NULL,
    retries           integer     NOT NULL,
    disable_risk_scan boolean     NOT NULL,
    started_at        timestamptz NOT NULL,
    duration          interval    NOT NULL
);

CREATE INDEX run_chunks_run_id ON run_chunks (run_id);

COMMENT ON TABLE run_chunks IS
    'One row per chunk of records a run sent to the API: how many records, what the API answered, how many HTTP calls it took (retries and splits included) and how long. Pruned with record_history.';
COMMENT ON COLUMN run_chunks.retry IS 'true for the chunks of the run''s retry of open record errors, false for the chunks of its window.';
COMMENT ON COLUMN run_chunks.chunk IS 'The chunk''s number, from 0, in its stream and phase (window or retry).';
COMMENT ON COLUMN run_chunks.records IS 'Records sent in the chunk (added + updated + errors).';
COMMENT ON COLUMN run_chunks.calls IS 'HTTP calls the chunk took, retries and split calls included.';
COMMENT ON COLUMN run_chunks.retries IS 'Calls that repeated one that failed.';
COMMENT ON COLUMN run_chunks.started_at IS 'When the first call of the chunk started.';
COMMENT ON COLUMN run_chunks.duration IS 'From the first call''s start to the last answer, waits between retries included.';

ALTER TABLE runs ADD COLUMN history_pruned_at timestamptz;
COMMENT ON COLUMN runs.history_pruned_at IS 'When algoreg-etl prune deleted the run''s record history, chunk timings, and resolved errors and warnings; NULL while they are kept. The run row itself is never deleted.';

-- Views for BI tools and auditors.

CREATE VIEW run_summary AS
SELECT r.id AS run_id, r.job, r.kind, r.status, r.started_at, r.finished_at,
    r.finished_at - r.started_at AS duration,
    r.window_from, r.window_to, r.backfill_from, r.backfill_until,
    r.extracted, r.retried, r.sent, r.added, r.sent - r.added AS updated,
    r.skipped, r.invalid, r.rejected, r.warnings, r.resolved,
    (SELECT count(*) FROM record_errors AS e
        WHERE e.run_id = r.id AND e.severity = 'error' AND e.resolved_at IS NULL) AS open_errors,
    r.disable_risk_scan,
    coalesce(c.chunks, 0) AS chunks, coalesce(c.calls, 0) AS calls, c.slowest_chunk,
    r.error, r.history_pruned_at
FROM runs AS r
LEFT JOIN LATERAL (
    SELECT count(*) AS chunks, sum(calls)::bigint AS calls, max(duration) AS slowest_chunk
    FROM run_chunks WHERE run_id = r.id
) AS c ON true;

COMMENT ON VIEW run_summary IS
    'One row per run: kind, status, window, duration, counts, the records of the run still in error, the risk-scan flag, and its API calls. Filter on job and started_at.';
COMMENT ON COLUMN run_summary.duration IS 'finished_at - started_at; NULL while running.';
COMMENT ON COLUMN run_summary.updated IS 'Records accepted and not reported as added: customers updated, and every relation accepted (sent - added).';
COMMENT ON COLUMN run_summary.open_errors IS 'Error-severity record errors of this run that no later run has resolved.';
COMMENT ON COLUMN run_summary.chunks IS 'Chunks the run sent to the API (0 after prune, or for an offline run).';
COMMENT ON COLUMN run_summary.calls IS 'HTTP calls those chunks took, retries and splits included.';
COMMENT ON COLUMN run_summary.slowest_chunk IS 'The longest time one chunk took, retries included.';
COMMENT ON COLUMN run_summary.history_pruned_at IS 'When the run''s history was pruned; its counts remain.';

CREATE VIEW open_errors_by_code AS
SELECT e.job, e.stream, e.stage, e.code,
    count(DISTINCT coalesce(e.source_key, e.external_id)) AS records,
    count(*) AS errors,
    count(DISTINCT e.run_id) AS runs,
    min(e.created_at) AS first_seen,
    max(e.created_at) AS last_seen,
    min(e.external_id) AS example_external_id
FROM record_errors AS e
JOIN runs AS r ON r.id = e.run_id
WHERE e.resolved_at IS NULL AND e.severity = 'error' AND r.kind NOT IN ('verify', 'offline')
GROUP BY e.job, e.stream, e.stage, e.code;

COMMENT ON VIEW open_errors_by_code IS
    'The open record errors (error severity, not yet resolved by a later run) grouped by job, stream, stage and code: what an operator must look at. Findings of verify and offline runs are left out: they are not failed deliveries.';
COMMENT ON COLUMN open_errors_by_code.records IS 'Distinct source rows (or external ids when the key is unknown) with such an open error.';
COMMENT ON COLUMN open_errors_by_code.errors IS 'Open error rows: a record that failed in several runs, or for several reasons, counts several times.';
COMMENT ON COLUMN open_errors_by_code.runs IS 'Distinct runs that recorded them.';
COMMENT ON COLUMN open_errors_by_code.example_external_id IS 'One external_id with this error, to start looking.';

CREATE VIEW customer_last_sync AS
SELECT s.job, s.external_id,
    s.sent_at AS last_accepted_at, s.run_id AS last_accepted_run_id, s.hash AS last_accepted_hash,
    id.customer_id,
    h.created_at AS last_sent_at, h.run_id AS last_sent_run_id, h.outcome AS last_outcome,
    h.disable_risk_scan AS last_disable_risk_scan,
    (SELECT count(*) FROM record_errors AS e
        WHERE e.job = s.job AND e.stream = s.stream AND e.external_id = s.external_id
            AND e.resolved_at IS NULL AND e.severity = 'error') AS open_errors
FROM sent_records AS s
LEFT JOIN LATERAL (
    SELECT h.created_at, h.run_id, h.outcome, h.disable_risk_scan
    FROM record_history AS h JOIN runs AS r ON r.id = h.run_id
    WHERE h.external_id = s.external_id AND h.job = s.job AND h.stream = s.stream AND r.kind <> 'verify'
    ORDER BY h.created_at DESC, h.id DESC
    LIMIT 1
) AS h ON true
LEFT JOIN LATERAL (
    SELECT h.customer_id
    FROM record_history AS h JOIN runs AS r ON r.id = h.run_id
    WHERE h.external_id = s.external_id AND h.job = s.job AND h.stream = s.stream AND r.kind <> 'verify'
        AND h.customer_id IS NOT NULL
    ORDER BY h.created_at DESC, h.id DESC
    LIMIT 1
) AS id ON true
WHERE s.stream = 'customers';

COMMENT ON VIEW customer_last_sync IS
    'One row per job and customer the Algoreg API has accepted: when it was last accepted and by which run, its Algoreg customer_id, and the latest send (which may since have failed). Verify runs are left out. Filter on external_id (and job).';
COMMENT ON COLUMN customer_last_sync.last_accepted_at IS 'When the API last accepted the customer (sent_records.sent_at); kept after prune.';
COMMENT ON COLUMN customer_last_sync.customer_id IS 'The customer_id the API gave when it created the customer; NULL when that answer was pruned or predates the history.';
COMMENT ON COLUMN customer_last_sync.last_sent_at IS 'When the customer was last sent, whatever the answer; NULL once pruned.';
COMMENT ON COLUMN customer_last_sync.last_outcome IS 'The answer to that send: added, updated or error.';
COMMENT ON COLUMN customer_last_sync.open_errors IS 'Open error-severity record errors of the customer.';

CREATE VIEW daily_counts AS
SELECT (r.started_at AT TIME ZONE 'UTC')::date AS day, r.job, r.kind,
    count(*) AS runs,
    sum(r.extracted)::bigint AS extracted,
    sum(r.retried)::bigint AS retried,
    sum(r.sent)::bigint AS sent,
    sum(r.added)::bigint AS added,
    sum(r.sent - r.added)::bigint AS updated,
    sum(r.skipped)::bigint AS skipped,
    sum(r.invalid)::bigint AS invalid,
    sum(r.rejected)::bigint AS rejected,
    sum(r.warnings)::bigint AS warnings,
    sum(r.resolved)::bigint AS resolved
FROM runs AS r
GROUP BY 1, 2, 3;

COMMENT ON VIEW daily_counts IS
    'Per UTC day (of the run''s start), job and kind of run, the sums of the runs'' counts. Read from runs, so it survives prune. Verify and offline runs send nothing that is kept: leave them out for volumes.';
COMMENT ON COLUMN daily_counts.day IS 'The UTC date the runs started.';
COMMENT ON COLUMN daily_counts.sent IS 'Records accepted by the API.';
COMMENT ON COLUMN daily_counts.updated IS 'sent - added: customers updated and relations accepted.';
