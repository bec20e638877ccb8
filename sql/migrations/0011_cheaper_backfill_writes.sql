-- 0011: fewer indexes to write for each record a backfill sends. Every
-- record of a first backfill is claimed (run_claims) and recorded in the
-- history (record_history); each index on those tables is one more B-tree
-- insertion per record, paid by the state database for every record.
--
-- - run_claims_job: no query reads run_claims by job since a run drops
--   only its own claims, by run_id, the primary key's first column.
-- - record_history's primary key on id: no query looks a row up by id.
--   The reports and customer_last_sync order by (created_at, id), and prune
--   deletes a run's rows by their physical location (ctid), read through
--   record_history_run_id. The column and its sequence stay: ids remain
--   unique and increasing, as before.
--
-- Like the earlier migrations, names are unqualified: the migrator sets
-- search_path to the state schema inside the migration's transaction.

DROP INDEX run_claims_job;
ALTER TABLE record_history DROP CONSTRAINT record_history_pkey;

COMMENT ON COLUMN record_history.id IS 'A number for each row, from a sequence: unique, and increasing in the order rows were written. Not indexed: order by it, do not look rows up by it.';
