-- Record errors of two more stages: a row retried for an open error that the
-- source no longer returns (extract), and a record held back because a
-- customer it names has not been accepted yet (dependency).
ALTER TABLE record_errors DROP CONSTRAINT record_errors_stage_check;
ALTER TABLE record_errors ADD CONSTRAINT record_errors_stage_check
    CHECK (stage IN ('extract', 'transform', 'dependency', 'api'));
COMMENT ON COLUMN record_errors.stage IS
    'extract: a row retried for an open error that the query no longer returns; transform: refused before sending; dependency: held back until a customer it names is accepted (retried by later runs); api: reported by the Algoreg API.';
