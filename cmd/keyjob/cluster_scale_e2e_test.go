package main_test

// The run at cluster scale (issue 18): a ticket backfill on 40
// primaries in one container with the default guards and the example's
// default rate ends, never paused by a guard, with every key right. Its
// peak RSS and the plan's are logged, not asserted (timing and memory
// figures belong to make bench).

import (
	"context"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/keyjob/keyjob/internal/redistest"
	"github.com/keyjob/keyjob/internal/seed"
)

const (
	scaleE2EPrimaries = 40
	scaleE2ETickets   = 30000
)

// peakRSS is the peak resident memory of a run that ended, in MiB.
func (p *proc) peakRSS() float64 {
	if p.cmd.ProcessState == nil {
		return -1
	}
	ru, ok := p.cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return -1
	}
	return float64(ru.Maxrss) / 1024 // KiB on Linux
}

func TestClusterE2E_FortyPrimaries(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster of 40 primaries")
	}
	cl := redistest.StartCluster(t, scaleE2EPrimaries, 0)
	c := cl.Client(t)
	now := time.Now()
	spec := seed.TicketSpec{Count: scaleE2ETickets, Now: now, Span: 300 * 24 * time.Hour, WithTTLShare: 0.05, Seed: 18}
	if _, err := seed.Tickets(context.Background(), c, spec); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, c)
	values := clusterE2EValues(t, c, before)
	// The example as it is: default guards, default rate (5000/s).
	job := example("ticket-ttl-backfill.yaml")

	pl := start(t, nil, "plan", "--redis", cl.URL, job)
	wantExit(t, pl.waitUpTo(t, clusterRunTimeout), 0)

	state := filepath.Join(t.TempDir(), "state")
	began := time.Now()
	p := start(t, nil, clusterE2EApply(cl.URL, state, job)...)
	r := p.waitUpTo(t, clusterRunTimeout)
	took := time.Since(began)
	wantExit(t, r, 0)
	cp := readCheckpoint(t, state, "ticket-ttl-backfill")
	rep := readReport(t, state, "ticket-ttl-backfill", cp.RunID)
	// Unthrottled: no guard paused the run, not once.
	if len(rep.GuardEvents) > 0 {
		t.Errorf("guard events on the idle cluster: %v (%+v)", rep.events(), rep.GuardEvents)
	}
	clusterE2ECheckReport(t, rep, scaleE2EPrimaries)
	clusterE2EExpectTickets(t, c, before, snapshot(t, c), values, cp.RunStartMs)
	t.Logf("%d primaries, %d keys: apply changed %d in %s; peak RSS plan %.1f MiB, apply %.1f MiB",
		scaleE2EPrimaries, len(before), rep.Outcomes.Change+rep.Outcomes.ChangeGrace, took.Round(100*time.Millisecond), pl.peakRSS(), p.peakRSS())
}
