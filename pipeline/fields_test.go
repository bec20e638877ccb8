package pipeline_test

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/algoreg/algoreg-etl/configs"
	"github.com/algoreg/algoreg-etl/state"
	"github.com/algoreg/algoreg-etl/transform"
)

// The optional fields the config names are those transform may drop.
func TestOptionalFieldsAgree(t *testing.T) {
	a, b := append([]string(nil), configs.OptionalFields...), append([]string(nil), transform.OptionalFields...)
	sort.Strings(a)
	sort.Strings(b)
	if strings.Join(a, ",") != strings.Join(b, ",") {
		t.Errorf("configs.OptionalFields %v, transform.OptionalFields %v", a, b)
	}
}

// With account_types, a blank kind is a record error, not a customer sent
// without a type. An invalid optional field is dropped with a recorded
// warning under the default on_invalid_field (the customer is screened
// without it), and refuses the row under reject.
func TestFieldPolicy(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	at := time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)
	f.exec(t, `INSERT INTO clients (client_ref, kind, family_name, updated_at) VALUES ('K-blank', '', 'Blank', $1), ('K-space', '  ', 'Space', $1)`, at)
	f.exec(t, `INSERT INTO clients (client_ref, kind, given_name, family_name, birth_date, residence_country, risk_tier, phone, updated_at)
		VALUES ('D-future', 'person', 'Noah', 'Brunner', '2999-01-01', 'U S', -1, '+41 44 000 00 00', $1)`, at)

	res := f.run(t)
	counted(t, res)
	if res.Status != state.StatusPartial || res.Counts.Sent != 1 || res.Counts.Invalid != 2 || res.Counts.Warnings != 4 {
		// Three fields dropped, and the API's warning about an individual
		// without a date of birth.
		t.Errorf("run: %s %+v; want partial, 1 sent, 2 invalid, 4 warnings", res.Status, res.Counts)
	}
	for _, id := range []string{"K-blank", "K-space"} {
		if c, ok := f.api.Customer(id); ok {
			t.Errorf("%s was sent, with account_type %q", id, c.AccountType)
		}
	}
	c, ok := f.api.Customer("D-future")
	if !ok {
		t.Fatal("D-future, born in 2999, was not sent: it is left out of screening")
	}
	if c.LastName != "Brunner" || c.DateOfBirth != "" || c.DomicileCodes != nil || c.KYCLevel != nil || c.Phone != "+41 44 000 00 00" {
		t.Errorf("D-future arrived as %+v; want it without date_of_birth, domicile_codes and kyc_level", c)
	}
	errs, err := f.env.State.RecordErrorsOfRun(ctx, res.RunID)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range errs {
		got[e.ExternalID+" "+e.Field+" "+e.Code] = e.Severity + " " + e.Stage
		if e.ExternalID == "D-future" && e.Field == "date_of_birth" && (!strings.Contains(e.Message, "2999-01-01") || !strings.Contains(e.Message, "sent without date_of_birth")) {
			t.Errorf("warning message %q", e.Message)
		}
	}
	for key, want := range map[string]string{
		"K-blank account_type missing":                 "error transform",
		"K-space account_type missing":                 "error transform",
		"D-future date_of_birth date_in_future":        "warning transform",
		"D-future domicile_codes invalid_country_code": "warning transform",
		"D-future kyc_level negative_integer":          "warning transform",
		"D-future  missing_date_of_birth":              "warning api",
	} {
		if got[key] != want {
			t.Errorf("record error %q: %q, want %q (all: %v)", key, got[key], want, got)
		}
	}
	// The warnings were recorded when the customer was sent: an unchanged
	// re-read sends nothing and records nothing new.
	f.exec(t, `UPDATE clients SET updated_at = $1 WHERE client_ref = 'D-future'`, at.Add(time.Second))
	again := f.run(t)
	if again.Counts.Sent != 0 || again.Counts.Warnings != 0 {
		t.Errorf("second run: %+v", again.Counts)
	}

	// Under reject, the date of birth refuses the row.
	f.job.OnInvalidField["date_of_birth"] = configs.InvalidFieldReject
	f.exec(t, `INSERT INTO clients (client_ref, kind, family_name, birth_date, updated_at) VALUES ('D-reject', 'person', 'Rejected', '2999-01-01', $1)`, at.Add(time.Hour))
	res = f.run(t)
	if _, ok := f.api.Customer("D-reject"); ok {
		t.Errorf("under reject, D-reject was sent: %+v", res.Counts)
	}
	errs, err = f.env.State.RecordErrorsOfRun(ctx, res.RunID)
	if err != nil {
		t.Fatal(err)
	}
	refused := false
	for _, e := range errs {
		refused = refused || (e.ExternalID == "D-reject" && e.Code == transform.CodeDateInFuture && e.Severity == state.SeverityError)
	}
	if !refused {
		t.Errorf("under reject, no date_in_future error for D-reject: %+v", errs)
	}
}
