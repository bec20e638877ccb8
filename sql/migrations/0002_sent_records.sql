-- 0002: what the API last accepted per record (skip-unchanged), retry of
-- failed records, resumable backfills, and per-slot claims for the
-- scheduler.
--
-- Like 0001, names are unqualified: the migrator sets search_path to the
-- state schema inside the migration's transaction.

-- sent_records: the last version of each record the API accepted.
CREATE TABLE sent_records (
    job         text        NOT NULL,
    stream      text        NOT NULL,
    external_id text        NOT NULL,
    hash        bytea       NOT NULL CHECK (octet_length(hash) = 16),
    delta       jsonb,
    source_key  text,
    run_id      bigint      REFERENCES runs (id) ON DELETE SET NULL,
    sent_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job, stream, external_id)
);

-- Deleting old runs sets run_id to NULL here; without this index each
-- deleted run would scan the whole table.
CREATE INDEX sent_records_run_id ON sent_records (run_id);

COMMENT ON TABLE sent_records IS
    'For each job, stream and external_id, the last version of the record that the Algoreg API accepted: its content hash, so that an unchanged row is not sent again, and what the next send needs to compute removals. One row per record, overwritten by each accepted send; the history of sends is in runs and record_errors.';
COMMENT ON COLUMN sent_records.job IS 'The job name from the configuration, e.g. customers.';
COMMENT ON COLUMN sent_records.stream IS 'customers or relations.';
COMMENT ON COLUMN sent_records.external_id IS 'The record''s external_id in Algoreg (for relations, relation_external_id).';
COMMENT ON COLUMN sent_records.hash IS 'The 16-byte content hash of the input last accepted; a row whose input hashes the same is skipped as unchanged.';
COMMENT ON COLUMN sent_records.delta IS 'What the next send of this record needs to compute removals, e.g. the review groups, contacts and variations last sent. Written by the pipeline; NULL when nothing is needed.';
COMMENT ON COLUMN sent_records.source_key IS 'The key of the source row the record was last sent from.';
COMMENT ON COLUMN sent_records.run_id IS 'The run that last sent the record and had it accepted; NULL once that run has been deleted.';
COMMENT ON COLUMN sent_records.sent_at IS 'When the record was last accepted.';

-- record_errors: an error is open until a later run has the record accepted
-- (or finds it unchanged since it was last accepted).
ALTER TABLE record_errors
    ADD COLUMN resolved_at     timestamptz,
    ADD COLUMN resolved_run_id bigint REFERENCES runs (id),
    ADD CONSTRAINT record_errors_resolved_by_run_when_resolved
        CHECK (resolved_run_id IS NULL OR resolved_at IS NOT NULL);

-- The open errors, by source key (to retry them) and by external id (to
-- resolve them when the record is accepted).
CREATE INDEX record_errors_open_source_key ON record_errors (job, stream, source_key)
    WHERE resolved_at IS NULL AND severity = 'error';
CREATE INDEX record_errors_open_external_id ON record_errors (job, stream, external_id)
    WHERE resolved_at IS NULL AND severity = 'error';

COMMENT ON COLUMN record_errors.resolved_at IS 'When a later run had the record accepted, or found it unchanged since its last accepted send; NULL while the error is open. Warnings are never resolved.';
COMMENT ON COLUMN record_errors.resolved_run_id IS 'The run that resolved the error.';

-- runs: retry counts, backfill ranges, and a run's own progress.
ALTER TABLE runs
    ADD COLUMN retried              bigint      NOT NULL DEFAULT 0,
    ADD COLUMN resolved             bigint      NOT NULL DEFAULT 0,
    ADD COLUMN backfill_from        timestamptz,
    ADD COLUMN backfill_until       timestamptz,
    ADD COLUMN resume_of            bigint      REFERENCES runs (id),
    ADD COLUMN watermark_updated_at timestamptz,
    ADD COLUMN watermark_key        text,
    ADD CONSTRAINT runs_backfill_range
        CHECK (backfill_from IS NULL OR backfill_until IS NULL OR backfill_from <= backfill_until),
    ADD CONSTRAINT runs_progress_complete
        CHECK ((watermark_updated_at IS NULL) = (watermark_key IS NULL));

CREATE INDEX runs_resume_of ON runs (resume_of) WHERE resume_of IS NOT NULL;

COMMENT ON COLUMN runs.retried IS 'Source rows re-read because an earlier run recorded an open error for them.';
COMMENT ON COLUMN runs.resolved IS 'Open record errors of earlier runs that this run resolved (record accepted, or unchanged since last accepted).';
COMMENT ON COLUMN runs.backfill_from IS 'For a backfill, the source updated_at from which rows are re-sent (NULL: from the beginning).';
COMMENT ON COLUMN runs.backfill_until IS 'For a backfill, the source updated_at up to which rows are re-sent.';
COMMENT ON COLUMN runs.resume_of IS 'For a backfill that resumes an interrupted or failed one, the run it resumes.';
COMMENT ON COLUMN runs.watermark_updated_at IS 'The run''s own progress: the source updated_at up to which it has settled every row. A backfill does not move the job''s watermark; it records its progress here so that it can be resumed.';
COMMENT ON COLUMN runs.watermark_key IS 'With watermark_updated_at, the source key of the last row settled by the run.';

-- schedule_slots: which process claimed each scheduled slot of a job, so
-- that one slot runs once however many instances are scheduling.
CREATE TABLE schedule_slots (
    job        text        NOT NULL,
    slot       timestamptz NOT NULL,
    run_id     bigint      REFERENCES runs (id),
    claimed_by text,
    claimed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job, slot)
);

COMMENT ON TABLE schedule_slots IS
    'One row per scheduled slot of a job that a process claimed. The primary key makes a slot claimable once, whatever the clocks and number of instances.';
COMMENT ON COLUMN schedule_slots.slot IS 'The instant the schedule fired for, as computed from the job''s schedule (not the clock of the claiming process).';
COMMENT ON COLUMN schedule_slots.run_id IS 'The run started for the slot, once started; NULL if the claiming process has not started it (yet).';
COMMENT ON COLUMN schedule_slots.claimed_by IS 'Who claimed the slot: host name and process id of the instance.';
COMMENT ON COLUMN schedule_slots.claimed_at IS 'When the slot was claimed.';
