package pipeline_test

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// The source of the convergence test (TestConvergence): the example schema,
// written by a seeded generator that keeps its own model of every row. The
// model, not the pipeline's state, says what the API must hold at the end.
//
// Every write sets updated_at itself, under session_replication_role =
// replica so that the schema's triggers leave it alone: the generator's
// clock is the only one the rows see, and a change can be committed late
// (updated_at in the past) or without touching updated_at at all.

// simClient is the model of one row of clients.
type simClient struct {
	id      int64
	ref     string // client_ref: the external id
	part    string // "A" or "B": the job that sends it when there are two
	kind    string // person, company, or an unmapped kind (invalid)
	given   string
	family  string
	legal   string
	birth   string // YYYY-MM-DD or ""
	country string
	groups  []string // review groups, sorted
	tier    int      // attributes {"tier": n} when not 0
	parent  int64
	closed  bool
	at      *time.Time // updated_at; nil: NULL
	// hidden: the row's last change cannot be seen by a run that follows
	// the watermark (no bump of updated_at, a late commit below the
	// lookback, a NULL updated_at), only by a reconcile.
	hidden bool
}

// problem returns what makes the row invalid by the pipeline's documented
// rules, "" when it is valid.
func (c *simClient) problem() string {
	switch {
	case c.kind != "person" && c.kind != "company":
		return "account_type"
	case c.kind == "person" && c.family == "":
		return "last_name"
	case c.kind == "company" && c.legal == "":
		return "company_name"
	}
	return ""
}

// simLink is the model of one row of client_links.
type simLink struct {
	id      int64
	company int64
	party   int64
	kind    string // director, shareholder, ubo, or an unmapped kind (invalid)
	ended   bool
	at      time.Time
	hidden  bool // as simClient.hidden
}

func (l *simLink) ref() string { return "L-" + strconv.FormatInt(l.id, 10) }

func (l *simLink) problem() string {
	if _, ok := simRelationTypes[l.kind]; !ok {
		return "relation_type"
	}
	return ""
}

var simRelationTypes = map[string]int64{"director": 1, "shareholder": 2, "ubo": 3}

// simGroups are the review groups rows draw from; two hold a separator.
var simGroups = []string{"PEP", "Risk; High", "Sanctions, EU", "Watch"}

// simWorld is the source and its model.
type simWorld struct {
	db       *sqlx.DB
	rng      *rand.Rand
	f        simFeatures
	lookback time.Duration // the jobs'
	now      time.Time     // the generator's clock
	clients  map[int64]*simClient
	links    map[int64]*simLink
	gone     map[string]bool  // refs of deleted clients and links
	deleted  map[int64]string // deleted clients and links by id: their refs
	nextID   int64
	nextRef  int
	log      []string // what the generator did, for a failure's report
}

func newSimWorld(db *sqlx.DB, rng *rand.Rand, f simFeatures, lookback time.Duration) *simWorld {
	return &simWorld{
		db: db, rng: rng, f: f, lookback: lookback,
		now:     time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC),
		clients: make(map[int64]*simClient), links: make(map[int64]*simLink), gone: make(map[string]bool),
		deleted: make(map[int64]string),
	}
}

func (w *simWorld) logf(format string, args ...any) {
	w.log = append(w.log, fmt.Sprintf("%s ", w.now.Format("15:04:05"))+fmt.Sprintf(format, args...))
}

// prepare changes the schema for the features that need it.
func (w *simWorld) prepare(ctx context.Context) error {
	if w.f.on(featNullCursor) {
		if _, err := w.db.ExecContext(ctx, `ALTER TABLE clients ALTER updated_at DROP NOT NULL`); err != nil {
			return err
		}
	}
	if w.f.on(featDupIDs) {
		if _, err := w.db.ExecContext(ctx, `ALTER TABLE clients DROP CONSTRAINT clients_client_ref_key`); err != nil {
			return err
		}
	}
	return nil
}

// tick moves the clock on.
func (w *simWorld) tick() { w.now = w.now.Add(time.Duration(1+w.rng.IntN(3)) * time.Second) }

// sorted returns the live clients in id order, so that draws are
// reproducible.
func (w *simWorld) sorted() []*simClient {
	out := slices.Collect(maps.Values(w.clients))
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

func (w *simWorld) sortedLinks() []*simLink {
	out := slices.Collect(maps.Values(w.links))
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

func pick[T any](rng *rand.Rand, xs []T) (T, bool) {
	var zero T
	if len(xs) == 0 {
		return zero, false
	}
	return xs[rng.IntN(len(xs))], true
}

func (w *simWorld) filter(keep func(*simClient) bool) []*simClient {
	var out []*simClient
	for _, c := range w.sorted() {
		if keep(c) {
			out = append(out, c)
		}
	}
	return out
}

// dup reports whether another live client shares c's ref.
func (w *simWorld) dup(c *simClient) bool {
	for _, o := range w.clients {
		if o.id != c.id && o.ref == c.ref {
			return true
		}
	}
	return false
}

func (w *simWorld) depth(c *simClient) int {
	d := 0
	for p := c.parent; p != 0 && d < 20; d++ {
		p = w.clients[p].parent
	}
	return d
}

func (w *simWorld) descends(c *simClient, from int64) bool {
	for p := c.id; p != 0; p = w.clients[p].parent {
		if p == from {
			return true
		}
	}
	return false
}

func (w *simWorld) hasChildren(c *simClient) bool {
	for _, o := range w.clients {
		if o.parent == c.id {
			return true
		}
	}
	for _, l := range w.links {
		if l.company == c.id || l.party == c.id {
			return true
		}
	}
	return false
}

// A write is one change of the source, in the transaction of its batch.
type simWrite func(ctx context.Context, tx *sqlx.Tx) error

// mutate makes one batch of changes, in one transaction, at the clock's
// time: with ties, several rows share that updated_at.
func (w *simWorld) mutate(ctx context.Context) error {
	n := 1
	if w.f.on(featTies) {
		n = 1 + w.rng.IntN(5)
	}
	var writes []simWrite
	for range n {
		writes = append(writes, w.change()...)
	}
	tx, err := w.db.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
		return err
	}
	for _, wr := range writes {
		if err := wr(ctx, tx); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// when returns the updated_at of a change: now, or, for a late commit, a
// moment in the past; and whether a run that follows the watermark may miss
// it. A late commit is seen by the next run when it is within the lookback
// of the clock, which no watermark passes.
func (w *simWorld) when(what string) (at *time.Time, hidden bool, _ string) {
	t := w.now
	if w.f.on(featLate) && w.rng.IntN(8) == 0 {
		t = t.Add(-time.Duration(1+w.rng.IntN(20)) * time.Second)
		hidden = t.Before(w.now.Add(-w.lookback))
		what += " (late commit, " + t.Format("15:04:05")
		if hidden {
			what += ", below the lookback"
		}
		return &t, hidden, what + ")"
	}
	return &t, false, what
}

// touch sets c's updated_at for a change: mostly now, sometimes late, not
// at all (nobump), or NULL.
func (w *simWorld) touch(c *simClient, what string) string {
	switch {
	case w.f.on(featNoBump) && c.at != nil && w.rng.IntN(8) == 0:
		c.hidden = true
		return what + " (updated_at not bumped)"
	case w.f.on(featNullCursor) && w.rng.IntN(12) == 0:
		c.at, c.hidden = nil, true
		return what + " (updated_at NULL)"
	}
	c.at, c.hidden, what = w.when(what)
	return what
}

// change draws one change of the source and applies it to the model.
func (w *simWorld) change() []simWrite {
	live := w.sorted()
	for {
		switch r := w.rng.IntN(100); {
		case r < 30 || len(live) < 4:
			return w.insert()
		case r < 60:
			return w.update()
		case r < 68 && w.f.on(featDeletes):
			if ws := w.remove(); ws != nil {
				return ws
			}
		case r < 74 && w.f.on(featInvalid):
			if ws := w.fix(); ws != nil {
				return ws
			}
		case r < 79 && w.f.on(featDupIDs):
			if ws := w.duplicate(); ws != nil {
				return ws
			}
		case r < 92 && w.f.on(featRelations):
			if ws := w.link(); ws != nil {
				return ws
			}
		case r < 100 && w.f.on(featNullCursor):
			if ws := w.fixCursor(); ws != nil {
				return ws
			}
		}
	}
}

var simGiven = []string{"Ada", "Bo", "Cy", "Di", "Ed", "Flo"}
var simFamily = []string{"Ames", "Bell", "Cole", "Dunn", "Eyre", "Ford"}
var simLegal = []string{"Acme Ltd", "Bolt SA", "Crest AG", "Delta plc"}
var simCountries = []string{"GB", "FR", "DE", "US", "CH"}

// fill draws every field of c, valid unless invalid says otherwise.
func (w *simWorld) fill(c *simClient, invalid bool) {
	c.kind = "person"
	if w.rng.IntN(3) == 0 {
		c.kind = "company"
	}
	c.given, c.family, c.legal, c.birth = "", "", "", ""
	if c.kind == "person" {
		c.given = simGiven[w.rng.IntN(len(simGiven))]
		c.family = simFamily[w.rng.IntN(len(simFamily))] + strconv.Itoa(w.rng.IntN(100))
		if w.rng.IntN(4) > 0 {
			c.birth = fmt.Sprintf("19%02d-%02d-%02d", 40+w.rng.IntN(60), 1+w.rng.IntN(12), 1+w.rng.IntN(28))
		}
	} else {
		c.legal = simLegal[w.rng.IntN(len(simLegal))] + " " + strconv.Itoa(w.rng.IntN(100))
	}
	c.country = simCountries[w.rng.IntN(len(simCountries))]
	w.drawGroups(c)
	c.tier = w.rng.IntN(4)
	if invalid {
		w.spoil(c)
	}
}

func (w *simWorld) drawGroups(c *simClient) {
	had := len(c.groups) > 0
	c.groups = nil
	for _, g := range simGroups {
		if w.rng.IntN(3) == 0 {
			c.groups = append(c.groups, g)
		}
	}
	if had && len(c.groups) == 0 && !w.f.on(featEmptyLists) {
		c.groups = []string{simGroups[w.rng.IntN(len(simGroups))]}
	}
}

// spoil makes c invalid.
func (w *simWorld) spoil(c *simClient) {
	switch {
	case w.rng.IntN(3) == 0:
		c.kind = "trust"
	case c.kind == "person":
		c.family = ""
	default:
		c.legal = ""
	}
}

func (w *simWorld) insert() []simWrite {
	w.nextID++
	w.nextRef++
	c := &simClient{id: w.nextID, part: "A"}
	if w.f.on(featTwoJobs) && w.rng.IntN(2) == 0 {
		c.part = "B"
	}
	c.ref = fmt.Sprintf("%s-%d", c.part, w.nextRef)
	w.fill(c, w.f.on(featInvalid) && w.rng.IntN(6) == 0)
	if w.f.on(featHierarchy) && w.rng.IntN(3) > 0 {
		parents := w.filter(func(p *simClient) bool { return p.part == c.part && w.depth(p) < 3 && !w.dup(p) })
		if p, ok := pick(w.rng, parents); ok {
			c.parent = p.id
		}
	}
	w.clients[c.id] = c
	what := w.touch(c, fmt.Sprintf("insert %s (id %d, %s%s)", c.ref, c.id, c.kind, w.describe(c)))
	w.logf("%s", what)
	return []simWrite{w.write(c)}
}

func (w *simWorld) describe(c *simClient) string {
	s := ""
	if p := c.problem(); p != "" {
		s += ", invalid " + p
	}
	if c.parent != 0 {
		s += ", parent " + w.clients[c.parent].ref
	}
	return s
}

func (w *simWorld) update() []simWrite {
	c, ok := pick(w.rng, w.sorted())
	if !ok {
		return w.insert()
	}
	var what string
	switch r := w.rng.IntN(10); {
	case r < 3:
		if c.kind == "person" {
			c.family = simFamily[w.rng.IntN(len(simFamily))] + strconv.Itoa(w.rng.IntN(100))
		} else if c.kind == "company" {
			c.legal = simLegal[w.rng.IntN(len(simLegal))] + " " + strconv.Itoa(w.rng.IntN(100))
		} else {
			c.given = simGiven[w.rng.IntN(len(simGiven))]
		}
		what = "rename"
	case r < 5:
		w.drawGroups(c)
		what = fmt.Sprintf("review groups %q", c.groups)
	case r < 6:
		c.country = simCountries[w.rng.IntN(len(simCountries))]
		c.tier = w.rng.IntN(4)
		what = "country and tier"
	case r < 7:
		c.closed = !c.closed
		what = fmt.Sprintf("closed %v", c.closed)
	case r < 8 && w.f.on(featInvalid) && c.problem() == "":
		w.spoil(c)
		what = "now invalid: " + c.problem()
	case r < 9 && w.f.on(featHierarchy) && !w.dup(c):
		// A new parent, never a descendant: no cycles.
		parents := w.filter(func(p *simClient) bool {
			return p.part == c.part && p.id != c.id && !w.descends(p, c.id) && w.depth(p) < 3 && !w.dup(p)
		})
		if p, ok := pick(w.rng, parents); ok && p.id != c.parent {
			c.parent = p.id
			what = "parent " + p.ref
		} else {
			c.tier = w.rng.IntN(4)
			what = "tier"
		}
	default:
		c.tier = w.rng.IntN(4)
		what = "tier"
	}
	what = w.touch(c, fmt.Sprintf("update %s: %s", c.ref, what))
	w.logf("%s", what)
	return []simWrite{w.write(c)}
}

// fix makes an invalid row valid again.
func (w *simWorld) fix() []simWrite {
	c, ok := pick(w.rng, w.filter(func(c *simClient) bool { return c.problem() != "" }))
	if !ok {
		return nil
	}
	switch c.problem() {
	case "account_type":
		c.kind = "person"
		if c.family == "" {
			c.family = simFamily[w.rng.IntN(len(simFamily))]
		}
	case "last_name":
		c.family = simFamily[w.rng.IntN(len(simFamily))]
	case "company_name":
		c.legal = simLegal[w.rng.IntN(len(simLegal))]
	}
	w.logf("%s", w.touch(c, "fix "+c.ref))
	return []simWrite{w.write(c)}
}

// remove deletes a client, as the source would: its children let go of
// it and its links are deleted first; or deletes a link.
func (w *simWorld) remove() []simWrite {
	if w.f.on(featRelations) && w.rng.IntN(3) == 0 {
		l, ok := pick(w.rng, w.sortedLinks())
		if !ok {
			return nil
		}
		delete(w.links, l.id)
		w.gone[l.ref()] = true
		w.deleted[l.id] = l.ref()
		w.logf("delete link %s", l.ref())
		return []simWrite{w.deleteLink(l)}
	}
	c, ok := pick(w.rng, w.sorted())
	if !ok {
		return nil
	}
	var writes []simWrite
	for _, l := range w.sortedLinks() {
		if l.company == c.id || l.party == c.id {
			delete(w.links, l.id)
			w.gone[l.ref()] = true
			w.deleted[l.id] = l.ref()
			writes = append(writes, w.deleteLink(l))
		}
	}
	for _, o := range w.sorted() {
		if o.parent == c.id {
			o.parent = 0
			w.touch(o, "")
			writes = append(writes, w.write(o))
		}
	}
	delete(w.clients, c.id)
	w.deleted[c.id] = c.ref
	if !w.dup(c) {
		w.gone[c.ref] = true
	}
	w.logf("delete %s (id %d) and its %d links and children", c.ref, c.id, len(writes))
	id := c.id
	return append(writes, func(ctx context.Context, tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM clients WHERE id = $1`, id)
		return err
	})
}

// duplicate inserts a row with the external id of another, or resolves a
// duplicate by giving it an id of its own.
func (w *simWorld) duplicate() []simWrite {
	if c, ok := pick(w.rng, w.filter(w.dup)); ok && w.rng.IntN(2) == 0 && !w.hasChildren(c) {
		w.nextRef++
		old := c.ref
		c.ref = fmt.Sprintf("%s-%d", c.part, w.nextRef)
		w.logf("%s", w.touch(c, fmt.Sprintf("duplicate %s (id %d) renamed %s", old, c.id, c.ref)))
		return []simWrite{w.write(c)}
	}
	orig, ok := pick(w.rng, w.filter(func(c *simClient) bool { return !w.dup(c) }))
	if !ok {
		return nil
	}
	w.nextID++
	c := &simClient{id: w.nextID, part: orig.part, ref: orig.ref}
	w.fill(c, false)
	w.clients[c.id] = c
	delete(w.gone, c.ref)
	w.logf("%s", w.touch(c, fmt.Sprintf("insert %s again (id %d): a duplicate external id", c.ref, c.id)))
	return []simWrite{w.write(c)}
}

// link inserts or changes a link between two clients.
func (w *simWorld) link() []simWrite {
	if l, ok := pick(w.rng, w.sortedLinks()); ok && w.rng.IntN(2) == 0 {
		switch {
		case w.f.on(featInvalid) && l.problem() != "":
			l.kind = "director"
		case w.f.on(featInvalid) && w.rng.IntN(4) == 0:
			l.kind = "auditor"
		case w.rng.IntN(2) == 0:
			l.ended = !l.ended
		default:
			l.kind = []string{"director", "shareholder", "ubo"}[w.rng.IntN(3)]
		}
		at, hidden, what := w.when(fmt.Sprintf("update link %s: %s, ended %v", l.ref(), l.kind, l.ended))
		l.at, l.hidden = *at, hidden
		w.logf("%s", what)
		return []simWrite{w.writeLink(l)}
	}
	ends := w.filter(func(c *simClient) bool { return !w.dup(c) })
	if len(ends) < 2 {
		return nil
	}
	i := w.rng.IntN(len(ends))
	j := (i + 1 + w.rng.IntN(len(ends)-1)) % len(ends)
	w.nextID++
	l := &simLink{id: w.nextID, company: ends[i].id, party: ends[j].id, kind: []string{"director", "shareholder", "ubo"}[w.rng.IntN(3)]}
	if w.f.on(featInvalid) && w.rng.IntN(6) == 0 {
		l.kind = "auditor"
	}
	at, hidden, what := w.when(fmt.Sprintf("insert link %s: %s %s of %s", l.ref(), ends[j].ref, l.kind, ends[i].ref))
	l.at, l.hidden = *at, hidden
	w.links[l.id] = l
	w.logf("%s", what)
	return []simWrite{w.writeLink(l)}
}

// fixCursor gives a row whose updated_at is NULL a time again.
func (w *simWorld) fixCursor() []simWrite {
	c, ok := pick(w.rng, w.filter(func(c *simClient) bool { return c.at == nil }))
	if !ok {
		return nil
	}
	at := w.now
	c.at, c.hidden = &at, false
	w.logf("updated_at of %s set again", c.ref)
	return []simWrite{w.write(c)}
}

// write writes c's row and review groups as the model holds them.
func (w *simWorld) write(c *simClient) simWrite {
	row := *c
	row.groups = slices.Clone(c.groups)
	return func(ctx context.Context, tx *sqlx.Tx) error {
		null := func(s string) any {
			if s == "" {
				return nil
			}
			return s
		}
		var parent, tier, attrs, closed any
		if row.parent != 0 {
			parent = row.parent
		}
		if row.tier != 0 {
			tier = row.tier
			attrs = fmt.Sprintf(`{"tier": %d}`, row.tier)
		}
		if row.closed {
			closed = "2025-01-01T00:00:00Z"
		}
		var at any
		if row.at != nil {
			at = *row.at
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO clients (id, client_ref, kind, given_name, family_name, legal_name, birth_date,
				residence_country, risk_tier, attributes, parent_client_id, closed_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7::date, $8, $9, $10::jsonb, $11, $12::timestamptz, $13)
			ON CONFLICT (id) DO UPDATE SET client_ref = excluded.client_ref, kind = excluded.kind,
				given_name = excluded.given_name, family_name = excluded.family_name, legal_name = excluded.legal_name,
				birth_date = excluded.birth_date, residence_country = excluded.residence_country,
				risk_tier = excluded.risk_tier, attributes = excluded.attributes,
				parent_client_id = excluded.parent_client_id, closed_at = excluded.closed_at, updated_at = excluded.updated_at`,
			row.id, row.ref, row.kind, null(row.given), null(row.family), null(row.legal), null(row.birth),
			null(row.country), tier, attrs, parent, closed, at)
		if err != nil {
			return fmt.Errorf("write client %d: %w", row.id, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM client_review_groups WHERE client_id = $1`, row.id); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO client_review_groups (client_id, group_name) SELECT $1, unnest($2::text[])`,
			row.id, pq.Array(row.groups))
		return err
	}
}

func (w *simWorld) writeLink(l *simLink) simWrite {
	row := *l
	return func(ctx context.Context, tx *sqlx.Tx) error {
		var ended any
		if row.ended {
			ended = "2020-01-01"
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO client_links (id, company_id, party_id, link_kind, ended_on, updated_at)
			VALUES ($1, $2, $3, $4, $5::date, $6)
			ON CONFLICT (id) DO UPDATE SET link_kind = excluded.link_kind, ended_on = excluded.ended_on, updated_at = excluded.updated_at`,
			row.id, row.company, row.party, row.kind, ended, row.at)
		if err != nil {
			return fmt.Errorf("write link %d: %w", row.id, err)
		}
		return nil
	}
}

func (w *simWorld) deleteLink(l *simLink) simWrite {
	id := l.id
	return func(ctx context.Context, tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM client_links WHERE id = $1`, id)
		return err
	}
}

// refsOf returns the external ids of live clients and links, for poisoning.
func (w *simWorld) refs() []string {
	var out []string
	for _, c := range w.sorted() {
		out = append(out, c.ref)
	}
	for _, l := range w.sortedLinks() {
		out = append(out, l.ref())
	}
	return out
}
