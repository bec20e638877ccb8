-- Maps the example source schema to Algoreg customers.
--
-- A job's query selects columns named after the API's fields (see the
-- README's "Writing a job's query") plus two cursor columns:
--   cursor_updated_at  timestamp or timestamptz: when the row last changed
--   cursor_key         the row's unique key, the tie-breaker among rows
--                      sharing one cursor_updated_at
-- The pipeline wraps the query to read one window in (cursor_updated_at,
-- cursor_key) order, page by page: keep both cursor columns plain columns of
-- one table with an index on them, so the planner can use it.
SELECT
    c.updated_at        AS cursor_updated_at,
    c.id                AS cursor_key,
    c.client_ref        AS external_id,
    CASE c.kind WHEN 'person' THEN 'N' WHEN 'company' THEN 'F' ELSE c.kind END
                        AS account_type,
    c.given_name        AS first_name,
    c.middle_names      AS middle_name,
    c.family_name       AS last_name,
    c.legal_name        AS company_name,
    c.trading_as        AS trading_name,
    c.birth_date        AS date_of_birth,
    ARRAY(SELECT n.country FROM client_nationalities n
           WHERE n.client_id = c.id ORDER BY n.country)
                        AS nationality_codes,
    CASE WHEN c.residence_country IS NOT NULL THEN ARRAY[c.residence_country] END
                        AS domicile_codes,
    c.registration_no   AS registration_number,
    c.phone             AS phone,
    c.notes             AS comment,
    c.risk_tier         AS kyc_level,
    c.closed_at IS NOT NULL AS disabled,
    c.attributes        AS fields
FROM clients c
