-- The example source database: a small core-banking schema whose names are
-- its own, not the Algoreg API's. The demo, the tests and the benchmarks use
-- it; sql/example/customers.sql maps it to the API.

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
    closed_at        timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- The extraction reads in (updated_at, id) order: this index serves it.
CREATE INDEX clients_updated_at_id ON clients (updated_at, id);

CREATE TABLE client_nationalities (
    client_id bigint NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    country   text   NOT NULL,
    PRIMARY KEY (client_id, country)
);

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
