-- Maps the example source schema's client_links to Algoreg relations: who
-- stands behind a company.
--
-- Like customers.sql, the query selects columns named after the API's
-- fields plus two cursor columns:
--   cursor_updated_at  timestamp or timestamptz: when the row last changed
--   cursor_key         the row's unique key, the tie-breaker among rows
--                      sharing one cursor_updated_at
-- The pipeline wraps the query to read one window in (cursor_updated_at,
-- cursor_key) order, page by page: keep both cursor columns plain columns of
-- one table with an index on them (client_links_updated_at_id), so the
-- planner can use it. The customers' references are scalar subqueries, not
-- joins: a join lets the planner hash the whole clients table for every
-- page, where a subquery reads one client by its key per link.
--
-- The company is the relation's source entity (parent_customer_external_id)
-- and the director, shareholder or owner its target
-- (child_customer_external_id). relation_type is the link's own kind
-- ('director', 'shareholder', 'ubo'): the job's relation_types maps it to
-- the tenant's integer (configs/example.yaml). A link is never deleted: it
-- ends by setting ended_on, and is sent disabled from that day on.
--
-- A link that ends on a future day is sent enabled, and nothing changes in
-- the row on that day: the next change of the link, or a backfill, sends it
-- disabled. Schedule a touch of such links (UPDATE client_links SET
-- updated_at = now() WHERE ended_on = current_date) if that matters.
SELECT
    l.updated_at        AS cursor_updated_at,
    l.id                AS cursor_key,
    'L-' || l.id        AS relation_external_id,
    (SELECT co.client_ref FROM clients co WHERE co.id = l.company_id)
                        AS parent_customer_external_id,
    (SELECT pa.client_ref FROM clients pa WHERE pa.id = l.party_id)
                        AS child_customer_external_id,
    l.link_kind         AS relation_type,
    l.ended_on IS NOT NULL AND l.ended_on <= current_date
                        AS disabled,
    jsonb_strip_nulls(jsonb_build_object(
        'share_pct',  l.share_pct,
        'started_on', l.started_on))
                        AS fields
FROM client_links l
