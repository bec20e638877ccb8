-- The findings of every dry run, a reconcile's --dry-run as well as verify
-- and offline runs, are left out of the open errors: they are in the
-- report of their run, not failures of a delivery.

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
WHERE e.resolved_at IS NULL AND e.severity = 'error' AND NOT r.dry_run
GROUP BY e.job, e.stream, e.stage, e.code;

COMMENT ON VIEW open_errors_by_code IS
    'The open record errors (error severity, not yet resolved by a later run) grouped by job, stream, stage and code: what an operator must look at. Findings of dry runs (verify, offline, reconcile --dry-run) are left out: they are not failed deliveries.';
