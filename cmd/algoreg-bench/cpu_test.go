package main

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/algoreg/algoreg-etl/sql/sqltest"
)

// TestCPUAddsUp checks that a step's CPU columns account for the machine's
// busy time: a query that keeps a backend of the bench's database busy
// shows in the PostgreSQL column, a process the bench does not measure in
// "other processes", and what no column holds is a small part of the busy
// time.
func TestCPUAddsUp(t *testing.T) {
	ctx := context.Background()
	db := sqltest.NewDB(t)
	if _, err := db.ExecContext(ctx, "CREATE TABLE numbers AS SELECT g FROM generate_series(1, 2000000) AS g"); err != nil {
		t.Fatal(err)
	}
	var m measure
	timer := startTimer(db.Name)
	// A process that is not this one's child: a child's CPU is its rusage.
	other := exec.Command("sh", "-c", "timeout 1 sh -c 'while :; do :; done'; true")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		var sum float64
		if err := db.GetContext(ctx, &sum, "SELECT sum(sqrt(g::float8) * ln(g::float8)) FROM numbers"); err != nil {
			t.Fatal(err)
		}
	}
	// Some CPU in this process too, as the sandbox's.
	for start := selfCPU(); selfCPU()-start < 150*time.Millisecond; {
	}
	if err := other.Wait(); err != nil {
		t.Fatal(err)
	}
	timer.stop(&m)

	if m.PostgresCPU < 100*time.Millisecond {
		t.Errorf("PostgreSQL CPU %v; want the query's, at least 100ms (%+v)", m.PostgresCPU, m)
	}
	if m.OtherCPU < 300*time.Millisecond {
		t.Errorf("other processes' CPU %v; want the second of the busy loop, at least 300ms", m.OtherCPU)
	}
	if m.SandboxCPU < 100*time.Millisecond {
		t.Errorf("this process's CPU %v; want at least 100ms", m.SandboxCPU)
	}
	busy, unseen := m.Machine.BusyCPU, m.unseenCPU()
	if busy <= 0 || unseen.Abs() > busy/4 {
		t.Errorf("busy %v, of which no column holds %v (PostgreSQL %v, server %v, this process %v, kernel %v, others %v); want at most a quarter",
			busy, unseen, m.PostgresCPU, m.ServerCPU, m.SandboxCPU, m.KernelCPU, m.OtherCPU)
	}
}
