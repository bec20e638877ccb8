-- Maps the example source schema to Algoreg customers.
--
-- A job's query selects columns named after the API's fields (see the
-- README's "Writing a job's query") plus two cursor columns:
--   cursor_updated_at  timestamp or timestamptz: when the row last changed
--   cursor_key         the row's unique key, the tie-breaker among rows
--                      sharing one cursor_updated_at
-- The pipeline wraps the query to read one window in (cursor_updated_at,
-- cursor_key) order, page by page: keep both cursor columns plain columns of
-- one table with an index on them, so the planner can use it. Values from
-- other tables come from scalar subqueries, one row per client, which keep
-- the plan a plain index scan of clients under the pipeline's LIMIT.
--
-- account_type is the raw kind ('person', 'company'): the job's
-- account_types maps it to N or F (configs/example.yaml), and any other kind
-- is a record error. Mapping it here with a CASE would do as well.
--
-- Lists are arrays, never joined strings: review_groups and contacts as
-- text[] travel in the API's array form, so a name holding ';' or ',' is
-- not split. variations is a jsonb array of objects keyed by the API's
-- names. A client with none of them gets an empty array, not NULL: empty
-- says "the source has none", so that the pipeline removes from Algoreg
-- what it sent before; NULL would say "unknown, leave it alone".
SELECT
    c.updated_at        AS cursor_updated_at,
    c.id                AS cursor_key,
    c.client_ref        AS external_id,
    c.kind              AS account_type,
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
    c.aliases           AS alias_ids,
    c.registration_no   AS registration_number,
    c.phone             AS phone,
    c.notes             AS comment,
    c.risk_tier         AS kyc_level,
    c.kyc_requested     AS kyc_level_requested,
    (SELECT p.client_ref FROM clients p WHERE p.id = c.parent_client_id)
                        AS parent_external_id,
    ARRAY(SELECT g.group_name FROM client_review_groups g
           WHERE g.client_id = c.id ORDER BY g.group_name)
                        AS review_groups,
    ARRAY(SELECT k.contact FROM client_contacts k
           WHERE k.client_id = c.id ORDER BY k.contact)
                        AS contacts,
    coalesce((SELECT jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                         'first_name',   v.given_name,
                         'last_name',    v.family_name,
                         'company_name', v.legal_name,
                         'trading_name', v.trading_as)) ORDER BY v.id)
                FROM client_name_variations v WHERE v.client_id = c.id),
             '[]')      AS variations,
    c.closed_at IS NOT NULL AS disabled,
    c.attributes        AS fields
FROM clients c
