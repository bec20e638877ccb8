package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"
)

// generateSQL fills the example source schema with n people and n/20
// companies, each company with one to three ownership links to people, in
// set-based statements. $1 is n.
//
// Values vary with the row number so that the extraction query does real
// work: one or two nationalities per person, review groups, contacts and
// name variations on some, custom fields on all. cursor_updated_at follows
// the row number, 50 rows to a second (a bulk load gives many rows one
// instant), except every tenth row, which changed later at a scattered
// instant, so that the (updated_at, id) index order is not the heap's.
// Every instant is in the past: the runs' windows close at now().
//
// Triggers and foreign key checks are off for the load
// (session_replication_role replica, which needs a superuser): the touch
// triggers would otherwise update every client once per child row.
const generateSQL = `
SET session_replication_role = replica;
SET synchronous_commit = off;

CREATE TEMP TABLE bench_words AS SELECT
  ARRAY['Anna','Ben','Chiara','David','Elena','Felix','Greta','Hugo','Ines','Jonas',
        'Karin','Luca','Mia','Noah','Olga','Paul','Rosa','Simon','Tina','Urs'] AS first,
  ARRAY['Müller','Meier','Schmid','Keller','Weber','Huber','Schneider','Meyer','Steiner','Fischer',
        'Gerber','Brunner','Baumann','Frei','Zimmermann','Moser','Widmer','Wyss','Graf','Roth',
        'Lefèvre','Rossi','Bianchi','García','O''Brien'] AS last,
  ARRAY['CH','DE','FR','IT','AT','GB','US','ES','NL','BE','SE','PT'] AS cc,
  ARRAY['retail','private','corporate'] AS seg;

INSERT INTO clients (id, client_ref, kind, given_name, middle_names, family_name, birth_date,
                     residence_country, phone, notes, risk_tier, attributes, aliases, kyc_requested,
                     closed_at, created_at, updated_at)
SELECT i, 'C' || lpad(i::text, 9, '0'), 'person',
       w.first[1 + i % 20],
       CASE WHEN i % 7 = 0 THEN w.first[1 + (i / 7) % 20] END,
       w.last[1 + (i / 20) % 25],
       date '1940-01-01' + ((i * 7919) % 25000)::int,
       w.cc[1 + i % 12],
       '+41 44 ' || lpad((i % 10000000)::text, 7, '0'),
       CASE WHEN i % 5 = 0 THEN 'onboarded at branch ' || i % 97 END,
       i % 4,
       jsonb_build_object('segment', w.seg[1 + i % 3], 'branch', i % 97),
       CASE WHEN i % 50 = 0 THEN ARRAY['OLD-' || i] END,
       CASE WHEN i % 13 = 0 THEN 2 END,
       CASE WHEN i % 200 = 0 THEN timestamptz '2024-06-01 00:00:00+00' END,
       t.at, t.at
FROM generate_series(1, $1::bigint) AS i, bench_words AS w,
     LATERAL (SELECT timestamptz '2025-01-01 00:00:00+00'
                     + make_interval(secs => (CASE WHEN i % 10 = 0 THEN (i * 7919) % $1 ELSE i END) / 50)) AS t(at);

INSERT INTO clients (id, client_ref, kind, legal_name, trading_as, registration_no, residence_country,
                     risk_tier, attributes, created_at, updated_at)
SELECT $1 + j, 'K' || lpad(j::text, 9, '0'), 'company',
       w.last[1 + j % 25] || ' ' || w.first[1 + (j / 25) % 20] || ' Holding ' || j || ' AG',
       CASE WHEN j % 3 = 0 THEN 'Trading ' || j END,
       'CHE-' || lpad(j::text, 9, '0'),
       w.cc[1 + j % 12],
       j % 4,
       jsonb_build_object('segment', 'corporate', 'branch', j % 97),
       t.at, t.at
FROM generate_series(1, $1::bigint / 20) AS j, bench_words AS w,
     LATERAL (SELECT timestamptz '2025-01-01 00:00:00+00' + make_interval(secs => j * 20 / 50)) AS t(at);

INSERT INTO client_nationalities (client_id, country)
SELECT i, w.cc[1 + i % 12] FROM generate_series(1, $1::bigint) AS i, bench_words AS w
UNION ALL
SELECT i, w.cc[1 + (i + 5) % 12] FROM generate_series(4, $1::bigint, 4) AS i, bench_words AS w;

INSERT INTO client_review_groups (client_id, group_name)
SELECT i, 'retail' FROM generate_series(10, $1::bigint, 10) AS i
UNION ALL
SELECT i, 'Risk; High' FROM generate_series(30, $1::bigint, 30) AS i;

INSERT INTO client_contacts (client_id, contact)
SELECT i, 'rm' || i % 40 || '@bank.example' FROM generate_series(8, $1::bigint, 8) AS i;

INSERT INTO client_name_variations (client_id, given_name, family_name)
SELECT i, w.first[1 + (i + 3) % 20], w.last[1 + (i / 20) % 25] || '-Roth'
FROM generate_series(25, $1::bigint, 25) AS i, bench_words AS w;

INSERT INTO client_links (company_id, party_id, link_kind, share_pct, started_on, updated_at)
SELECT $1 + j, 1 + (j * 7919 + k * 104729) % $1,
       (ARRAY['director','shareholder','ubo'])[k],
       CASE WHEN k = 2 THEN 10 + j % 80 END,
       date '2010-01-01' + (j % 5000)::int,
       timestamptz '2025-01-01 00:00:00+00' + make_interval(secs => (j * 7919) % ($1 / 20) * 20 / 50)
FROM generate_series(1, $1::bigint / 20) AS j, generate_series(1, 3) AS k
WHERE k <= 1 + j % 3;

SELECT setval('clients_id_seq', (SELECT max(id) FROM clients));
SELECT setval('client_links_id_seq', (SELECT max(id) FROM client_links));
SELECT setval('client_name_variations_id_seq', (SELECT max(id) FROM client_name_variations));
SET session_replication_role = DEFAULT;
`

// generate fills db, which holds the empty example schema, with n people
// and n/20 companies, then vacuums and analyses its tables so that the runs read
// settled tables with fresh statistics.
func generate(ctx context.Context, db *sqlx.DB, n int) error {
	conn, err := db.Connx(ctx)
	if err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	defer conn.Close()
	// One statement at a time: $1 is only allowed in single statements.
	for _, stmt := range splitStatements(generateSQL) {
		var args []any
		if strings.Contains(stmt, "$1") {
			args = append(args, n)
		}
		if _, err := conn.ExecContext(ctx, stmt, args...); err != nil {
			return fmt.Errorf("generate: %s: %w", firstLine(stmt), err)
		}
	}
	// The source tables only: the state tables are left as the migrations
	// made them, as on a fresh deployment.
	if _, err := conn.ExecContext(ctx, "VACUUM (ANALYZE) "+sourceTables); err != nil {
		return fmt.Errorf("generate: vacuum: %w", err)
	}
	return nil
}

// sourceTables are the example schema's tables.
const sourceTables = "clients, client_nationalities, client_review_groups, client_contacts, client_name_variations, client_links"

// splitStatements splits SQL on the semicolons that end lines; the
// generator's statements hold none inside them.
func splitStatements(sql string) []string {
	var out []string
	for _, s := range strings.Split(sql, ";\n") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, strings.TrimSuffix(s, ";"))
		}
	}
	return out
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}

// changeSQL changes 1% of the clients (a note) and of the links (a start
// date); the touch triggers move their updated_at to now().
var changeSQL = []string{
	"UPDATE clients SET notes = 'changed ' || now() WHERE id % 100 = 0",
	"UPDATE client_links SET started_on = started_on + 1 WHERE id % 100 = 0",
}

// driftSQL makes 1% of drift that no cursor sees: 0.9% of the clients
// changed without their updated_at moving (a bulk fix by hand, a restored
// backup), and 0.1% deleted (people without links).
var driftSQL = []string{
	"ALTER TABLE clients DISABLE TRIGGER clients_touch",
	"UPDATE clients SET notes = 'fixed by hand' WHERE id % 1000 BETWEEN 1 AND 9",
	"ALTER TABLE clients ENABLE TRIGGER clients_touch",
	`DELETE FROM clients c WHERE c.id % 1000 = 500 AND c.kind = 'person'
		AND NOT EXISTS (SELECT 1 FROM client_links l WHERE l.party_id = c.id OR l.company_id = c.id)
		AND NOT EXISTS (SELECT 1 FROM clients k WHERE k.parent_client_id = c.id)`,
}
