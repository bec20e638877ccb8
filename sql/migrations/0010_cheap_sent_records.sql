-- 0010: sent_records cheap to write. Every record a run has accepted is
-- written here, once per chunk for all its records (an INSERT ... ON
-- CONFLICT DO UPDATE): what each such row costs the server is paid by every
-- record of every backfill and reconcile.
--
-- - No foreign key to runs: its trigger looked the run up for each record
--   written (over half of the upsert's time in BenchmarkChunkTx), and runs
--   are never deleted (prune keeps them), as record_history, which has none
--   either, already relies on.
-- - No index on run_id: nothing reads sent_records by run; the index
--   served only the foreign key's ON DELETE SET NULL.
-- - fillfactor 90: a record sent again is updated in place (a HOT update,
--   no new index entry) when its page has room; with run_id no longer
--   indexed, only the primary key's columns are, and they never change.
--   Measured: when one record in 20 changes, every update is HOT; a full
--   re-send fills the room after about one record in ten of a page, and
--   the rest are updated as before. Pages written before this migration
--   keep their fill.
--
-- Like the earlier migrations, names are unqualified: the migrator sets
-- search_path to the state schema inside the migration's transaction.

ALTER TABLE sent_records DROP CONSTRAINT sent_records_run_id_fkey;
DROP INDEX sent_records_run_id;
ALTER TABLE sent_records SET (fillfactor = 90);

COMMENT ON COLUMN sent_records.run_id IS 'The run that last sent the record and had it accepted (runs.id).';
