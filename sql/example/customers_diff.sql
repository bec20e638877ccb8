-- The example customers query for a job with incremental: diff, the way to
-- send a table that has no trustworthy updated_at (none at all, or one that
-- bulk fixes do not bump). It is customers.sql without cursor_updated_at
-- (a test checks that it stays so); README: "Tables without a trustworthy
-- updated_at".
--
-- It selects one cursor column:
--   cursor_key         a unique key of the rows; each run reads the query
--                      whole in cursor_key order, page by page
--                      (... WHERE cursor_key > $last ORDER BY cursor_key
--                      LIMIT $page_size)
-- Keep cursor_key a plain column of one table with an index on it (here
-- the primary key of clients), so that each page reads the index in order.
-- There is no cursor_updated_at: a diff job that selects one is an error.
-- Every run compares each row's record with what the API last accepted and
-- sends only the new and changed ones, and finds the rows deleted since.
SELECT
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
