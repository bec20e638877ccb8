-- Reconciliation: a full comparison of the source with what the API last
-- accepted, which catches what a watermark cannot see (hard deletes, changes
-- that did not bump updated_at, late commits older than the lookback).

ALTER TABLE runs
    ADD COLUMN new_records     bigint  NOT NULL DEFAULT 0,
    ADD COLUMN changed_records bigint  NOT NULL DEFAULT 0,
    ADD COLUMN missing         bigint  NOT NULL DEFAULT 0,
    ADD COLUMN disabled        bigint  NOT NULL DEFAULT 0,
    ADD COLUMN dry_run         boolean NOT NULL DEFAULT false,
    ADD COLUMN details         jsonb;

COMMENT ON COLUMN runs.new_records IS 'Records sent (or, in a dry run, to send) that the API had never accepted.';
COMMENT ON COLUMN runs.changed_records IS 'Records sent (or to send) whose content changed since the API last accepted them.';
COMMENT ON COLUMN runs.missing IS 'Reconcile: records the API accepted that the source no longer returns (deleted in the source).';
COMMENT ON COLUMN runs.disabled IS 'Reconcile: of the missing records, those sent with disabled = true.';
COMMENT ON COLUMN runs.dry_run IS 'True for a run that only found what it would send, and sent nothing.';
COMMENT ON COLUMN runs.details IS 'What a run found beyond its counts: for a reconcile, examples of each class of record.';

-- The external ids a reconcile saw in the source, per run and stream; the
-- ones of sent_records without a row here are missing from the source. The
-- rows are removed when the reconcile ends. Unlogged: they are scratch data,
-- cheap to write, and lost only with a crash that also ends the run.
CREATE UNLOGGED TABLE reconcile_seen (
    run_id      bigint NOT NULL,
    stream      text   NOT NULL,
    external_id text   NOT NULL,
    PRIMARY KEY (run_id, stream, external_id)
);
COMMENT ON TABLE reconcile_seen IS 'Scratch: external ids seen in the source by a running reconcile; emptied when it ends.';
