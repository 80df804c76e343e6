package main_test

// The run at cluster scale (issue 18): a ticket backfill on 40
// primaries in one container with the default guards and the example's
// default rate ends, never paused by a guard, with every key right. Its
// peak RSS and the plan's are logged, not asserted (timing and memory
// figures belong to make bench).

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyjob/keyjob/internal/redistest"
	"github.com/keyjob/keyjob/internal/seed"
)

const (
	scaleE2EPrimaries = 40
	scaleE2ETickets   = 60000
)

// watchRSS follows the peak resident memory of a running p (VmHWM of
// /proc/PID/status, in MiB) until it ends; the returned func gives it.
// The rusage of the ended process does not do: a child of the test
// binary records the test binary's resident memory, shared until its
// exec, as its own peak (the snapshots here make that 80–90 MiB).
func watchRSS(p *proc) func() float64 {
	var mu sync.Mutex
	peak := -1.0
	done := make(chan struct{})
	go func() {
		defer close(done)
		status := filepath.Join("/proc", strconv.Itoa(p.cmd.Process.Pid), "status")
		for !p.exited() {
			if b, err := os.ReadFile(status); err == nil {
				for _, l := range strings.Split(string(b), "\n") {
					if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
						kib, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
						mu.Lock()
						peak = max(peak, kib/1024)
						mu.Unlock()
					}
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	return func() float64 {
		<-done
		mu.Lock()
		defer mu.Unlock()
		return peak
	}
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
	planRSS := watchRSS(pl)
	wantExit(t, pl.waitUpTo(t, clusterRunTimeout), 0)

	state := filepath.Join(t.TempDir(), "state")
	began := time.Now()
	p := start(t, nil, clusterE2EApply(cl.URL, state, job)...)
	applyRSS := watchRSS(p)
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
		scaleE2EPrimaries, len(before), rep.Outcomes.Change+rep.Outcomes.ChangeGrace, took.Round(100*time.Millisecond), planRSS(), applyRSS())
}
