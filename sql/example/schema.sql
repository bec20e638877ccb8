-- The example source database: a small core-banking schema whose names are
-- its own, not the Algoreg API's. The demo, the tests and the benchmarks use
-- it; sql/example/customers.sql and relations.sql map it to the API.

CREATE TABLE clients (
    id               bigserial PRIMARY KEY,
    client_ref       text NOT NULL UNIQUE,        -- the customer number shown to staff
    kind             text NOT NULL,               -- 'person' or 'company' (older rows hold other values)
    given_name       text,
    middle_names     text,
    family_name      text,
    legal_name       text,
    trading_as       text,
    birth_date       date,
    residence_country text,                        -- ISO 3166-1 code, as typed by staff
    registration_no  text,
    phone            text,
    notes            text,
    risk_tier        integer,
    attributes       jsonb,                        -- free-form, sent as custom fields
    aliases          text[],                       -- other customer numbers, e.g. from a migrated system
    kyc_requested    integer,                      -- the KYC level a review asked for
    parent_client_id bigint REFERENCES clients (id), -- e.g. the parent company of a subsidiary
    closed_at        timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- The extraction reads in (updated_at, id) order: this index serves it.
CREATE INDEX clients_updated_at_id ON clients (updated_at, id);
-- Foreign keys are indexed, so that deleting a client does not read every
-- client (or link) to check that none refers to it.
CREATE INDEX clients_parent_client_id ON clients (parent_client_id) WHERE parent_client_id IS NOT NULL;

CREATE TABLE client_nationalities (
    client_id bigint NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    country   text   NOT NULL,
    PRIMARY KEY (client_id, country)
);

-- The compliance review groups a client belongs to. A name may hold ';' or
-- ',': customers.sql sends them as an array, never as one joined string.
CREATE TABLE client_review_groups (
    client_id  bigint NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    group_name text   NOT NULL,
    PRIMARY KEY (client_id, group_name)
);

-- The staff a client deals with, such as relationship managers.
CREATE TABLE client_contacts (
    client_id bigint NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    contact   text   NOT NULL,
    PRIMARY KEY (client_id, contact)
);

-- Other names a client is known by: a maiden name, a former legal name, a
-- transliteration.
CREATE TABLE client_name_variations (
    id          bigserial PRIMARY KEY,
    client_id   bigint NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    given_name  text,
    family_name text,
    legal_name  text,
    trading_as  text
);

CREATE INDEX client_name_variations_client_id ON client_name_variations (client_id);

-- Who stands behind a company: its directors, shareholders and ultimate
-- beneficial owners. A link ends by setting ended_on; it is kept.
CREATE TABLE client_links (
    id         bigserial PRIMARY KEY,
    company_id bigint NOT NULL REFERENCES clients (id),
    party_id   bigint NOT NULL REFERENCES clients (id),
    link_kind  text   NOT NULL,                  -- 'director', 'shareholder' or 'ubo'
    share_pct  numeric(5,2),                     -- for shareholders
    started_on date,
    ended_on   date,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- relations.sql reads in (updated_at, id) order: this index serves it.
CREATE INDEX client_links_updated_at_id ON client_links (updated_at, id);
CREATE INDEX client_links_company_id ON client_links (company_id);
CREATE INDEX client_links_party_id ON client_links (party_id);

-- updated_at follows every change of a client, including changes of its
-- child rows. An UPDATE that sets updated_at itself keeps the value it sets.
CREATE FUNCTION clients_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER clients_touch BEFORE UPDATE ON clients
    FOR EACH ROW EXECUTE FUNCTION clients_touch();

-- client_links keeps its own updated_at the same way.
CREATE TRIGGER client_links_touch BEFORE UPDATE ON client_links
    FOR EACH ROW EXECUTE FUNCTION clients_touch();

CREATE FUNCTION client_children_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE clients SET updated_at = now()
     WHERE id = CASE WHEN TG_OP = 'DELETE' THEN OLD.client_id ELSE NEW.client_id END;
    IF TG_OP = 'UPDATE' AND OLD.client_id <> NEW.client_id THEN
        UPDATE clients SET updated_at = now() WHERE id = OLD.client_id;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER client_nationalities_touch AFTER INSERT OR UPDATE OR DELETE ON client_nationalities
    FOR EACH ROW EXECUTE FUNCTION client_children_touch();

CREATE TRIGGER client_review_groups_touch AFTER INSERT OR UPDATE OR DELETE ON client_review_groups
    FOR EACH ROW EXECUTE FUNCTION client_children_touch();

CREATE TRIGGER client_contacts_touch AFTER INSERT OR UPDATE OR DELETE ON client_contacts
    FOR EACH ROW EXECUTE FUNCTION client_children_touch();

CREATE TRIGGER client_name_variations_touch AFTER INSERT OR UPDATE OR DELETE ON client_name_variations
    FOR EACH ROW EXECUTE FUNCTION client_children_touch();
