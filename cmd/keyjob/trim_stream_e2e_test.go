package main_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/keyjob/keyjob/internal/checkpoint"
	"github.com/keyjob/keyjob/internal/redistest"
)

// examples/trim-event-streams.yaml from the command line, killed with
// SIGKILL at random moments and resumed until it completes: every stream
// holds exactly its entries at or after the cutoff of the run's start, the
// report counts each stream and each entry removed once, plan counted what
// apply removed, and undo of the journal (one DUMP per stream and
// invocation) gives every stream back DUMP-identical. The kill points come
// from a seed the test logs; KEYJOB_KILL_SEED=<seed> repeats them.
func TestApplyE2E_TrimStreamsRandomKills(t *testing.T) {
	rng := killPoints(t)
	ctx := context.Background()
	srv := redistest.Start(t, redistest.Options{})
	c := srv.Client(t)

	// 40 streams of 400 entries 1 to 20 days old (about 12,600 of them
	// older than 7 days), one all new, a hash and a string under the prefix.
	now := time.Now().UnixMilli()
	const dayMs = int64(24 * time.Hour / time.Millisecond)
	var keys []string
	var cmds rueidis.Commands
	for i := range 41 {
		k := fmt.Sprintf("events:%02d", i)
		keys = append(keys, k)
		for j := range 400 {
			age := 20*dayMs - int64(j)*19*dayMs/400
			if i == 40 {
				age = int64(400-j) * 1000 // all new
			}
			cmds = append(cmds, c.B().Xadd().Key(k).Id(fmt.Sprintf("%d-%d", now-age, j)).FieldValue().FieldValue("n", strconv.Itoa(j)).Build())
		}
	}
	cmds = append(cmds, c.B().Hset().Key("events:meta").FieldValue().FieldValue("f", "v").Build(),
		c.B().Set().Key("events:note").Value("x").Build())
	for i, r := range c.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			t.Fatalf("seed %d: %v", i, err)
		}
	}
	ids := func() map[string][]string {
		out := map[string][]string{}
		for _, k := range keys {
			xs, err := c.Do(ctx, c.B().Xrange().Key(k).Start("-").End("+").Build()).AsXRange()
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range xs {
				out[k] = append(out[k], x.ID)
			}
		}
		return out
	}
	dump := func() map[string]string {
		out := map[string]string{}
		for _, k := range append(keys, "events:meta", "events:note") {
			d, err := c.Do(ctx, c.B().Dump().Key(k).Build()).ToString()
			if err != nil {
				t.Fatal(err)
			}
			out[k] = d
		}
		return out
	}
	before, beforeIDs, beforeDumps := snapshot(t, c), ids(), dump()

	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	job := example("trim-event-streams.yaml")
	r := keyjob(t, nil, "plan", "--redis", srv.URL, "--format", "json", job)
	wantExit(t, r, 0)
	var plan struct {
		Members struct {
			Type     string `json:"type"`
			Selected int64  `json:"selected"`
			Held     int64  `json:"held"`
		} `json:"members"`
	}
	stdoutJSON(t, r, &plan)

	killed := 0
	for range 2 + rng.IntN(3) {
		more := []string{"--yes", "--rate", "3000"}
		if _, err := os.Stat(checkpoint.Path(state, "trim-event-streams")); err == nil {
			more = append(more, "--resume")
		}
		p := start(t, nil, applyE2EArgs(srv.URL, state, append(more, job)...)...)
		d := time.Duration(150+rng.IntN(1500)) * time.Millisecond
		time.Sleep(d)
		p.cmd.Process.Signal(syscall.SIGKILL)
		r := p.wait(t)
		if r.code == 0 {
			break
		} else if r.code != 128+int(syscall.SIGKILL) {
			t.Fatalf("exit %d, want killed\n%s", r.code, r)
		}
		killed++
		t.Logf("killed after %v", d)
	}
	if killed == 0 {
		t.Fatal("no invocation was killed: the job ran too fast to be interrupted")
	}
	if cp := readCheckpoint(t, state, "trim-event-streams"); !cp.Completed {
		wantExit(t, keyjob(t, nil, applyE2EArgs(srv.URL, state, "--yes", "--rate", "unlimited", "--resume", job)...), 0)
	}
	cp := readCheckpoint(t, state, "trim-event-streams")
	rep := readReport(t, state, "trim-event-streams", cp.RunID)

	cutoff := cp.RunStartMs - 7*dayMs
	after := ids()
	var removed, changed int64
	for _, k := range keys {
		var want []string
		for _, id := range beforeIDs[k] {
			var ms int64
			fmt.Sscanf(id, "%d-", &ms)
			if ms >= cutoff {
				want = append(want, id)
			}
		}
		if fmt.Sprint(after[k]) != fmt.Sprint(want) {
			t.Errorf("%s holds %d entries, want the %d at or after the cutoff", k, len(after[k]), len(want))
		}
		if n := int64(len(beforeIDs[k]) - len(want)); n > 0 {
			removed += n
			changed++
		}
	}
	o := rep.Outcomes
	if o.MembersRemoved != removed || o.Change != changed || o.Skip["no_members"] != 1 || rep.Scanned != 41 {
		t.Errorf("killed %d times: report %d scanned, %+v; the streams: %d changed, %d entries removed", killed, rep.Scanned, o, changed, removed)
	}
	if plan.Members.Type != "stream" || plan.Members.Held != 40*400 || plan.Members.Selected < removed-50 || plan.Members.Selected > removed+50 {
		t.Errorf("plan: %+v, apply removed %d", plan.Members, removed)
	}
	if a := snapshot(t, c); a["events:meta"] != before["events:meta"] || a["events:note"] != before["events:note"] {
		t.Error("a key of another type under the prefix changed")
	}

	wantExit(t, keyjob(t, nil, "undo", "--redis", srv.URL, "--progress", "none", "--yes", cp.Journal), 0)
	wantSame(t, "after undo", before, snapshot(t, c))
	for k, d := range dump() {
		if beforeDumps[k] != d {
			t.Errorf("%s: DUMP differs after undo", k)
		}
	}
}
