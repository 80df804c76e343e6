package apply

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/keyjob/keyjob/internal/batch"
	"github.com/keyjob/keyjob/internal/journal"
	"github.com/keyjob/keyjob/internal/redistest"
	"github.com/keyjob/keyjob/planner"
)

// A hash of 50k fields is walked and changed in calls of a chunk each:
// the SLOWLOG shows the longest call of each command (a figure, not an
// assertion: the machine is shared), and every field gets its expiry and,
// after undo, none.
func TestApply_FieldsBigHash(t *testing.T) {
	m := redistest.FieldServers(t)[0]
	srv, c := startRedis(t, redistest.Options{Image: m.Image})
	// KEYJOB_FIELDS_BIG sets another size, for a figure (1000000).
	n := 50_000
	if v, err := strconv.Atoi(os.Getenv("KEYJOB_FIELDS_BIG")); err == nil && v >= 1000 {
		n = v / 1000 * 1000
	}
	now := serverNowMs(t, c) / 1000
	var cmds rueidis.Commands
	for i := 0; i < n; i += 1000 {
		h := c.B().Hset().Key("devices:big").FieldValue()
		for j := i; j < i+1000; j++ {
			h = h.FieldValue(fmt.Sprintf("seen:%d:gw%08d", now-int64(1+j%20)*86400, j), "v")
		}
		cmds = append(cmds, h.Build())
	}
	do(t, c, cmds...)
	ctx := context.Background()
	began := time.Now()
	mem, err := c.Do(ctx, c.B().MemoryUsage().Key("devices:big").Build()).AsInt64()
	memTook := time.Since(began)
	if err != nil {
		t.Fatal(err)
	}
	do(t, c, c.B().ConfigSet().ParameterValue().ParameterValue("slowlog-log-slower-than", "0").ParameterValue("slowlog-max-len", "1000000").Build(),
		c.B().SlowlogReset().Build())

	job := loadJob(t, fieldsJob)
	began = time.Now()
	plan, err := planner.Build(ctx, dial(t, srv.URL), job, planner.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("plan: %d fields walked, %d to change, in %v", plan.Fields.Walked, plan.Fields.Change, time.Since(began).Round(time.Millisecond))
	if plan.Fields.Change != int64(n) {
		t.Errorf("plan: %d fields to change, want %d", plan.Fields.Change, n)
	}
	do(t, c, c.B().SlowlogReset().Build())
	began = time.Now()
	rep := mustRun(t, dial(t, srv.URL), job, Options{StateDir: t.TempDir()})
	took := time.Since(began)
	calls, maxUs, maxCmd, byCmd := slowest(t, c)
	t.Logf("%d-field hash (%s: MEMORY USAGE %d B, answered in %v): %d fields given an expiry in %v; %d calls logged, the longest %d µs (%s); longest per command: %v; chunk %d",
		n, m.Name, mem, memTook.Round(time.Microsecond), rep.Outcomes.FieldsChanged, took.Round(time.Millisecond), calls, maxUs, maxCmd, byCmd, batch.FieldsChunk)
	if rep.Outcomes.FieldsChanged != int64(n) {
		t.Errorf("report says %d fields changed, want %d", rep.Outcomes.FieldsChanged, n)
	}
	if got := countFieldTTLs(t, c, "devices:big"); got != n {
		t.Errorf("%d fields have an expiry, want %d", got, n)
	}
	do(t, c, c.B().SlowlogReset().Build())

	// persist goes through the script that re-checks each field's expiry.
	began = time.Now()
	prep := mustRun(t, dial(t, srv.URL), loadJob(t, fieldsPersistJob), Options{StateDir: t.TempDir()})
	took = time.Since(began)
	calls, maxUs, maxCmd, byCmd = slowest(t, c)
	t.Logf("persist: %d fields in %v; %d calls logged, the longest %d µs (%s); longest per command: %v",
		prep.Outcomes.FieldsChanged, took.Round(time.Millisecond), calls, maxUs, maxCmd, byCmd)
	if prep.Outcomes.FieldsChanged != int64(n) {
		t.Errorf("persist: %d fields changed, want %d", prep.Outcomes.FieldsChanged, n)
	}
	do(t, c, c.B().SlowlogReset().Build())
	undo(t, srv.URL, prep.Journal, UndoOptions{})
	if got := countFieldTTLs(t, c, "devices:big"); got != n {
		t.Errorf("%d fields have an expiry after the persist's undo, want %d", got, n)
	}
	do(t, c, c.B().SlowlogReset().Build())
	u := undo(t, srv.URL, rep.Journal, UndoOptions{})
	calls, maxUs, maxCmd, byCmd = slowest(t, c)
	t.Logf("undo: %+v; %d calls logged, the longest %d µs (%s); longest per command: %v", u, calls, maxUs, maxCmd, byCmd)
	if got := countFieldTTLs(t, c, "devices:big"); got != 0 {
		t.Errorf("%d fields have an expiry after undo, want 0", got)
	}
}

func countFieldTTLs(t *testing.T, c rueidis.Client, key string) int {
	t.Helper()
	n := 0
	for _, f := range redistest.HashFields(t, c, key) {
		if f.ExpireMs >= 0 {
			n++
		}
	}
	return n
}

// A hash kept as a listpack above 128 fields (hash-max-listpack-entries
// raised) comes back whole from one HSCAN: it is still read and written
// 128 fields a call, one journal record each.
func TestApply_FieldsBigListpack(t *testing.T) {
	m := redistest.FieldServers(t)[0]
	srv, c := startRedis(t, redistest.Options{Image: m.Image, Args: []string{"--hash-max-listpack-entries", "1000"}})
	now := serverNowMs(t, c) / 1000
	h := c.B().Hset().Key("devices:lp").FieldValue()
	for j := range 500 {
		h = h.FieldValue(fmt.Sprintf("seen:%d:gw%03d", now-int64(1+j%20)*86400, j), "v")
	}
	do(t, c, h.Build())
	if enc, _ := c.Do(context.Background(), c.B().ObjectEncoding().Key("devices:lp").Build()).ToString(); enc != "listpack" && enc != "listpackex" {
		t.Fatalf("encoding %q, want a listpack", enc)
	}
	rep := mustRun(t, dial(t, srv.URL), loadJob(t, fieldsJob), Options{StateDir: t.TempDir()})
	if rep.Outcomes.FieldsChanged != 500 {
		t.Errorf("%d fields changed, want 500", rep.Outcomes.FieldsChanged)
	}
	jr, err := journal.Open(rep.Journal)
	if err != nil {
		t.Fatal(err)
	}
	defer jr.Close()
	var sizes []int
	if err := jr.Reverse(func(r journal.Record) error { sizes = append(sizes, len(r.Fields)); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(sizes) != 4 || slices.Max(sizes) != batch.FieldsChunk {
		t.Errorf("journal records of %v fields, want 4 of at most %d", sizes, batch.FieldsChunk)
	}
}
