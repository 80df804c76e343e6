package apply

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/keyjob/keyjob/internal/checkpoint"
	"github.com/keyjob/keyjob/internal/journal"
	"github.com/keyjob/keyjob/internal/redistest"
	"github.com/keyjob/keyjob/jobs"
)

// TestUndo_DamagedJournal: a journal cut short or with a byte flipped in
// the middle is refused before anything changes, saying where it is
// damaged and how many records are intact; with Partial the intact
// records are undone and the report says so.
func TestUndo_DamagedJournal(t *testing.T) {
	srv, c := startRedis(t, redistest.Options{})
	seedTickets(t, c, 1000)
	before := snapshot(t, c)
	job := loadJob(t, ticketJob)
	rep := mustRun(t, dial(t, srv.URL), job, Options{StateDir: t.TempDir()})
	applied := snapshot(t, c)
	data, err := os.ReadFile(rep.Journal)
	if err != nil {
		t.Fatal(err)
	}
	check, err := CheckJournal(rep.Journal)
	if err != nil {
		t.Fatal(err)
	}
	if check.State() != "whole" || check.Integrity.Trailer != journal.StatusCompleted || check.ToUndo() != rep.Outcomes.Change {
		t.Fatalf("the run's journal: %s, trailer %d, %d to undo; want whole, completed, %d", check.State(), check.Integrity.Trailer, check.ToUndo(), rep.Outcomes.Change)
	}
	write := func(b []byte) {
		t.Helper()
		if err := os.WriteFile(rep.Journal, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	flipped := append([]byte(nil), data...)
	trailer := trailerLen(data)
	flipped[middleOfLargestBatch(data)] ^= 0x40
	for _, tt := range []struct {
		name string
		data []byte
		says string
	}{
		{"CutInHalf", data[:len(data)/2], "cut short at record"},
		{"Last37Bytes", data[:len(data)-37], "records are intact"},
		// Cut at a batch's end: only the completed checkpoint's count of
		// records tells. (Its trailer alone cut is what a kill after the
		// checkpoint leaves: every record is there, and undo goes on.)
		{"LastBatchAndTrailer", data[:len(data)-trailer-trailerLen(data[:len(data)-trailer])], "records are missing"},
		{"FlippedByte", flipped, "damaged at record"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			write(tt.data)
			_, err := Undo(context.Background(), dial(t, srv.URL), rep.Journal, UndoOptions{})
			if !errors.Is(err, ErrJournalNotWhole) || !strings.Contains(err.Error(), tt.says) || !strings.Contains(err.Error(), "nothing was changed") {
				t.Errorf("undo: %v; want ErrJournalNotWhole saying %q", err, tt.says)
			}
			assertSame(t, "after a refused undo", applied, snapshot(t, c))
		})
	}

	write(flipped)
	u, err := Undo(context.Background(), dial(t, srv.URL), rep.Journal, UndoOptions{Partial: true})
	if err != nil {
		t.Fatal(err)
	}
	if !u.Partial || u.State != "not whole" || len(u.Damage) == 0 || u.Restored == 0 || u.Restored >= rep.Outcomes.Change {
		t.Fatalf("partial undo report %+v", u)
	}
	d := redistest.Diff(before, snapshot(t, c))
	if got, want := int64(len(d.Changed)), rep.Outcomes.Change-u.Restored; got != want {
		t.Errorf("%d keys still changed after the partial undo, want the damaged batch's %d", got, want)
	}

	// The journal of a killed run (no trailer, every batch whole) is
	// undone, and described as such.
	write(data)
	srv2, c2 := startRedis(t, redistest.Options{})
	seedTickets(t, c2, 300)
	before2 := snapshot(t, c2)
	state2 := t.TempDir()
	_, err = execute(interruptAfter(t, 2), t, dial(t, srv2.URL), job, Options{StateDir: state2}, Exec{}, &logBuffer{})
	if !errors.Is(err, errInterrupted) {
		t.Fatalf("err = %v, want interrupted", err)
	}
	cp := loadCheckpoint(t, state2, job.Name)
	check, err = CheckJournal(cp.Journal)
	if err != nil {
		t.Fatal(err)
	}
	if check.Integrity.Trailer != journal.StatusStopped || check.State() != "whole" {
		t.Errorf("an interrupted run's journal: trailer %d, %s; want stopped, whole", check.Integrity.Trailer, check.State())
	}
	jd, _ := os.ReadFile(cp.Journal)
	if err := os.WriteFile(cp.Journal, jd[:len(jd)-trailerLen(jd)], 0o600); err != nil { // no trailer, as a kill leaves it
		t.Fatal(err)
	}
	check, err = CheckJournal(cp.Journal)
	if err != nil {
		t.Fatal(err)
	}
	if check.State() != "no trailer" || !strings.Contains(check.Describe(), "killed") {
		t.Errorf("a killed run's journal: %s, %q", check.State(), check.Describe())
	}
	u = undo(t, srv2.URL, cp.Journal, UndoOptions{})
	if u.State != "no trailer" || u.Partial || u.Undone() != cp.Changes {
		t.Errorf("undo of a killed run's journal: %+v, want %d undone", u, cp.Changes)
	}
	assertSame(t, "after undo of a killed run", before2, snapshot(t, c2))
}

// TestResume_EditedCheckpoint: a checkpoint whose values no real run
// could have written is refused, naming the file and the field, and
// nothing is changed.
func TestResume_EditedCheckpoint(t *testing.T) {
	srv, c := startRedis(t, redistest.Options{})
	seedTickets(t, c, 1000)
	state := t.TempDir()
	job := loadJob(t, ticketJob)
	if _, err := execute(interruptAfter(t, 2), t, dial(t, srv.URL), job, Options{StateDir: state}, Exec{}, &logBuffer{}); !errors.Is(err, errInterrupted) {
		t.Fatalf("err = %v, want interrupted", err)
	}
	setHook(t, nil)
	path := checkpoint.Path(state, job.Name)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	stopped := snapshot(t, c)
	for _, tt := range []struct {
		name, field string
		edit        func(m map[string]any)
	}{
		{"CursorMax", "nodes[0].cursor 18446744073709551615 is out of range", func(m map[string]any) { node0(m)["cursor"] = "18446744073709551615" }},
		{"CursorBeyondTheNode", "nodes[0].cursor 1099511627776 is out of range for node", func(m map[string]any) { node0(m)["cursor"] = "1099511627776" }},
		{"RunStartInTheFuture", "run_start_ms 4102444800000", func(m map[string]any) { m["run_start_ms"] = 4102444800000 }},
		{"CountsDoNotAddUp", `changes (1) is less than counts["change"]`, func(m map[string]any) { m["changes"] = 1 }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var m map[string]any
			if err := json.Unmarshal(good, &m); err != nil {
				t.Fatal(err)
			}
			tt.edit(m)
			b, _ := json.Marshal(m)
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := runJob(t, dial(t, srv.URL), job, Options{StateDir: state, Resume: true})
			if !errors.Is(err, checkpoint.ErrCorrupt) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tt.field) {
				t.Errorf("resume: %v; want a corrupt checkpoint naming %s and %q", err, path, tt.field)
			}
			assertSame(t, "after a refused resume", stopped, snapshot(t, c))
		})
	}
}

// middleOfLargestBatch is a byte in the middle of the journal's largest
// frame: a batch of changes, not a marker of the ones NX left alone.
func middleOfLargestBatch(data []byte) int {
	pos := bytes.IndexByte(data, '\n') + 1
	best, bestLen := 0, 0
	for pos+5 <= len(data) {
		n := int(binary.LittleEndian.Uint32(data[pos+1:])) + 13
		if n > bestLen {
			best, bestLen = pos, n
		}
		pos += n
	}
	return best + bestLen/2
}

// trailerLen is the length of the journal's last frame, its trailer: the
// frame ends in its payload's length, and a frame is 13 bytes more.
func trailerLen(data []byte) int {
	return int(binary.LittleEndian.Uint32(data[len(data)-4:])) + 13
}

func node0(m map[string]any) map[string]any { return m["nodes"].([]any)[0].(map[string]any) }

// TestApply_RestartMidRunCountsOnce: a server restarted in the middle of a
// TTL backfill is rescanned from the start; its keys are counted once,
// those changed before the restart as changed (from the journal), not as
// already having a TTL.
func TestApply_RestartMidRunCountsOnce(t *testing.T) {
	srv, c := startRedis(t, redistest.Options{AOF: true})
	set := seedTickets(t, c, 1000)
	px := newProxy(t, srv.Addr)
	state := t.TempDir()
	job := loadJob(t, ticketJob)
	rep, log := runAcrossRestart(t, srv, px, job, Options{StateDir: state}, 6)
	if !rep.Completed || !strings.Contains(log.String(), "restart") {
		t.Fatalf("completed %v; the log does not say the server restarted:\n%s", rep.Completed, log.String())
	}
	wantChange := int64(len(set.future) + len(set.expired))
	wantScanned := wantChange + int64(len(set.withTTL)+len(set.skipped))
	if rep.Outcomes.Change != wantChange || rep.Outcomes.ChangeGrace != int64(len(set.expired)) || rep.Outcomes.Skip["ttl"] != int64(len(set.withTTL)) {
		t.Errorf("report: change %d (grace %d), ttl %d; want %d (%d), %d", rep.Outcomes.Change, rep.Outcomes.ChangeGrace, rep.Outcomes.Skip["ttl"], wantChange, len(set.expired), len(set.withTTL))
	}
	if rep.Scanned > wantScanned {
		t.Errorf("scanned %d, more than the %d string keys the job's SCAN can return", rep.Scanned, wantScanned)
	}
}

// runAcrossRestart runs job through px, restarts the server before the
// at-th batch is sent, and resumes the run when it failed.
func runAcrossRestart(t *testing.T, srv *redistest.Server, px *proxy, job *jobs.Job, o Options, at int) (*Report, *logBuffer) {
	t.Helper()
	ctx := context.Background()
	calls := 0
	setHook(t, func([]string) {
		if calls++; calls != at {
			return
		}
		if err := srv.Restart(ctx); err != nil {
			t.Error(err)
		}
		px.switchTo(srv.Addr)
	})
	var log logBuffer
	rep, err := execute(ctx, t, dial(t, px.URL()), job, o, Exec{}, &log)
	setHook(t, nil)
	if err != nil {
		t.Logf("the run failed when Redis restarted (%v); resuming", err)
		o.Resume = true
		if rep, err = execute(ctx, t, dial(t, px.URL()), job, o, Exec{}, &log); err != nil {
			t.Fatal(err)
		}
	}
	return rep, &log
}
