package main_test

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keyjob/keyjob/internal/checkpoint"
	"github.com/keyjob/keyjob/internal/redistest"
)

// killPoints is the random source of a test's kill points: from a seed
// the test logs, or $KEYJOB_KILL_SEED to repeat them.
func killPoints(t *testing.T) *rand.Rand {
	t.Helper()
	seedv := uint64(time.Now().UnixNano())
	if s := os.Getenv("KEYJOB_KILL_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("KEYJOB_KILL_SEED=%q: %v", s, err)
		}
		seedv = v
	}
	t.Logf("kill points from seed %d (KEYJOB_KILL_SEED=%d repeats them)", seedv, seedv)
	return rand.New(rand.NewPCG(seedv, 0))
}

// Killed with SIGKILL at random moments and resumed until it completes, a
// run's report says what the keyspace says: change is the number of keys
// whose state the run changed, across every invocation, and every other
// count is the uninterrupted run's on an identical server (each key once in
// scanned and in exactly one outcome). Undo of its journal then gives the
// keyspace back, byte for byte. The kill points come from a seed the test
// logs; KEYJOB_KILL_SEED=<seed> repeats them.
func TestApplyE2E_RandomKills(t *testing.T) {
	rng := killPoints(t)

	for _, tc := range []struct {
		name, job, file, rate string
		extra                 []string
		// changed says whether a key's state differs between before and after.
		changed func(before, after redistest.KeyState, ok bool) bool
	}{
		{
			name: "ExpireTickets", job: "ticket-ttl-backfill", rate: "600",
			changed: func(b, a redistest.KeyState, ok bool) bool { return ok && a.ExpireAt != b.ExpireAt },
		},
		{
			name: "DumpDelete", job: "drop-deal-clicks", file: example("drop-deal-clicks.yaml"), rate: "100",
			extra:   []string{"--allow-looser-guards"},
			changed: func(_, _ redistest.KeyState, ok bool) bool { return !ok },
		},
	} {
		kills := 2 + rng.IntN(3)
		delays := make([]time.Duration, kills)
		for i := range delays {
			delays[i] = time.Duration(150+rng.IntN(1500)) * time.Millisecond
		}
		t.Run(tc.name, func(t *testing.T) {
			a, b := redistest.Start(t, redistest.Options{}), redistest.Start(t, redistest.Options{})
			ca, cb := a.Client(t), b.Client(t)
			applyE2ESeed(t, 3000, ca, cb)
			before := snapshot(t, ca)
			values := applyE2EValues(t, ca, nil)
			dir := t.TempDir()
			job := tc.file
			if job == "" {
				job = writeJob(t, dir, "job.yaml", applyE2ETicketJob)
			}
			stateA, stateB := filepath.Join(dir, "state-a"), filepath.Join(dir, "state-b")
			args := func(url, state string, more ...string) []string {
				more = append(append(more, tc.extra...), job)
				return applyE2EArgs(url, state, append([]string{"--yes"}, more...)...)
			}

			killed, finished := 0, false
			for _, d := range delays {
				more := []string{"--rate", tc.rate}
				if _, err := os.Stat(checkpoint.Path(stateA, tc.job)); err == nil {
					more = append(more, "--resume")
				}
				p := start(t, nil, args(a.URL, stateA, more...)...)
				time.Sleep(d)
				p.cmd.Process.Signal(syscall.SIGKILL)
				r := p.wait(t)
				if r.code == 0 {
					finished = true // before the kill
					break
				}
				t.Logf("invocation %d (%v), killed after %v:\n%s", killed+1, more, d, r.stderr)
				if r.code != 128+int(syscall.SIGKILL) {
					t.Fatalf("invocation %d: exit %d, want killed\n%s", killed+1, r.code, r)
				}
				killed++
			}
			t.Logf("killed %d times at %v", killed, delays[:killed])
			if killed == 0 {
				t.Fatal("no invocation was killed: the job ran too fast to be interrupted")
			}
			// A kill may land after the run's end was committed (its
			// checkpoint says completed): then there is nothing to resume.
			cp, err := checkpoint.Load(checkpoint.Path(stateA, tc.job))
			switch {
			case err == nil && cp.Completed:
				if !finished {
					t.Log("the last kill came after the run's end was committed")
				}
				r := keyjob(t, nil, args(a.URL, stateA, "--resume")...)
				if r.code != 1 || !strings.Contains(r.stderr, "already completed") {
					t.Errorf("--resume of a completed run: exit %d, want 1 saying it already completed\n%s", r.code, r)
				}
			case err == nil:
				wantExit(t, keyjob(t, nil, args(a.URL, stateA, "--rate", "unlimited", "--resume")...), 0)
			default:
				wantExit(t, keyjob(t, nil, args(a.URL, stateA, "--rate", "unlimited")...), 0)
			}
			wantExit(t, keyjob(t, nil, args(b.URL, stateB, "--rate", "unlimited")...), 0)

			runA, runB := readCheckpoint(t, stateA, tc.job), readCheckpoint(t, stateB, tc.job)
			rep, repB := readReport(t, stateA, tc.job, runA.RunID), readReport(t, stateB, tc.job, runB.RunID)
			after := snapshot(t, ca)
			var truth int64
			for k, s := range before {
				a, ok := after[k]
				if tc.changed(s, a, ok) {
					truth++
				}
			}
			if truth == 0 || rep.Outcomes.Change != truth {
				t.Errorf("report: change %d; the keyspace: %d keys changed", rep.Outcomes.Change, truth)
			}
			if rep.Outcomes.Change != repB.Outcomes.Change || rep.Outcomes.ChangeGrace != repB.Outcomes.ChangeGrace ||
				rep.Scanned != repB.Scanned || !sameCounts(rep.Outcomes.Skip, repB.Outcomes.Skip) {
				t.Errorf("killed %d times: change %d (grace %d), scanned %d, skips %v; uninterrupted: change %d (grace %d), scanned %d, skips %v",
					killed, rep.Outcomes.Change, rep.Outcomes.ChangeGrace, rep.Scanned, rep.Outcomes.Skip,
					repB.Outcomes.Change, repB.Outcomes.ChangeGrace, repB.Scanned, repB.Outcomes.Skip)
			}
			if !rep.Completed || !rep.Resumed {
				t.Errorf("report: completed %v, resumed %v", rep.Completed, rep.Resumed)
			}

			u := keyjob(t, nil, applyE2EUndoArgs(a.URL, "--yes", runA.Journal)...)
			wantExit(t, u, 0)
			wantSame(t, "after undo", before, snapshot(t, ca))
			got := applyE2EValues(t, ca, nil)
			for k, v := range values {
				if got[k] != v {
					t.Errorf("%s: DUMP differs after undo", k)
				}
			}
		})
	}
}

// sameCounts compares two outcome maps, a missing count being zero.
func sameCounts(a, b map[string]int64) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}
