package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/lib/pq"

	"github.com/algoreg/algoreg-etl/load"
	"github.com/algoreg/algoreg-etl/pipeline"
	"github.com/algoreg/algoreg-etl/state"
)

// What the convergence test checks once the schedule has ended, against
// the model of the source (simWorld), the sandbox and the API's own log of
// calls (simAPI): never against the pipeline's idea of what it did.

// simHistory is a row of record_history.
type simHistory struct {
	RunID      int64  `db:"run_id"`
	Stream     string `db:"stream"`
	ExternalID string `db:"external_id"`
	Outcome    string `db:"outcome"`
	Warnings   int64  `db:"warnings"`
	Kind       string `db:"kind"` // of the run
}

// simError is a row of record_errors.
type simError struct {
	ID         int64         `db:"id"`
	RunID      int64         `db:"run_id"`
	Job        string        `db:"job"`
	Stream     string        `db:"stream"`
	SourceKey  string        `db:"source_key"`
	ExternalID string        `db:"external_id"`
	Stage      string        `db:"stage"`
	Severity   string        `db:"severity"`
	Code       string        `db:"code"`
	Message    string        `db:"message"`
	Resolved   int64         `db:"resolved_run_id"`
	Resolution string        `db:"resolution"`
	Open       bool          `db:"open"`
	Kind       string        `db:"kind"`
	DryRun     bool          `db:"dry_run"`
	MetBy      pq.Int64Array `db:"met_by"` // the runs that met it again
}

// of reports whether the error is one of run's: recorded or met again by it.
func (e simError) of(run int64) bool { return e.RunID == run || slices.Contains(e.MetBy, run) }

func (s *sim) history(ctx context.Context) []simHistory {
	var h []simHistory
	if err := s.db.SelectContext(ctx, &h, `SELECT h.run_id, h.stream, h.external_id, h.outcome, h.warnings, r.kind
		FROM `+s.state+`.record_history AS h JOIN `+s.state+`.runs AS r ON r.id = h.run_id ORDER BY h.id`); err != nil {
		s.t.Fatal(err)
	}
	return h
}

func (s *sim) recordErrors(ctx context.Context) []simError {
	var errs []simError
	if err := s.db.SelectContext(ctx, &errs, `SELECT e.id, e.run_id, e.job, e.stream, coalesce(e.source_key, '') AS source_key,
			coalesce(e.external_id, '') AS external_id, e.stage, e.severity, e.code, e.message,
			coalesce(e.resolved_run_id, 0) AS resolved_run_id, coalesce(e.resolution, '') AS resolution, e.resolved_at IS NULL AS open, r.kind, r.dry_run,
			ARRAY(SELECT m.run_id FROM `+s.state+`.record_error_runs AS m WHERE m.error_id = e.id ORDER BY m.run_id) AS met_by
		FROM `+s.state+`.record_errors AS e JOIN `+s.state+`.runs AS r ON r.id = e.run_id ORDER BY e.id`); err != nil {
		s.t.Fatal(err)
	}
	return errs
}

func (s *sim) runs(ctx context.Context) []state.Run {
	var all []state.Run
	for _, j := range s.jobs {
		runs, err := s.env.State.Runs(ctx, j.Name, 100000)
		if err != nil {
			s.t.Fatal(err)
		}
		all = append(all, runs...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	return all
}

// openErrors returns the open errors by job, stream and source key, as an
// operator counts them (the view open_errors_by_code): error severity, not
// resolved, not of dry runs (verify, offline, reconcile --dry-run).
func openErrors(errs []simError) map[string][]simError {
	open := make(map[string][]simError)
	for _, e := range errs {
		if e.Open && e.Severity == state.SeverityError && !e.DryRun {
			k := e.Job + "/" + e.Stream + "/" + e.SourceKey
			open[k] = append(open[k], e)
		}
	}
	return open
}

func describeErrors(errs []simError) string {
	s := ""
	for _, e := range errs {
		s += fmt.Sprintf("\n\t\trun %d (%s) %s %s: %s", e.RunID, e.Kind, e.Stage, e.Code, e.Message)
	}
	return s
}

// check checks the end state.
func (s *sim) check(ctx context.Context) {
	s.unacked(ctx)
	errs := s.recordErrors(ctx)
	s.checkSource(ctx, errs)
	s.checkRuns(ctx, errs)
	s.checkResends(ctx)
}

// unacked finds the records whose last version in the API came from a call
// the pipeline never recorded (its answer was lost and the run stopped or
// failed): the pipeline cannot know the API holds that version. Unless the
// feature strict is on, what they explain is tolerated: a row changed back
// to the version the pipeline last recorded (skipped as unchanged), a row
// deleted that no reconcile knows of.
func (s *sim) unacked(ctx context.Context) {
	recorded := make(map[string]bool) // run and external id
	for _, h := range s.history(ctx) {
		if h.Outcome != state.OutcomeError {
			recorded[fmt.Sprint(h.RunID, "/", h.ExternalID)] = true
		}
	}
	calls := s.api.log()
	sort.Slice(calls, func(i, j int) bool { return calls[i].seq < calls[j].seq })
	s.unack, s.known = make(map[string]bool), make(map[string]bool)
	for _, h := range s.history(ctx) {
		if (h.Outcome == state.OutcomeAdded || h.Outcome == state.OutcomeUpdated) && h.Kind != state.KindVerify {
			s.known[h.ExternalID] = true
		}
	}
	s.unackField = make(map[string]bool)
	for k := range calls {
		call := &calls[k]
		if !call.stored {
			continue
		}
		acc := call.accepted()
		items := make(map[string]any)
		for _, c := range call.req.Customers {
			items[c.ExternalID] = c
		}
		for _, r := range call.req.Relations {
			items[r.RelationExternalID] = r
		}
		for id, item := range items {
			if !acc[id] {
				continue
			}
			known := false
			for _, run := range s.steps[call.step].runs {
				known = known || recorded[fmt.Sprint(run, "/", id)]
			}
			s.unack[id] = !known
			// The fields the call set: the API keeps them until a call sets
			// them again.
			var set map[string]json.RawMessage
			b, _ := json.Marshal(item)
			json.Unmarshal(b, &set)
			for f := range set {
				s.unackField[id+"/"+f] = !known
			}
		}
	}
}

// toleratedField reports whether the API's value of a field of the record
// ref was last set by a call the pipeline never recorded (see unacked).
func (s *sim) toleratedField(ref, field string) bool {
	return s.unackField[ref+"/"+field] && !s.f.on(featStrict)
}

// accepted reports whether the API holds the customer ref and the pipeline
// knows it does: a customer a record that names it waits for.
func (s *sim) accepted(customers map[string]load.Customer, ref string) bool {
	_, ok := customers[ref]
	return ok && s.known[ref]
}

// tolerated reports whether a difference about the record ref is
// explained by a version the pipeline never recorded (see unacked).
func (s *sim) tolerated(ref string) bool { return s.unack[ref] && !s.f.on(featStrict) }

// checkSource checks that the sandbox equals the source and that every row
// that cannot be sent has exactly one open error.
func (s *sim) checkSource(ctx context.Context, errs []simError) {
	t, w := s.t, s.w
	customers, relations := s.api.sandbox.Customers(), s.api.sandbox.Relations()
	open := openErrors(errs)
	checked := make(map[string]bool)
	openOf := func(job, stream string, id int64) []simError {
		k := job + "/" + stream + "/" + strconv.FormatInt(id, 10)
		checked[k] = true
		return open[k]
	}
	accepted := func(ref string) bool { return s.accepted(customers, ref) }

	byRef := make(map[string][]*simClient)
	for _, c := range w.sorted() {
		byRef[c.ref] = append(byRef[c.ref], c)
	}
	for ref, rows := range byRef {
		job := s.jobOf(ref).Name
		// Rows that give one external id: the one the API last accepted it
		// from (or, if none, the first read) keeps it; every other is held
		// with one open error, duplicate_external_id, or, if it is invalid,
		// its own problem.
		var keepers []*simClient // rows not held for the duplicate
		var sendable []int64     // ... that could be sent
		for _, c := range rows {
			o := openOf(job, pipeline.StreamCustomers, c.id)
			if !slices.ContainsFunc(o, func(e simError) bool { return e.Code == pipeline.CodeDuplicateExternalID }) {
				keepers = append(keepers, c)
				if c.problem() == "" && c.at != nil {
					sendable = append(sendable, c.id)
				}
			} else if len(o) != 1 {
				t.Errorf("customer %s (row %d, held: another row gives its external id): %d open errors, want 1:%s", ref, c.id, len(o), describeErrors(o))
			}
		}
		if len(sendable) > 1 {
			t.Errorf("external id %s is given by %d rows, of which %d valid ones (%v) hold no duplicate_external_id error; want 1", ref, len(rows), len(sendable), sendable)
		}
		for _, c := range keepers {
			s.checkCustomer(c, openOf(job, pipeline.StreamCustomers, c.id), customers)
		}
	}

	if rj := s.relationsJob(); rj != nil {
		for _, l := range w.sortedLinks() {
			o := openOf(rj.Name, pipeline.StreamRelations, l.id)
			company, party := w.clients[l.company].ref, w.clients[l.party].ref
			why := ""
			switch {
			case l.problem() != "":
				why = "invalid " + l.problem()
			case !accepted(company) || !accepted(party):
				why = fmt.Sprintf("its customers %s and %s are not both in the API", company, party)
			}
			if why != "" {
				if len(o) != 1 {
					t.Errorf("relation %s (%s): %d open errors, want 1:%s", l.ref(), why, len(o), describeErrors(o))
				}
				continue
			}
			got, ok := relations[l.ref()]
			want := load.Relation{RelationExternalID: l.ref(), ParentCustomerExternalID: company, ChildCustomerExternalID: party,
				RelationType: simRelationTypes[l.kind], Disabled: &l.ended}
			switch {
			case !ok:
				t.Errorf("relation %s is not in the API; %d open errors:%s", l.ref(), len(o), describeErrors(o))
			case got.ParentCustomerExternalID != want.ParentCustomerExternalID || got.ChildCustomerExternalID != want.ChildCustomerExternalID ||
				(got.RelationType != want.RelationType && !s.toleratedField(l.ref(), "relation_type")) ||
				((got.Disabled == nil || *got.Disabled != l.ended) && !s.toleratedField(l.ref(), "disabled")):
				t.Errorf("relation %s in the API: %s; want %s; %d open errors:%s", l.ref(), jsonText(got), jsonText(want), len(o), describeErrors(o))
			case len(o) != 0:
				t.Errorf("relation %s is in the API as in the source, with %d open errors:%s", l.ref(), len(o), describeErrors(o))
			}
		}
	}

	// Deleted rows: disabled in the API, or reported.
	last := make(map[string]int64) // the last reconcile of each job
	for _, st := range s.steps {
		if st.opts.Kind == state.KindReconcile && !st.opts.DryRun && len(st.runs) > 0 {
			last[st.job.Name] = st.runs[len(st.runs)-1]
		}
	}
	reported := make(map[string]bool)
	for _, e := range errs {
		if e.Code == pipeline.CodeDeletedInSource && e.Severity == state.SeverityWarning {
			reported[fmt.Sprint(e.RunID, e.ExternalID)] = true
		}
	}
	for ref := range w.gone {
		job := s.jobOf(ref)
		var disabled *bool
		if c, ok := customers[ref]; ok {
			disabled = c.Disabled
		} else if r, ok := relations[ref]; ok {
			disabled, job = r.Disabled, s.relationsJob()
		} else {
			continue // never in the API
		}
		switch {
		case s.tolerated(ref):
		case job.OnMissing == "disable" && (disabled == nil || !*disabled):
			t.Errorf("%s was deleted from the source, and the API holds it enabled", ref)
		case job.OnMissing == "report" && !reported[fmt.Sprint(last[job.Name], ref)]:
			t.Errorf("%s was deleted from the source, and the last reconcile (run %d) did not report it", ref, last[job.Name])
		}
	}
	for id, ref := range w.deleted {
		for _, j := range s.jobs {
			for _, stream := range []string{pipeline.StreamCustomers, pipeline.StreamRelations} {
				if o := openOf(j.Name, stream, id); len(o) > 1 {
					t.Errorf("deleted row %d (%s) has %d open errors:%s", id, ref, len(o), describeErrors(o))
				}
			}
		}
	}
	// No row, whatever it is, has two open errors.
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range open {
			if !yield(k) {
				return
			}
		}
	})
	for _, k := range keys {
		if !checked[k] && len(open[k]) > 1 {
			t.Errorf("%s has %d open errors:%s", k, len(open[k]), describeErrors(open[k]))
		}
	}
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// checkCustomer checks the row c, the only one that gives its external id
// or the one that keeps it: in the API as in the source, or, when it cannot
// be sent, with exactly one open error o.
func (s *sim) checkCustomer(c *simClient, o []simError, customers map[string]load.Customer) {
	t, w := s.t, s.w
	got, ok := customers[c.ref]
	why := ""
	switch {
	case c.at == nil:
		why = "its updated_at is NULL"
		if len(o) == 0 && ok && len(s.compareCustomer(c, got)) == 0 {
			return // read by a documented rule
		}
	case c.problem() != "":
		why = "invalid " + c.problem()
	case c.parent != 0 && !s.accepted(customers, w.clients[c.parent].ref):
		why = "its parent " + w.clients[c.parent].ref + " is not in the API"
	}
	if why != "" {
		if len(o) != 1 {
			t.Errorf("customer %s (row %d, %s): %d open errors, want 1:%s", c.ref, c.id, why, len(o), describeErrors(o))
		}
		return
	}
	switch d := s.compareCustomer(c, got); {
	case !ok:
		t.Errorf("customer %s (row %d) is not in the API; %d open errors:%s", c.ref, c.id, len(o), describeErrors(o))
	case len(d) > 0:
		t.Errorf("customer %s (row %d) differs in the API: %v; %d open errors:%s", c.ref, c.id, d, len(o), describeErrors(o))
	case len(o) != 0:
		t.Errorf("customer %s (row %d) is in the API as in the source, with %d open errors:%s", c.ref, c.id, len(o), describeErrors(o))
	}
}

// compareCustomer returns how the API's customer differs from the row. A
// field the source leaves empty is omitted from the calls, so the API keeps
// what it had: only fields the row sets are compared. A field the API last
// had set by a call the pipeline never recorded is not (see unacked).
func (s *sim) compareCustomer(c *simClient, got load.Customer) []string {
	w := s.w
	var d []string
	diff := func(field, got, want string) {
		if got != want && !s.toleratedField(c.ref, strings.TrimSuffix(field, ".tier")) {
			d = append(d, fmt.Sprintf("%s %q, want %q", field, got, want))
		}
	}
	diff("account_type", got.AccountType, map[string]string{"person": "N", "company": "F"}[c.kind])
	if c.given != "" {
		diff("first_name", got.FirstName, c.given)
	}
	if c.family != "" {
		diff("last_name", got.LastName, c.family)
	}
	if c.legal != "" {
		diff("company_name", got.CompanyName, c.legal)
	}
	if c.birth != "" {
		diff("date_of_birth", got.DateOfBirth, c.birth)
	}
	if c.country != "" {
		diff("domicile_codes", fmt.Sprint(got.DomicileCodes), fmt.Sprint([]string{c.country}))
	}
	if c.parent != 0 {
		diff("parent_external_id", got.ParentExternalID, w.clients[c.parent].ref)
	}
	if c.tier != 0 {
		diff("kyc_level", fmt.Sprint(deref(got.KYCLevel)), fmt.Sprint(c.tier))
		var fields map[string]int
		json.Unmarshal(got.Fields, &fields)
		diff("fields.tier", fmt.Sprint(fields["tier"]), fmt.Sprint(c.tier))
	}
	diff("disabled", fmt.Sprint(deref(got.Disabled)), fmt.Sprint(c.closed))
	// The array form of review groups: the API keeps the items last sent,
	// "set" for the groups held, "del" for those removed.
	var items []struct {
		Op    string `json:"_op"`
		Value string `json:"value"`
	}
	json.Unmarshal(got.ReviewGroups, &items)
	var groups []string
	for _, it := range items {
		if it.Op == "set" {
			groups = append(groups, it.Value)
		}
	}
	sort.Strings(groups)
	diff("review_groups", fmt.Sprint(groups), fmt.Sprint(c.groups))
	return d
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// checkRuns checks every run row's counts against the record history, the
// record errors and the calls the API received.
func (s *sim) checkRuns(ctx context.Context, errs []simError) {
	t := s.t
	hist := s.history(ctx)
	calls := s.api.log()
	for _, r := range s.runs(ctx) {
		i, ok := s.runOf[r.ID]
		if !ok {
			t.Errorf("run %d was made by no step", r.ID)
			continue
		}
		st := &s.steps[i]
		name := fmt.Sprintf("run %d (step %d: %s)", r.ID, st.n, st.what)
		c := r.Counts
		if r.Status == state.StatusRunning {
			t.Errorf("%s is still running", name)
			continue
		}
		finished := r.Status == state.StatusSucceeded || r.Status == state.StatusPartial
		if finished && c.Extracted+c.Retried != c.Sent+c.Rejected+c.Invalid+c.Skipped {
			t.Errorf("%s: extracted %d + retried %d != sent %d + rejected %d + invalid %d + skipped %d",
				name, c.Extracted, c.Retried, c.Sent, c.Rejected, c.Invalid, c.Skipped)
		}
		if finished && (r.Status == state.StatusPartial) != (c.Invalid+c.Rejected > 0) {
			t.Errorf("%s: status %s with %d invalid and %d rejected", name, r.Status, c.Invalid, c.Rejected)
		}
		if finished && r.Kind == state.KindReconcile && c.Extracted != st.rows {
			t.Errorf("%s: extracted %d; the job's queries returned %d rows", name, c.Extracted, st.rows)
		}
		if finished && c.New+c.Changed != c.Sent+c.Rejected {
			t.Errorf("%s: new %d + changed %d != sent %d + rejected %d", name, c.New, c.Changed, c.Sent, c.Rejected)
		}
		if st.killed {
			continue // its counts are those of its last checkpoint
		}

		// What the run's calls did, as the API saw them.
		gone := make(map[string]bool)
		for _, ref := range st.gone {
			gone[ref] = true
		}
		apiAccepted := make(map[string]int)
		var added, warnings, disabled int64
		stored := 0
		for k := range calls {
			call := &calls[k]
			if call.step != i {
				continue
			}
			if call.stored {
				stored++
			}
			if !call.stored || !call.delivered {
				continue
			}
			acc := call.accepted()
			for id := range acc {
				if gone[id] {
					disabled++
				}
				apiAccepted[id]++
			}
			added += int64(len(call.ans.Added))
			for _, d := range call.ans.Detail {
				if acc[d.ExternalID] {
					warnings += int64(len(d.Warnings))
				}
			}
		}
		calls := r.Kind != state.KindOffline && !r.DryRun
		if !calls || r.Kind == state.KindVerify {
			if stored > 0 {
				t.Errorf("%s: the API stored %d of its calls", name, stored)
			}
		}

		histAccepted := make(map[string]int)
		var hAdded, hErrors, hDisabled int64
		for _, h := range hist {
			if h.RunID != r.ID {
				continue
			}
			switch h.Outcome {
			case state.OutcomeAdded:
				hAdded++
				histAccepted[h.ExternalID]++
			case state.OutcomeUpdated:
				histAccepted[h.ExternalID]++
			case state.OutcomeDisabled:
				hDisabled++
				histAccepted[h.ExternalID]++
				if !gone[h.ExternalID] {
					t.Errorf("%s: record_history has %s disabled, which the source held", name, h.ExternalID)
				}
			case state.OutcomeError:
				hErrors++
			}
		}
		for id, n := range histAccepted {
			if n > 1 {
				t.Errorf("%s: record_history has %s accepted %d times", name, id, n)
			}
		}
		if !calls || r.Kind == state.KindVerify {
			continue
		}
		var hSent int64
		for _, n := range histAccepted {
			hSent += int64(n)
		}
		if hSent-hDisabled != c.Sent || hAdded != c.Added || hErrors != c.Rejected {
			t.Errorf("%s: sent %d, added %d, rejected %d; record_history has %d accepted (%d added, %d disabled), %d refused",
				name, c.Sent, c.Added, c.Rejected, hSent, hAdded, hDisabled, hErrors)
		}
		if hDisabled != c.Disabled {
			t.Errorf("%s: disabled %d; record_history has %d records disabled", name, c.Disabled, hDisabled)
		}
		if disabled != c.Disabled && (r.Status == state.StatusSucceeded || r.Status == state.StatusPartial) {
			t.Errorf("%s: disabled %d; the API accepted %d records the source had deleted", name, c.Disabled, disabled)
		}
		// Calls in flight when a run stops (cancelled, failed) may have been
		// stored by the API without the run reading the answer.
		if r.Status == state.StatusSucceeded || r.Status == state.StatusPartial {
			if !maps.Equal(apiAccepted, histAccepted) {
				t.Errorf("%s: the API accepted, in answers the run read: %v; record_history: %v", name, apiAccepted, histAccepted)
			}
			if added != c.Added {
				t.Errorf("%s: added %d; the API's answers listed %d added", name, c.Added, added)
			}
			if warnings != c.Warnings {
				t.Errorf("%s: warnings %d; the API's answers held %d", name, c.Warnings, warnings)
			}
		} else {
			for id, n := range histAccepted {
				if apiAccepted[id] < n {
					t.Errorf("%s: record_history has %s accepted %d times; the API accepted it %d times in answers it wrote", name, id, n, apiAccepted[id])
				}
			}
		}
		// A run's errors are those it recorded and those it met again; a
		// row it found invalid counts once, unless the run itself settled
		// the error in the end (a row held, then released, or refused by
		// the API). It resolves the errors of earlier runs; those it
		// superseded with a newer one do not count.
		var resolved int64
		invalid := make(map[string]bool)
		for _, e := range errs {
			if e.Resolved == r.ID && e.Resolution != state.ResolutionSuperseded && e.RunID != r.ID {
				resolved++
			}
			if e.Severity != state.SeverityError || e.Stage == state.StageAPI || !e.of(r.ID) || e.Resolved == r.ID {
				continue
			}
			key := e.SourceKey
			if key == "" {
				key = fmt.Sprint("error ", e.ID)
			}
			invalid[e.Stream+"/"+key] = true
		}
		if resolved != c.Resolved {
			t.Errorf("%s: resolved %d; record_errors has %d errors of earlier runs resolved by it (not superseded)", name, c.Resolved, resolved)
		}
		if int64(len(invalid)) != c.Invalid {
			t.Errorf("%s: invalid %d; record_errors has %d rows it refused before the API", name, c.Invalid, len(invalid))
		}
	}
}

// checkResends checks that no record was stored twice with the same
// content by two runs, but when the first run stopped (killed, cancelled
// or failed) without recording that the API had accepted it.
func (s *sim) checkResends(ctx context.Context) {
	calls := s.api.log()
	sort.Slice(calls, func(i, j int) bool { return calls[i].seq < calls[j].seq })
	hist := s.history(ctx)
	recorded := make(map[string]bool) // run and external id
	for _, h := range hist {
		if h.Outcome != state.OutcomeError {
			recorded[fmt.Sprint(h.RunID, "/", h.ExternalID)] = true
		}
	}
	type last struct {
		content string
		step    int
	}
	prev := make(map[string]last)
	inFlight := make(map[int]int) // by step: records sent again because they were in flight when it stopped
	defer func() {
		for i, n := range inFlight {
			// At most twice the concurrency of chunks are in process.
			st := &s.steps[i]
			if most := 2 * st.job.Concurrency * st.job.ChunkSize; n > most {
				s.t.Errorf("step %d (%s, runs %v) stopped with %d records in flight, sent again later; at most %d chunks of %d were in process",
					st.n, st.what, st.runs, n, 2*st.job.Concurrency, st.job.ChunkSize)
			}
		}
	}()
	for k := range calls {
		call := &calls[k]
		if !call.stored {
			continue
		}
		acc := call.accepted()
		items := make(map[string]string)
		for _, c := range call.req.Customers {
			items[c.ExternalID] = jsonText(c)
		}
		for _, r := range call.req.Relations {
			items[r.RelationExternalID] = jsonText(r)
		}
		for id, content := range items {
			if !acc[id] {
				continue
			}
			p, ok := prev[id]
			prev[id] = last{content, call.step}
			if !ok || p.content != content || p.step == call.step {
				continue
			}
			first := &s.steps[p.step]
			unrecorded := true
			for _, run := range first.runs {
				if recorded[fmt.Sprint(run, "/", id)] {
					unrecorded = false
				}
			}
			if (first.stopped || first.err != nil) && unrecorded {
				inFlight[p.step]++ // in flight when its run stopped
				continue
			}
			s.t.Errorf("%s was stored twice with the same content, by step %d (%s, runs %v) and step %d (%s, runs %v): %s",
				id, first.n, first.what, first.runs, s.steps[call.step].n, s.steps[call.step].what, s.steps[call.step].runs, content)
		}
	}
}

// checkQuiet runs every job once more: with nothing changed, nothing is
// sent and no error is recorded.
func (s *sim) checkQuiet(ctx context.Context, n int) {
	before := len(s.recordErrors(ctx))
	for _, j := range s.jobs {
		st := simStep{n: n, job: j}
		s.do(ctx, &st, 0, nil, "", 0, false)
		if st.err != nil {
			s.t.Errorf("quiet run of %s: %v", j.Name, st.err)
		}
		for _, call := range s.api.log() {
			if call.step == len(s.steps)-1 && call.stored {
				s.t.Errorf("quiet run of %s: the API stored a call: %s", j.Name, jsonText(call.req))
			}
		}
	}
	if errs := s.recordErrors(ctx); len(errs) != before {
		s.t.Errorf("the quiet runs recorded %d record errors:%s", len(errs)-before, describeErrors(errs[before:]))
	}
}

// checkForecast checks that a dry reconcile foresaw what the real one,
// made right after it, did.
func (s *sim) checkForecast(ctx context.Context, dry, real *simStep) {
	if len(dry.runs) != 1 || len(real.runs) != 1 {
		s.t.Errorf("step %d: dry run %v and real run %v", dry.n, dry.runs, real.runs)
		return
	}
	d, err1 := s.env.State.Run(ctx, dry.runs[0])
	r, err2 := s.env.State.Run(ctx, real.runs[0])
	if err1 != nil || err2 != nil {
		s.t.Fatal(err1, err2)
	}
	dc, rc := d.Counts, r.Counts
	rc.Resolved, dc.Resolved = 0, 0 // a dry run resolves nothing
	rc.Warnings, dc.Warnings = 0, 0 // the API's, which a dry run does not ask
	rc.Added, dc.Added = 0, 0
	if dc != rc || d.Status != r.Status {
		s.t.Errorf("step %d: the dry run %d forecast %s %+v; the real run %d did %s %+v", dry.n, d.ID, d.Status, dc, r.ID, r.Status, rc)
	}
}

// checkIncremental checks, after a run of every job without faults and
// before the last reconcile, that the runs that follow the watermarks
// delivered every row whose last change they can see: all but changes that
// did not bump updated_at, late commits below the lookback, and rows the
// pipeline reports stuck (a reconcile delivers those).
func (s *sim) checkIncremental(ctx context.Context) {
	t, w := s.t, s.w
	s.unacked(ctx)
	customers, relations := s.api.sandbox.Customers(), s.api.sandbox.Relations()
	stuck := make(map[string]bool)
	for _, j := range s.jobs {
		for _, stream := range []string{pipeline.StreamCustomers, pipeline.StreamRelations} {
			errs, err := s.env.State.StuckErrors(ctx, j.Name, stream, j.StuckAfter)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range errs {
				stuck[stream+"/"+e.SourceKey] = true
			}
		}
	}
	key := func(stream string, id int64) string { return stream + "/" + strconv.FormatInt(id, 10) }
	// A row is due when the runs can see its last change and it can be
	// sent: valid, its own external id, not stuck, and its parent due too.
	// A parent the API may hold only from a call whose answer was lost is
	// not enough: the pipeline cannot know it is there.
	due := make(map[int64]bool)
	var isDue func(c *simClient) bool
	isDue = func(c *simClient) bool {
		if v, ok := due[c.id]; ok {
			return v
		}
		due[c.id] = false
		v := !c.hidden && c.problem() == "" && !w.dup(c) && !stuck[key(pipeline.StreamCustomers, c.id)] &&
			(c.parent == 0 || isDue(w.clients[c.parent]))
		due[c.id] = v
		return v
	}
	for _, c := range w.sorted() {
		if !isDue(c) {
			continue
		}
		got, ok := customers[c.ref]
		if !ok {
			t.Errorf("customer %s (row %d, updated_at %s) was not delivered by the runs that follow the watermark", c.ref, c.id, c.at.Format("15:04:05"))
		} else if d := s.compareCustomer(c, got); len(d) > 0 {
			t.Errorf("customer %s (row %d, updated_at %s): the runs that follow the watermark left an older version in the API: %v", c.ref, c.id, c.at.Format("15:04:05"), d)
		}
	}
	if s.relationsJob() == nil {
		return
	}
	for _, l := range w.sortedLinks() {
		if l.hidden || l.problem() != "" || stuck[key(pipeline.StreamRelations, l.id)] || !isDue(w.clients[l.company]) || !isDue(w.clients[l.party]) {
			continue
		}
		got, ok := relations[l.ref()]
		switch {
		case !ok:
			t.Errorf("relation %s (updated_at %s) was not delivered by the runs that follow the watermark", l.ref(), l.at.Format("15:04:05"))
		case (got.RelationType != simRelationTypes[l.kind] && !s.toleratedField(l.ref(), "relation_type")) ||
			((got.Disabled == nil || *got.Disabled != l.ended) && !s.toleratedField(l.ref(), "disabled")):
			t.Errorf("relation %s (updated_at %s): the runs that follow the watermark left an older version in the API: %s", l.ref(), l.at.Format("15:04:05"), jsonText(got))
		}
	}
}

// dumpErrors describes record_errors, for the story of a failed seed.
func (s *sim) dumpErrors(ctx context.Context) []string {
	out := []string{"record_errors at the end:"}
	for _, e := range s.recordErrors(ctx) {
		line := fmt.Sprintf("  #%d run %d (%s) %s/%s key %s id %s: %s %s %s", e.ID, e.RunID, e.Kind, e.Job, e.Stream, e.SourceKey, e.ExternalID, e.Severity, e.Stage, e.Code)
		if len(e.MetBy) > 0 {
			line += fmt.Sprintf(", met again by %v", []int64(e.MetBy))
		}
		if !e.Open {
			line += fmt.Sprintf(", resolved by run %d (%s)", e.Resolved, e.Resolution)
		}
		out = append(out, line)
	}
	return out
}
