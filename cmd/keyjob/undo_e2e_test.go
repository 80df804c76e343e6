package main_test

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/keyjob/keyjob/internal/redistest"
	"github.com/keyjob/keyjob/internal/seed"
)

// applyE2EUndoArgs are the arguments every undo here takes.
func applyE2EUndoArgs(url string, more ...string) []string {
	return append([]string{"undo", "--redis", url, "--progress", "none"}, more...)
}

// keyjob undo on a TTL job's journal gives back the original keyspace
// exactly (every PEXPIRETIME -1 again); without --yes and a terminal it
// refuses and changes nothing.
func TestApplyE2E_UndoTTLJob(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	c := srv.Client(t)
	applyE2ESeed(t, 800, c)
	before := applyE2ESnapshot(t, c)
	dir := t.TempDir()
	job := applyE2EWriteJob(t, dir, applyE2ETicketJob)
	state := filepath.Join(dir, "state")

	p := applyE2ERun(t, applyE2EArgs(srv.URL, state, "--yes", job)...)
	applyE2EWantExit(t, p, 0)
	cp := applyE2ECheckpoint(t, state, "ticket-ttl-backfill")
	rep := applyE2EReport(t, state, "ticket-ttl-backfill", cp.RunID)
	if rep.Journal == "" || rep.Journal != cp.Journal || !strings.Contains(p.stdout.String(), "keyjob undo "+cp.Journal) {
		t.Fatalf("the run does not say how to undo it (journal %q)\n%s", rep.Journal, p)
	}
	applied := applyE2ESnapshot(t, c)

	p = applyE2ERun(t, applyE2EUndoArgs(srv.URL, cp.Journal)...)
	applyE2EWantExit(t, p, 4)
	applyE2EAssertSame(t, "after undo refused", applied, applyE2ESnapshot(t, c))

	p = applyE2ERun(t, applyE2EUndoArgs(srv.URL, "--yes", cp.Journal)...)
	applyE2EWantExit(t, p, 0)
	if want := "restored expiry " + strconv.FormatInt(rep.Outcomes.Change, 10); !strings.Contains(p.stdout.String(), want) {
		t.Errorf("undo's summary does not say %q\n%s", want, p)
	}
	applyE2EAssertSame(t, "after undo", before, applyE2ESnapshot(t, c))
}

// keyjob undo after examples/drop-deal-clicks.yaml (backup: dump) brings
// every deleted hash back, value and TTL; a key someone else wrote since
// is not overwritten without --replace, and is with it.
func TestApplyE2E_UndoDumpDelete(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t, redistest.Options{})
	c := srv.Client(t)
	applyE2ESeed(t, 300, c)
	if err := seed.DealClicks(ctx, c, 600); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		k := "deal:clicks:" + strconv.Itoa(1+i) + ":ttl"
		if err := c.Do(ctx, c.B().Hset().Key(k).FieldValue().FieldValue("web", "9").Build()).Error(); err != nil {
			t.Fatal(err)
		}
		if err := c.Do(ctx, c.B().Expire().Key(k).Seconds(int64(86400+i)).Build()).Error(); err != nil {
			t.Fatal(err)
		}
	}
	before := applyE2ESnapshot(t, c)
	root, err := applyE2EModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(t.TempDir(), "state")
	// The example's aof.max_growth (256MiB) is looser than the default on
	// a small server (64MiB): only the operator may accept that.
	p := applyE2ERun(t, applyE2EArgs(srv.URL, state, "--yes", "--allow-looser-guards", filepath.Join(root, "examples", "drop-deal-clicks.yaml"))...)
	applyE2EWantExit(t, p, 0)
	cp := applyE2ECheckpoint(t, state, "drop-deal-clicks")
	after := applyE2ESnapshot(t, c)
	gone := 0
	for k := range before {
		if _, ok := after[k]; !ok {
			if !strings.HasPrefix(k, "deal:clicks:") {
				t.Fatalf("%s was deleted: not selected", k)
			}
			gone++
		}
	}
	if gone != 605 {
		t.Fatalf("%d keys deleted, want 605", gone)
	}

	again := "deal:clicks:1:ttl"
	if err := c.Do(ctx, c.B().Set().Key(again).Value("new").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	p = applyE2ERun(t, applyE2EUndoArgs(srv.URL, "--yes", cp.Journal)...)
	applyE2EWantExit(t, p, 0)
	if !strings.Contains(p.stdout.String(), "recreated 604") || !strings.Contains(p.stdout.String(), "existing not overwritten 1") {
		t.Errorf("undo's summary does not count 604 recreated and 1 existing\n%s", p)
	}
	got := applyE2ESnapshot(t, c)
	want := map[string]redistest.KeyState{}
	for k, v := range before {
		want[k] = v
	}
	want[again] = got[again]
	if got[again].Type != "string" {
		t.Errorf("%s is a %s: undo overwrote it without --replace", again, got[again].Type)
	}
	applyE2EAssertSame(t, "after undo", want, got)

	p = applyE2ERun(t, applyE2EUndoArgs(srv.URL, "--yes", "--replace", cp.Journal)...)
	applyE2EWantExit(t, p, 0)
	applyE2EAssertSame(t, "after undo --replace", before, applyE2ESnapshot(t, c))
}
