-- 0007: what was sent, apart from what would have been; a reconcile's
-- disables in the audit trail; a run's warning.
--
-- Like the earlier migrations, names are unqualified: the migrator sets
-- search_path to the state schema inside the migration's transaction.

-- runs.dry_run now marks every run whose sends the API did not keep: a
-- reconcile --dry-run (no call), a verify run (the API validated and
-- persisted nothing) and an offline run (no call). Their sent and added
-- count what would have been sent and added.
UPDATE runs SET dry_run = true WHERE kind IN ('verify', 'offline') AND NOT dry_run;
COMMENT ON COLUMN runs.dry_run IS
    'True for a run whose sends the API did not keep: verify (the API validated and persisted nothing), offline (no call) and reconcile --dry-run (no call). Its sent and added count what would have been sent and added; the views count them as would_send.';

-- runs.warning: what a run that otherwise went well found wrong with the
-- job itself, such as a query whose rows no window can ever hold.
ALTER TABLE runs ADD COLUMN warning text;
COMMENT ON COLUMN runs.warning IS
    'What the run found wrong with the job itself although the run went on, e.g. rows whose cursor_updated_at is never inside a window (a cursor computed as now()); NULL for none. Also logged.';

-- record_history: a reconcile's disabled: true sends are audited like any
-- other send.
ALTER TABLE record_history DROP CONSTRAINT record_history_outcome_check;
ALTER TABLE record_history ADD CONSTRAINT record_history_outcome_check
    CHECK (outcome IN ('added', 'updated', 'error', 'disabled'));
COMMENT ON COLUMN record_history.outcome IS
    'The API''s answer: added (listed in the answer''s added: a new customer), updated (accepted, not listed as added; for relations simply accepted, since the API does not say whether a relation is new), disabled (accepted with disabled: true, sent by a reconcile because the record was deleted in the source), error (refused: the reasons are in record_errors, same run_id and external_id). In a verify run nothing is persisted: added and updated mean would be.';
COMMENT ON COLUMN run_chunks.updated IS
    'Records accepted and not reported as added, disables included.';

-- Views: sent, added and updated count only what the API kept; the
-- would-be sends of dry runs are would_send.
DROP VIEW run_summary;
CREATE VIEW run_summary AS
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
        WHERE e.run_id = r.id AND e.severity = 'error' AND e.resolved_at IS NULL) AS open_errors,
    r.disable_risk_scan,
    coalesce(c.chunks, 0) AS chunks, coalesce(c.calls, 0) AS calls, c.slowest_chunk,
    r.error, r.warning, r.history_pruned_at
FROM runs AS r
LEFT JOIN LATERAL (
    SELECT count(*) AS chunks, sum(calls)::bigint AS calls, max(duration) AS slowest_chunk
    FROM run_chunks WHERE run_id = r.id
) AS c ON true;

COMMENT ON VIEW run_summary IS
    'One row per run: kind, status, window, duration, counts, the records of the run still in error, the risk-scan flag, and its API calls. sent, added and updated count what the API kept; a dry run''s (verify, offline, reconcile --dry-run) are in would_send. Filter on job and started_at.';
COMMENT ON COLUMN run_summary.dry_run IS 'True for a run whose sends the API did not keep: verify, offline, reconcile --dry-run.';
COMMENT ON COLUMN run_summary.duration IS 'finished_at - started_at; NULL while running.';
COMMENT ON COLUMN run_summary.sent IS 'Records the API accepted and kept; 0 for a dry run.';
COMMENT ON COLUMN run_summary.added IS 'Customers the API reported as created; 0 for a dry run.';
COMMENT ON COLUMN run_summary.updated IS 'Records accepted and not reported as added: customers updated, and every relation accepted (sent - added); 0 for a dry run.';
COMMENT ON COLUMN run_summary.would_send IS 'For a dry run, the records it would have sent (a verify run: that the API accepted without keeping); 0 for other runs.';
COMMENT ON COLUMN run_summary.open_errors IS 'Error-severity record errors of this run that no later run has resolved.';
COMMENT ON COLUMN run_summary.chunks IS 'Chunks the run sent to the API (0 after prune, or for an offline run).';
COMMENT ON COLUMN run_summary.calls IS 'HTTP calls those chunks took, retries and splits included.';
COMMENT ON COLUMN run_summary.slowest_chunk IS 'The longest time one chunk took, retries included.';
COMMENT ON COLUMN run_summary.warning IS 'What the run found wrong with the job itself (runs.warning).';
COMMENT ON COLUMN run_summary.history_pruned_at IS 'When the run''s history was pruned; its counts remain.';

DROP VIEW daily_counts;
CREATE VIEW daily_counts AS
SELECT (r.started_at AT TIME ZONE 'UTC')::date AS day, r.job, r.kind, r.dry_run,
    count(*) AS runs,
    sum(r.extracted)::bigint AS extracted,
    sum(r.retried)::bigint AS retried,
    sum(CASE WHEN r.dry_run THEN 0 ELSE r.sent END)::bigint AS sent,
    sum(CASE WHEN r.dry_run THEN 0 ELSE r.added END)::bigint AS added,
    sum(CASE WHEN r.dry_run THEN 0 ELSE r.sent - r.added END)::bigint AS updated,
    sum(CASE WHEN r.dry_run THEN r.sent ELSE 0 END)::bigint AS would_send,
    sum(r.skipped)::bigint AS skipped,
    sum(r.invalid)::bigint AS invalid,
    sum(r.rejected)::bigint AS rejected,
    sum(r.warnings)::bigint AS warnings,
    sum(r.resolved)::bigint AS resolved
FROM runs AS r
GROUP BY 1, 2, 3, 4;

COMMENT ON VIEW daily_counts IS
    'Per UTC day (of the run''s start), job, kind of run and dry_run, the sums of the runs'' counts. sent, added and updated count what the API kept; dry runs (verify, offline, reconcile --dry-run) are rows of their own, their would-be sends in would_send. Read from runs, so it survives prune.';
COMMENT ON COLUMN daily_counts.day IS 'The UTC date the runs started.';
COMMENT ON COLUMN daily_counts.dry_run IS 'True for the dry runs (verify, offline, reconcile --dry-run): nothing they sent was kept.';
COMMENT ON COLUMN daily_counts.sent IS 'Records the API accepted and kept; 0 for dry runs.';
COMMENT ON COLUMN daily_counts.updated IS 'sent - added: customers updated and relations accepted; 0 for dry runs.';
COMMENT ON COLUMN daily_counts.would_send IS 'Records dry runs would have sent; 0 for other runs.';

-- customer_last_sync: a customer that a reconcile disabled is no longer in
-- sent_records (it was deleted in the source); it keeps a row here, from
-- its last disable.
DROP VIEW customer_last_sync;
CREATE VIEW customer_last_sync AS
SELECT s.job, s.external_id,
    s.sent_at AS last_accepted_at, s.run_id AS last_accepted_run_id, s.hash AS last_accepted_hash,
    id.customer_id,
    h.created_at AS last_sent_at, h.run_id AS last_sent_run_id, h.outcome AS last_outcome,
    h.disable_risk_scan AS last_disable_risk_scan,
    (SELECT count(*) FROM record_errors AS e
        WHERE e.job = s.job AND e.stream = s.stream AND e.external_id = s.external_id
            AND e.resolved_at IS NULL AND e.severity = 'error') AS open_errors
FROM (
    SELECT s.job, s.stream, s.external_id, s.sent_at, s.run_id, s.hash
    FROM sent_records AS s
    WHERE s.stream = 'customers'
    UNION ALL
    SELECT d.job, d.stream, d.external_id, d.created_at, d.run_id, d.hash
    FROM (
        SELECT DISTINCT ON (d.job, d.external_id) d.job, d.stream, d.external_id, d.created_at, d.run_id, d.hash
        FROM record_history AS d
        WHERE d.stream = 'customers' AND d.outcome = 'disabled'
        ORDER BY d.job, d.external_id, d.created_at DESC, d.id DESC
    ) AS d
    WHERE NOT EXISTS (SELECT 1 FROM sent_records AS s
        WHERE s.job = d.job AND s.stream = 'customers' AND s.external_id = d.external_id)
) AS s
LEFT JOIN LATERAL (
    SELECT h.created_at, h.run_id, h.outcome, h.disable_risk_scan
    FROM record_history AS h JOIN runs AS r ON r.id = h.run_id
    WHERE h.external_id = s.external_id AND h.job = s.job AND h.stream = s.stream AND NOT r.dry_run
    ORDER BY h.created_at DESC, h.id DESC
    LIMIT 1
) AS h ON true
LEFT JOIN LATERAL (
    SELECT h.customer_id
    FROM record_history AS h JOIN runs AS r ON r.id = h.run_id
    WHERE h.external_id = s.external_id AND h.job = s.job AND h.stream = s.stream AND NOT r.dry_run
        AND h.customer_id IS NOT NULL
    ORDER BY h.created_at DESC, h.id DESC
    LIMIT 1
) AS id ON true;

COMMENT ON VIEW customer_last_sync IS
    'One row per job and customer the Algoreg API has accepted: when it was last accepted and by which run, its Algoreg customer_id, and the latest send (which may since have failed). A customer a reconcile disabled (deleted in the source) keeps its row, from its last disable (last_outcome disabled), until its history is pruned. Dry runs are left out. Filter on external_id (and job).';
COMMENT ON COLUMN customer_last_sync.last_accepted_at IS 'When the API last accepted the customer (sent_records.sent_at, kept after prune); for a customer a reconcile disabled, when the disable was accepted (until its history is pruned).';
COMMENT ON COLUMN customer_last_sync.customer_id IS 'The customer_id the API gave when it created the customer; NULL when that answer was pruned or predates the history.';
COMMENT ON COLUMN customer_last_sync.last_sent_at IS 'When the customer was last sent, whatever the answer; NULL once pruned.';
COMMENT ON COLUMN customer_last_sync.last_outcome IS 'The answer to that send: added, updated, disabled or error.';
COMMENT ON COLUMN customer_last_sync.open_errors IS 'Open error-severity record errors of the customer.';
