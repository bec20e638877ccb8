package algoregtest_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/algoreg/algoreg-etl/load/algoregtest"
)

// get asks h for path and decodes its JSON answer into v.
func get(t *testing.T, h http.Handler, path string, v any) int {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	if w.Code == http.StatusOK {
		if err := json.Unmarshal(w.Body.Bytes(), v); err != nil {
			t.Fatalf("GET %s: %v in %s", path, err, w.Body)
		}
	}
	return w.Code
}

func TestCallsAndCallLog(t *testing.T) {
	h := algoregtest.NewHandler(token)
	var log bytes.Buffer
	h.SetCallLog(&log)
	save(t, h, `{"customers":[{"external_id":"P","account_type":"F","company_name":"Parent"},{"external_id":"X","account_type":"Q"}],"disable_risk_scan":true}`)
	h.FailNext(1, algoregtest.Fault{StatusCode: http.StatusServiceUnavailable})
	call(t, h, oneCustomer, nil)
	call(t, h, oneCustomer, func(r *http.Request) { r.Header.Set("Authorization", "Bearer wrong") })
	h.Poison("C1", "bad record")
	call(t, h, oneCustomer, nil)

	calls := h.Calls()
	type seen struct {
		status, customers, rejected int
		riskScan                    *bool
		error                       string
	}
	want := []seen{
		{200, 2, 1, ptr(true), ""},
		{503, 0, 0, nil, "injected fault: 503 Service Unavailable"},
		{401, 0, 0, nil, "missing or invalid bearer token"},
		{400, 1, 0, ptr(false), `customers[0] external_id "C1" is refused: bad record`},
	}
	if len(calls) != len(want) {
		t.Fatalf("%d calls listed, want %d: %+v", len(calls), len(want), calls)
	}
	for i, c := range calls {
		got := seen{c.Status, c.Customers, c.Rejected, c.DisableRiskScan, c.Error}
		w := want[i]
		if got.status != w.status || got.customers != w.customers || got.rejected != w.rejected || got.error != w.error ||
			(got.riskScan == nil) != (w.riskScan == nil) || (got.riskScan != nil && *got.riskScan != *w.riskScan) {
			t.Errorf("call %d: %+v, want %+v", i, c, w)
		}
		if c.Method != http.MethodPost || c.Bytes == 0 || c.Time.IsZero() {
			t.Errorf("call %d: %+v; want the method, the body's size and the time", i, c)
		}
	}

	// The log holds the same calls, one JSON object per line.
	sc := bufio.NewScanner(&log)
	var logged []algoregtest.Call
	for sc.Scan() {
		var c algoregtest.Call
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		logged = append(logged, c)
	}
	if len(logged) != len(calls) {
		t.Fatalf("%d calls logged, %d listed", len(logged), len(calls))
	}
	for i := range logged {
		if logged[i].Status != calls[i].Status || logged[i].Bytes != calls[i].Bytes || !logged[i].Time.Equal(calls[i].Time) {
			t.Errorf("logged %+v, listed %+v", logged[i], calls[i])
		}
	}

	h.Reset()
	if n := len(h.Calls()); n != 0 {
		t.Errorf("%d calls listed after Reset", n)
	}
}

func TestInspector(t *testing.T) {
	h := algoregtest.NewHandler(token)
	save(t, h, `{"customers":[{"external_id":"B","account_type":"F","company_name":"Bee"},{"external_id":"A","account_type":"F","company_name":"Ay"}],
		"relations":[{"relation_external_id":"R","parent_customer_external_id":"A","child_customer_external_id":"B","relation_type":1}]}`)
	in := h.Inspector()

	var customers []struct {
		CustomerID  int64  `json:"customer_id"`
		ExternalID  string `json:"external_id"`
		CompanyName string `json:"company_name"`
	}
	if code := get(t, in, "/_sandbox/customers", &customers); code != http.StatusOK {
		t.Fatalf("GET customers: %d", code)
	}
	if len(customers) != 2 || customers[0].ExternalID != "A" || customers[0].CompanyName != "Ay" || customers[0].CustomerID != 2 || customers[1].CustomerID != 1 {
		t.Errorf("customers %+v; want A (customer_id 2) then B (1), with their fields", customers)
	}
	var relations []struct {
		ID     string `json:"relation_external_id"`
		Parent string `json:"parent_customer_external_id"`
	}
	if get(t, in, "/_sandbox/relations", &relations); len(relations) != 1 || relations[0].ID != "R" || relations[0].Parent != "A" {
		t.Errorf("relations %+v", relations)
	}
	var calls []algoregtest.Call
	if get(t, in, "/_sandbox/calls", &calls); len(calls) != 1 || calls[0].Customers != 2 || calls[0].Relations != 1 {
		t.Errorf("calls %+v", calls)
	}
	if code := get(t, in, "/_sandbox/nothing", nil); code != http.StatusNotFound {
		t.Errorf("GET an unknown listing: %d, want 404", code)
	}
	w := httptest.NewRecorder()
	in.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/_sandbox/customers", strings.NewReader("{}")))
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST to a listing: %d, want 405", w.Code)
	}
	// Listing is not a call of the API: it is not listed among the calls.
	if n := len(h.Calls()); n != 1 {
		t.Errorf("%d calls after listing, want 1", n)
	}
}

func TestFailFor(t *testing.T) {
	h := algoregtest.NewHandler(token)
	h.FailFor(200*time.Millisecond, algoregtest.Fault{StatusCode: http.StatusBadGateway})
	if a := call(t, h, oneCustomer, nil); a.status != http.StatusBadGateway {
		t.Errorf("during the outage: %d, want 502", a.status)
	}
	time.Sleep(250 * time.Millisecond)
	if a := call(t, h, oneCustomer, nil); a.status != http.StatusOK {
		t.Errorf("after the outage: %d, want 200", a.status)
	}
}

// An outage from the first call starts with it, however late it comes.
func TestFailFromFirstCall(t *testing.T) {
	h := algoregtest.NewHandler(token)
	h.FailFromFirstCall(200*time.Millisecond, algoregtest.Fault{StatusCode: http.StatusBadGateway})
	time.Sleep(250 * time.Millisecond)
	if a := call(t, h, oneCustomer, nil); a.status != http.StatusBadGateway {
		t.Errorf("the first call: %d, want 502", a.status)
	}
	time.Sleep(250 * time.Millisecond)
	if a := call(t, h, oneCustomer, nil); a.status != http.StatusOK {
		t.Errorf("after the outage: %d, want 200", a.status)
	}
}

// The calls Calls keeps hold what the body held, not the body: a sandbox
// serving a benchmark of millions of records stays small.
func TestCallsKeepNoBody(t *testing.T) {
	h := algoregtest.NewHandler(token)
	h.SetFast(true)
	var b strings.Builder
	b.WriteString(`{"customers":[`)
	for i := range 500 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"external_id":"C%d","account_type":"N","first_name":"Anna %d","last_name":"Example","nationality_codes":["FR","DE"],"comment":"%s"}`,
			i, i, strings.Repeat("x", 200))
	}
	b.WriteString(`],"disable_risk_scan":true}`)
	body := b.String()

	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	const calls = 200 // 100,000 customers, 27 MB of bodies
	for range calls {
		save(t, h, body)
	}
	grown := int64(heap()) - int64(before)
	if grown > 8<<20 {
		t.Errorf("the heap grew by %.1f MiB after %d calls of %d bytes: calls are kept with their bodies", float64(grown)/(1<<20), calls, len(body))
	}
	listed := h.Calls()
	if len(listed) != calls || listed[0].DisableRiskScan == nil || !*listed[0].DisableRiskScan || listed[0].Customers != 500 {
		t.Errorf("calls listed: %d, the first %+v; want %d calls of 500 customers with disable_risk_scan", len(listed), listed[0], calls)
	}
}
