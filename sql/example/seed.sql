-- Seed data of the example source database (schema.sql): 50 clients of a
-- small bank, with the awkward rows real data has. The demo, the tests and
-- the benchmarks load it into an empty database, with psql
-- (psql -1 -v ON_ERROR_STOP=1 -f seed.sql) or as one Exec through lib/pq.
--
-- Every timestamp is written out, so the seed gives the same rows every
-- time. Eighteen clients share updated_at 2025-03-01 09:00:00+00, as after a
-- bulk re-segmentation, and several pairs share other instants.
--
-- The rows that customers.sql maps to values the API must not receive;
-- each is marked "INVALID" where it is inserted:
--   C-0013  birth_date in the future (2999-01-01)
--   C-0021  kind 'trust': account_type is neither F nor N
--   C-0034  nationality 'ZZ': shaped like a code, but not an assigned one
--   C-0038  nationality 'Yugoslavia': a former country that split, which
--           no code stands for (a job's countries may map it)
--   C-0045  residence_country 'U S': not a code
-- C-0021 is refused. The four others are invalid in an optional field: under
-- the default on_invalid_field (drop) they are sent without it, with a
-- warning; under reject they are refused too.
-- Every other row is valid, awkward as it may be: names in many scripts, a
-- decomposed (NFD) 'é', blanks around and inside names, lower-case and
-- padded country codes, XK (Kosovo), a country by name, an empty middle
-- name, NULLs.
--
-- Beyond the clients' own columns, several clients have aliases, a
-- requested KYC level, review groups (two of whose names hold ';' and ','),
-- contacts and name variations; Lötschberg Bau AG (C-0035) is a subsidiary
-- of ACME Holdings (C-0027). client_links gives Helvetia Logistik AG
-- (C-0008) a director, a shareholder with 30.00% and an ultimate beneficial
-- owner, plus a director whose link ended; and ACME owns all of Lötschberg.

INSERT INTO clients (client_ref, kind, given_name, middle_names, family_name,
                     legal_name, trading_as, birth_date, residence_country,
                     registration_no, phone, notes, risk_tier, attributes,
                     closed_at, created_at, updated_at) VALUES
('C-0001', 'person', 'Anna', NULL, 'Meier', NULL, NULL, '1980-04-12', 'CH',
    NULL, '+41 44 123 45 67', NULL, 1, '{"segment":"retail","branch":"ZH-01"}',
    NULL, '2019-05-02 08:15:00+00', '2025-03-01 09:00:00+00'),
('C-0002', 'person', 'Zoë', NULL, 'Ångström', NULL, NULL, '1992-11-30', 'SE',
    NULL, '+46 8 555 123 45', NULL, 1, '{"segment":"retail","branch":"ZH-01"}',
    NULL, '2020-01-15 10:00:00+00', '2024-11-05 14:22:03+00'),
('C-0003', 'person', 'José', NULL, 'Müller-Lüdenscheid', NULL, NULL, '1975-02-28', 'DE',
    NULL, NULL, 'Prefers correspondence in German', 2, '{"segment":"private","branch":"ZH-02"}',
    NULL, '2018-03-09 09:30:00+00', '2025-03-01 09:00:00+00'),
('C-0004', 'person', 'Дмитрий', 'Сергеевич', 'Иванов', NULL, NULL, '1968-07-07', 'CY',
    NULL, '+357 22 123456', NULL, 3, '{"segment":"private","branch":"GE-01","pep":false}',
    NULL, '2017-10-01 12:00:00+00', '2025-01-20 07:30:00+00'),
('C-0005', 'person', '小龍', NULL, '李', NULL, NULL, '1985-06-15', 'HK',
    NULL, NULL, NULL, 1, NULL,
    NULL, '2021-02-03 04:05:06+00', '2025-03-01 09:00:00+00'),
-- Blanks before, after and inside the names, and a padded lower-case code.
('C-0006', 'person', '  Anna  Maria ', NULL, ' Keller  ', NULL, NULL, '1990-01-01', ' ch ',
    NULL, '044/123 45 67', NULL, 0, '{"segment":"retail","branch":"ZH-01"}',
    NULL, '2022-06-01 08:00:00+00', '2024-12-31 23:59:59.999999+00'),
-- Renée with a decomposed é: 'e' followed by U+0301 COMBINING ACUTE ACCENT.
('C-0007', 'person', U&'Rene\0301e', NULL, 'Dubois', NULL, NULL, '1988-09-09', 'FR',
    NULL, NULL, NULL, 1, NULL,
    NULL, '2016-04-04 14:00:00+00', '2025-03-01 09:00:00+00'),
('C-0008', 'company', NULL, NULL, NULL, 'Helvetia Logistik AG', 'HeLo', NULL, 'CH',
    'CHE-123.456.789', '+41 58 000 00 00', NULL, 2, '{"segment":"corporate","sector":"logistics","employees":1200}',
    NULL, '2015-01-05 09:00:00+00', '2025-03-01 09:00:00+00'),
('C-0009', 'company', NULL, NULL, NULL, 'Café ☕ Zürich GmbH', 'Café Zürich', NULL, 'CH',
    'CHE-987.654.321', NULL, 'Closed after the owner retired', 1, '{"segment":"business","branch":"ZH-03"}',
    '2024-06-30 17:00:00+00', '2019-07-01 10:00:00+00', '2024-06-30 17:00:00+00'),
('C-0010', 'person', 'Seán', NULL, 'O''Brien', NULL, NULL, '1979-03-17', 'IE',
    NULL, NULL, E'Called on 2024-02-01.\nAsked for statements by post.', 1, NULL,
    NULL, '2020-08-08 08:08:08+00', '2024-02-01 11:11:11+00'),
('C-0011', 'person', 'Νίκος', NULL, 'Παπαδόπουλος', NULL, NULL, '1960-12-25', 'GR',
    NULL, NULL, NULL, 0, NULL,
    NULL, '2014-11-11 11:00:00+00', '2025-03-01 09:00:00+00'),
('C-0012', 'person', 'محمد', NULL, 'العلي', NULL, NULL, '1983-05-05', 'AE',
    NULL, '+971 4 123 4567', NULL, 2, '{"segment":"private","branch":"GE-01"}',
    NULL, '2021-09-19 06:30:00+00', '2025-02-14 17:45:12.345678+00'),
-- INVALID: birth_date in the future (a typo for 1999).
('C-0013', 'person', 'Noah', NULL, 'Brunner', NULL, NULL, '2999-01-01', 'CH',
    NULL, NULL, NULL, 1, '{"segment":"retail","branch":"ZH-01"}',
    NULL, '2025-02-14 17:40:00+00', '2025-02-14 17:45:12.345678+00'),
('C-0014', 'person', 'İlkay', NULL, 'Gündoğan', NULL, NULL, '1990-10-24', 'TR',
    NULL, NULL, NULL, 1, NULL,
    NULL, '2019-12-12 12:12:12+00', '2025-03-01 09:00:00+00'),
('C-0015', 'person', 'Khai', 'Thị Minh', 'Nguyễn', NULL, NULL, '1995-08-19', 'VN',
    NULL, NULL, NULL, 1, NULL,
    NULL, '2023-01-09 09:00:00+00', '2024-09-09 09:09:09+00'),
-- No given name: only a family name is known.
('C-0016', 'person', NULL, NULL, 'Ciccone', NULL, NULL, '1958-08-16', 'US',
    NULL, NULL, NULL, NULL, NULL,
    NULL, '2013-03-03 03:03:03+00', '2024-03-03 03:03:03+00'),
('C-0017', 'person', 'Maximilian', 'Johann Georg', 'von und zu Liechtenstein', NULL, NULL, '1970-02-02', 'LI',
    NULL, NULL, NULL, 3, '{"segment":"private","branch":"VD-01","pep":true}',
    NULL, '2012-02-02 10:00:00+00', '2025-03-01 09:00:00+00'),
('C-0018', 'company', NULL, NULL, NULL, 'Müller & Söhne KG', NULL, NULL, 'DE',
    'HRA 12345', '+49 30 1234567', NULL, 1, '{"segment":"business","branch":"BS-01"}',
    NULL, '2018-05-05 09:00:00+00', '2025-01-20 07:30:00+00'),
-- XK (Kosovo) is user-assigned, not ISO 3166-1, yet what banks use; and a
-- timestamp written with a +02 offset.
('C-0019', 'person', 'Ana', NULL, 'Kovačević', NULL, NULL, '1987-04-04', 'XK',
    NULL, NULL, NULL, 2, NULL,
    NULL, '2022-07-15 12:00:00+02', '2024-07-15 12:00:00+02'),
('C-0020', 'person', 'Björk', NULL, 'Guðmundsdóttir', NULL, NULL, '1965-11-21', 'IS',
    NULL, NULL, NULL, 1, NULL,
    NULL, '2010-10-10 10:10:10+00', '2025-03-01 09:00:00+00'),
-- INVALID: kind 'trust', from before the bank only had persons and
-- companies; customers.sql passes it through as account_type 'trust'.
('C-0021', 'trust', NULL, NULL, NULL, 'The Weber Family Trust', NULL, NULL, 'GB',
    'TR-2011-0042', NULL, 'Migrated from the old core system', 2, NULL,
    NULL, '2011-01-01 00:00:00+00', '2024-05-05 05:05:05+00'),
-- An empty middle name rather than NULL.
('C-0022', 'person', 'Ólafur', '', 'Arnalds', NULL, NULL, '1986-11-03', 'IS',
    NULL, NULL, NULL, 1, NULL,
    NULL, '2020-03-03 13:00:00+00', '2025-03-01 09:00:00+00'),
('C-0023', 'company', NULL, NULL, NULL, 'Nordic Seafood ASA', 'NorSea', NULL, 'NO',
    '923 456 789', NULL, NULL, 2, '{}',
    NULL, '2017-08-01 08:00:00+00', '2024-08-01 08:00:00+00'),
-- A lower-case country code.
('C-0024', 'person', 'Priya', NULL, 'Raghunathan', NULL, NULL, '1993-03-08', 'in',
    NULL, '+91 22 5555 0101', NULL, 1, NULL,
    NULL, '2023-08-01 08:00:00+00', '2024-08-01 08:00:00+00'),
('C-0025', 'person', 'Hans', 'Peter', 'Zimmermann', NULL, NULL, '1931-01-31', 'CH',
    NULL, NULL, 'Deceased; closed by the estate''s executor', 0, NULL,
    '2023-12-01 10:00:00+00', '2001-01-01 09:00:00+00', '2023-12-01 10:00:00+00'),
-- No nationality on record.
('C-0026', 'person', 'Lena', NULL, 'Schmid', NULL, NULL, '2006-05-05', 'CH',
    NULL, NULL, NULL, 0, '{"segment":"youth","branch":"ZH-01"}',
    NULL, '2024-05-05 09:00:00+00', '2025-03-01 09:00:00+00'),
('C-0027', 'company', NULL, NULL, NULL, 'ACME Holdings Ltd.', 'ACME', NULL, 'GB',
    '01234567', '+44 20 7946 0000', NULL, 3, '{"segment":"corporate","sector":"holding","tags":["import","export"]}',
    NULL, '2016-06-16 16:00:00+00', '2025-04-10 16:20:00+00'),
('C-0028', 'person', 'Chiara', NULL, 'Rossi', NULL, NULL, '1989-12-12', 'IT',
    NULL, '+39 06 1234 5678', NULL, 1, '{"segment":"retail","branch":"TI-01"}',
    NULL, '2021-12-12 12:00:00+00', '2025-03-01 09:00:00+00'),
('C-0029', 'person', 'João', NULL, 'Conceição', NULL, NULL, '1977-07-17', 'PT',
    NULL, NULL, NULL, 1, NULL,
    NULL, '2019-01-01 09:00:00+00', '2025-05-01 00:00:00+00'),
('C-0030', 'person', '由紀', NULL, '田中', NULL, NULL, '1991-01-20', 'JP',
    NULL, NULL, NULL, 1, NULL,
    NULL, '2022-02-22 22:22:22+00', '2025-03-01 09:00:00+00'),
('C-0031', 'company', NULL, NULL, NULL, 'ООО «Северный Ветер»', NULL, NULL, 'RU',
    '1027700132195', NULL, 'Relationship ended', 3, '{"segment":"corporate","sector":"energy"}',
    '2022-03-01 09:00:00+00', '2015-05-15 09:00:00+00', '2022-03-01 09:00:00+00'),
('C-0032', 'person', 'Ahmed', NULL, 'Ben Salah', NULL, NULL, '1982-02-22', 'TN',
    NULL, NULL, NULL, 2, NULL,
    NULL, '2018-10-10 10:10:10+00', '2024-10-10 10:10:10+00'),
('C-0033', 'person', 'Sophie', NULL, 'Dupont', NULL, NULL, '1999-09-09', 'BE',
    NULL, NULL, NULL, 1, '{"segment":"retail","branch":"GE-02"}',
    NULL, '2020-09-09 09:00:00+00', '2025-03-01 09:00:00+00'),
-- INVALID: nationality 'ZZ' (inserted below).
('C-0034', 'person', 'Max', NULL, 'Mustermann', NULL, NULL, '1984-01-01', 'DE',
    NULL, NULL, NULL, 1, NULL,
    NULL, '2020-01-01 09:00:00+00', '2024-11-05 14:22:03+00'),
('C-0035', 'company', NULL, NULL, NULL, 'Lötschberg Bau AG', 'LöBa', NULL, 'CH',
    'CHE-111.222.333', NULL, NULL, 2, '{"segment":"corporate","branch":"BE-01"}',
    NULL, '2014-04-14 14:00:00+00', '2025-03-01 09:00:00+00'),
('C-0036', 'person', 'Mary-Jane', NULL, 'Watson', NULL, NULL, '1990-06-06', 'US',
    NULL, '(212) 555-0199', NULL, 1, NULL,
    NULL, '2023-06-06 06:00:00+00', '2025-06-01 12:00:00+00'),
-- One microsecond after the bulk update: a cursor that drops precision
-- confuses it with the eighteen rows of 09:00:00.
('C-0037', 'person', 'Łukasz', NULL, 'Żółkiewski', NULL, NULL, '1980-08-08', 'PL',
    NULL, NULL, NULL, 1, NULL,
    NULL, '2021-08-08 08:00:00+00', '2025-03-01 09:00:00.000001+00'),
-- INVALID: nationality 'Yugoslavia' (inserted below).
('C-0038', 'person', 'Karl', NULL, 'Schulze', NULL, NULL, '1955-05-15', 'DE',
    NULL, NULL, NULL, 1, NULL,
    NULL, '2009-05-15 09:00:00+00', '2025-01-02 08:00:00+00'),
('C-0039', 'person', 'Eva', NULL, 'Nováková', NULL, NULL, '1972-03-03', 'CZ',
    NULL, NULL, 'Moved abroad', 1, NULL,
    '2024-01-31 16:00:00+00', '2012-12-12 12:00:00+00', '2024-01-31 16:00:00+00'),
-- A company with nothing but its name.
('C-0040', 'company', NULL, NULL, NULL, 'Alpine Ventures SA', NULL, NULL, NULL,
    NULL, NULL, NULL, NULL, NULL,
    NULL, '2024-02-29 09:00:00+00', '2025-03-01 09:00:00+00'),
('C-0041', 'person', 'Aiyana', NULL, 'Redcloud', NULL, NULL, '1994-04-14', 'CA',
    NULL, NULL, NULL, 1, NULL,
    NULL, '2022-04-14 14:00:00+00', '2025-04-10 16:20:00+00'),
('C-0042', 'person', 'Fatima', 'Zahra', 'El Amrani', NULL, NULL, '1986-06-16', 'MA',
    NULL, NULL, NULL, 2, NULL,
    NULL, '2021-06-16 16:00:00+00', '2024-12-31 23:59:59.999999+00'),
('C-0043', 'person', 'Tomás', NULL, 'García Márquez', NULL, NULL, '1969-03-06', 'ES',
    NULL, NULL, NULL, 2, NULL,
    NULL, '2016-03-06 09:00:00+00', '2024-06-30 17:00:00+00'),
('C-0044', 'company', NULL, NULL, NULL, 'Zürich Re-Insurance Brokers AG', NULL, NULL, 'CH',
    'CHE-444.555.666', NULL, E'Key contact: "Dr. Huber"\tExt. 12', 2, '{"segment":"corporate","branch":"ZH-02"}',
    NULL, '2013-07-07 07:00:00+00', '2025-05-20 13:37:00+00'),
-- INVALID: residence_country 'U S', typed with a space.
('C-0045', 'person', 'John', 'Fitzgerald', 'Smith', NULL, NULL, '1962-11-22', 'U S',
    NULL, '+1 202 555 0147', NULL, 1, NULL,
    NULL, '2019-11-22 09:00:00+00', '2025-05-20 13:37:00+00'),
('C-0046', 'person', 'Ingrid', NULL, 'Sørensen', NULL, NULL, '1976-12-06', 'DK',
    NULL, NULL, NULL, 1, '{"segment":"retail","branch":"BS-01"}',
    NULL, '2018-12-06 09:00:00+00', '2025-03-01 09:00:00+00'),
('C-0047', 'person', 'Kwame', NULL, 'Mensah', NULL, NULL, '1988-03-06', 'GH',
    NULL, NULL, NULL, 1, NULL,
    NULL, '2023-03-06 09:00:00+00', '2025-02-28 23:00:00+00'),
('C-0048', 'person', 'Anaïs', NULL, 'Lefèvre', NULL, NULL, '2001-07-14', 'FR',
    NULL, NULL, NULL, 1, '{"segment":"retail","branch":"GE-02","note":"Grüezi, ça va?"}',
    NULL, '2022-07-14 09:00:00+00', '2025-03-01 09:00:00+00'),
('C-0049', 'company', NULL, NULL, NULL, 'Bäckerei Brot & Butter GmbH', 'Brot&Butter', NULL, 'CH',
    'CHE-222.333.444', '+41 31 555 66 77', 'Sold to a competitor', 1, NULL,
    '2025-01-15 18:00:00+00', '2020-02-20 09:00:00+00', '2025-01-15 18:00:00+00'),
-- Same birth date and family name as C-0001: a different person.
('C-0050', 'person', 'Lukas', NULL, 'Meier', NULL, NULL, '1980-04-12', 'CH',
    NULL, NULL, NULL, 1, '{"segment":"retail","branch":"ZH-01"}',
    NULL, '2024-12-01 09:00:00+00', '2025-06-15 06:00:00+00');

-- The triggers on the clients' child tables (nationalities, review groups,
-- contacts, name variations), and on clients itself for an UPDATE, set
-- updated_at to now(): keep the values written above, to restore them
-- once every row is in.
CREATE TEMPORARY TABLE seed_updated_at AS SELECT id, updated_at FROM clients;

INSERT INTO client_nationalities (client_id, country)
SELECT c.id, n.country
  FROM (VALUES
    ('C-0001', 'CH'),
    ('C-0002', 'SE'),
    ('C-0003', 'DE'), ('C-0003', 'CH'),
    ('C-0004', 'RU'), ('C-0004', 'CY'),
    ('C-0005', 'CN'),
    ('C-0006', 'CH'),
    ('C-0007', 'FR'),
    ('C-0010', 'IE'), ('C-0010', 'GB'),
    ('C-0011', 'GR'),
    ('C-0012', 'AE'),
    ('C-0013', 'CH'),
    ('C-0014', 'TR'), ('C-0014', 'DE'),
    ('C-0015', 'VN'),
    ('C-0017', 'LI'), ('C-0017', 'AT'),
    ('C-0019', 'XK'),
    ('C-0020', 'IS'),
    ('C-0022', 'IS'),
    ('C-0024', 'IN'),
    ('C-0025', 'CH'),
    ('C-0028', 'IT'),
    ('C-0029', 'PT'), ('C-0029', 'BR'),
    ('C-0030', 'JP'),
    ('C-0032', 'TN'), ('C-0032', 'FR'),
    ('C-0033', 'BE'),
    ('C-0034', 'ZZ'),       -- INVALID: not an assigned code
    ('C-0036', 'US'),
    ('C-0037', 'PL'),
    ('C-0038', 'Yugoslavia'),  -- INVALID: a former country that split
    ('C-0039', 'Czech Republic'),  -- a name, valid: sent as CZ
    ('C-0041', 'CA'),
    ('C-0042', 'MA'), ('C-0042', 'es'),  -- lower case, valid
    ('C-0043', 'ES'), ('C-0043', 'CO'),
    ('C-0045', 'US'),
    ('C-0046', 'DK'),
    ('C-0047', 'GH'),
    ('C-0048', 'FR'), ('C-0048', 'CH'),
    ('C-0050', 'CH')
  ) AS n (client_ref, country)
  JOIN clients c USING (client_ref);

-- The clients' other columns, set by UPDATE (the clients trigger moves
-- updated_at to now(): restored below).
UPDATE clients c
   SET aliases = v.aliases, kyc_requested = v.kyc_requested
  FROM (VALUES
    ('C-0001', '{OLD-884213}'::text[], NULL::integer),
    ('C-0004', '{CY-1999-0042,"OLD-102 334"}', 4),
    ('C-0012', NULL, 3),
    ('C-0017', NULL, 4),
    ('C-0027', '{ACME-UK-01,ACME-HOLD}', NULL)
  ) AS v (client_ref, aliases, kyc_requested)
 WHERE c.client_ref = v.client_ref;

-- A subsidiary: Lötschberg Bau AG belongs to ACME Holdings.
UPDATE clients c
   SET parent_client_id = p.id
  FROM clients p
 WHERE c.client_ref = 'C-0035' AND p.client_ref = 'C-0027';

-- Review groups: two names hold the separators of the API's string form.
INSERT INTO client_review_groups (client_id, group_name)
SELECT c.id, g.group_name
  FROM (VALUES
    ('C-0004', 'PEP, foreign'),
    ('C-0004', 'Risk; High'),
    ('C-0008', 'Corporate'),
    ('C-0008', 'Risk; High'),
    ('C-0017', 'PEP, foreign'),
    ('C-0027', 'Corporate')
  ) AS g (client_ref, group_name)
  JOIN clients c USING (client_ref);

-- Contacts: the relationship managers, one written "family, given".
INSERT INTO client_contacts (client_id, contact)
SELECT c.id, k.contact
  FROM (VALUES
    ('C-0004', 'Laura Bianchi'),
    ('C-0008', 'Frei, Marco'),
    ('C-0008', 'Laura Bianchi'),
    ('C-0017', 'Urs Vogel'),
    ('C-0027', 'Frei, Marco')
  ) AS k (client_ref, contact)
  JOIN clients c USING (client_ref);

-- Name variations: transliterations, a name without diacritics, a maiden
-- name, a company's English and former names. Inserted in this order, so
-- that the ids, and the order customers.sql sends them in, are known.
INSERT INTO client_name_variations (client_id, given_name, family_name, legal_name, trading_as)
SELECT c.id, v.given_name, v.family_name, v.legal_name, v.trading_as
  FROM (VALUES
    (1, 'C-0004', 'Dmitry', 'Ivanov', NULL, NULL),
    (2, 'C-0004', 'Dmitrii', 'Ivanov', NULL, NULL),
    (3, 'C-0002', 'Zoe', 'Angstrom', NULL, NULL),
    (4, 'C-0033', NULL, 'Martin', NULL, NULL),
    (5, 'C-0008', NULL, NULL, 'Helvetia Logistics Ltd', 'HeLo Logistics'),
    (6, 'C-0031', NULL, NULL, 'OOO Severny Veter', NULL)
  ) AS v (n, client_ref, given_name, family_name, legal_name, trading_as)
  JOIN clients c USING (client_ref)
 ORDER BY v.n;

-- Who stands behind the companies. Explicit ids, so that the relations'
-- external ids (L-1, ...) are known, and explicit updated_at: three links
-- share the bulk instant of the clients. A link's updated_at is only moved
-- by an UPDATE of the link, which the seed does not do.
INSERT INTO client_links (id, company_id, party_id, link_kind, share_pct, started_on, ended_on, updated_at)
SELECT l.id, co.id, pa.id, l.link_kind, l.share_pct, l.started_on, l.ended_on, l.updated_at
  FROM (VALUES
    (1, 'C-0008', 'C-0003', 'director',    NULL::numeric, '2015-01-05'::date, NULL::date,   '2025-03-01 09:00:00+00'::timestamptz),
    (2, 'C-0008', 'C-0017', 'shareholder', 30.00,         '2018-06-01',       NULL,         '2025-03-01 09:00:00+00'),
    (3, 'C-0008', 'C-0004', 'ubo',         NULL,          '2015-01-05',       NULL,         '2025-03-01 09:00:00+00'),
    -- Ended: the director died; sent disabled.
    (4, 'C-0008', 'C-0025', 'director',    NULL,          '2001-01-01',       '2023-12-01', '2023-12-01 10:00:00+00'),
    -- A company owning a company: ACME holds all of its subsidiary.
    (5, 'C-0035', 'C-0027', 'shareholder', 100.00,        '2014-04-14',       NULL,         '2024-04-14 14:00:00+00')
  ) AS l (id, company_ref, party_ref, link_kind, share_pct, started_on, ended_on, updated_at)
  JOIN clients co ON co.client_ref = l.company_ref
  JOIN clients pa ON pa.client_ref = l.party_ref;

SELECT setval(pg_get_serial_sequence('client_links', 'id'), (SELECT max(id) FROM client_links));

-- Restore updated_at. Only rows the trigger changed: an UPDATE that leaves
-- updated_at as it is makes the clients trigger set it to now().
UPDATE clients c
   SET updated_at = s.updated_at
  FROM seed_updated_at s
 WHERE c.id = s.id
   AND c.updated_at IS DISTINCT FROM s.updated_at;

DROP TABLE seed_updated_at;
