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
	srv, c, job, state := applyE2ETicketServer(t, 800)
	before := snapshot(t, c)

	r := keyjob(t, nil, applyE2EArgs(srv.URL, state, "--yes", job)...)
	wantExit(t, r, 0)
	cp := readCheckpoint(t, state, "ticket-ttl-backfill")
	rep := readReport(t, state, "ticket-ttl-backfill", cp.RunID)
	if rep.Journal == "" || rep.Journal != cp.Journal || !strings.Contains(r.stdout, "keyjob undo "+cp.Journal) {
		t.Fatalf("the run does not say how to undo it (journal %q)\n%s", rep.Journal, r)
	}
	applied := snapshot(t, c)

	r = keyjob(t, nil, applyE2EUndoArgs(srv.URL, cp.Journal)...)
	wantExit(t, r, 4)
	wantSame(t, "after undo refused", applied, snapshot(t, c))

	r = keyjob(t, nil, applyE2EUndoArgs(srv.URL, "--yes", cp.Journal)...)
	wantExit(t, r, 0)
	if want := "restored expiry " + strconv.FormatInt(rep.Outcomes.Change, 10); !strings.Contains(r.stdout, want) {
		t.Errorf("undo's summary does not say %q\n%s", want, r)
	}
	wantSame(t, "after undo", before, snapshot(t, c))
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
	before := snapshot(t, c)
	state := filepath.Join(t.TempDir(), "state")
	// The example as the README shows it: no flag beyond the operator's
	// confirmation.
	r := keyjob(t, nil, applyE2EArgs(srv.URL, state, "--yes", example("drop-deal-clicks.yaml"))...)
	wantExit(t, r, 0)
	cp := readCheckpoint(t, state, "drop-deal-clicks")
	after := snapshot(t, c)
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
	r = keyjob(t, nil, applyE2EUndoArgs(srv.URL, "--yes", cp.Journal)...)
	wantExit(t, r, 0)
	if !strings.Contains(r.stdout, "recreated 604") || !strings.Contains(r.stdout, "existing not overwritten 1") {
		t.Errorf("undo's summary does not count 604 recreated and 1 existing\n%s", r)
	}
	got := snapshot(t, c)
	want := map[string]redistest.KeyState{}
	for k, v := range before {
		want[k] = v
	}
	want[again] = got[again]
	if got[again].Type != "string" {
		t.Errorf("%s is a %s: undo overwrote it without --replace", again, got[again].Type)
	}
	wantSame(t, "after undo", want, got)

	r = keyjob(t, nil, applyE2EUndoArgs(srv.URL, "--yes", "--replace", cp.Journal)...)
	wantExit(t, r, 0)
	wantSame(t, "after undo --replace", before, snapshot(t, c))
}
