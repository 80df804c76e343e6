package main_test

// The guards end to end: the built binary run as an operator runs it,
// against real servers each pushed past one guard's level while the run
// goes on (maxmemory, evictions, a fork, the AOF, a filling disk, a
// paused replica, a server that stops answering PING), and a server that
// hides CONFIG. loopback and startGuards, which need no server, are
// tested in guards_test.go.
//
// Runs are slowed with limits.rate so that the test can act while they go
// on ("mid-run": a few hundred changes made, past the limiter's first
// burst). Nothing here asserts a duration: the tests wait for what the
// run logs and count keys.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/keyjob/keyjob/internal/checkpoint"
	"github.com/keyjob/keyjob/internal/redistest"
	"github.com/keyjob/keyjob/internal/redisx"
	"github.com/keyjob/keyjob/internal/seed"
)

// guardE2EApply is the command line of a guarded run without a terminal,
// logging JSON lines on stderr.
func guardE2EApply(job, url, state string, more ...string) []string {
	return append([]string{"apply", job, "--yes", "--progress", "log", "--log-format", "json", "--state-dir", state, "--redis", url}, more...)
}

// guardE2ELog is one JSON log line of stderr.
type guardE2ELog struct {
	Msg    string `json:"msg"`
	Guard  string `json:"guard"`
	Reason string `json:"reason"`
}

// guardE2ELogs reads the JSON log lines the run wrote so far.
func guardE2ELogs(p *proc) []guardE2ELog {
	var out []guardE2ELog
	for _, line := range strings.Split(p.stderr.String(), "\n") {
		var l guardE2ELog
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg != "" {
			out = append(out, l)
		}
	}
	return out
}

// guardE2EPausedBy says whether the last change of the guards' state the
// run logged is a pause by guard.
func guardE2EPausedBy(p *proc, guard string) bool {
	paused := false
	for _, l := range guardE2ELogs(p) {
		switch l.Msg {
		case "guards: paused":
			paused = l.Guard == guard
		case "guards: continuing":
			paused = false
		}
	}
	return paused
}

// guardE2EPauses counts the "guards: paused" lines of guard.
func guardE2EPauses(p *proc, guard string) int {
	n := 0
	for _, l := range guardE2ELogs(p) {
		if l.Msg == "guards: paused" && l.Guard == guard {
			n++
		}
	}
	return n
}

// guardE2EExpireJob gives every key matching "g:*" without a TTL one of an
// hour, at rate changes a second.
func guardE2EExpireJob(rate string, scanCount int, guards string) string {
	return fmt.Sprintf(`version: 1
name: guard-e2e
select:
  match: "g:*"
  ttl: none
action:
  expire:
    ttl: 1h
limits:
  rate: %s
  scan_count: %d
%s`, rate, scanCount, guards)
}

// guardE2EDeleteJob deletes every key matching "g:*", at rate deletes a
// second.
func guardE2EDeleteJob(rate string, scanCount int, guards string) string {
	return fmt.Sprintf(`version: 1
name: guard-e2e
select:
  match: "g:*"
action:
  delete: {}
backup: none
limits:
  rate: %s
  scan_count: %d
%s`, rate, scanCount, guards)
}

// guardE2ESeed writes n string keys prefix000000xxx…, keyLen bytes long,
// with values of valueLen bytes, without a TTL.
func guardE2ESeed(t *testing.T, c rueidis.Client, prefix string, n, keyLen, valueLen int) {
	t.Helper()
	value := strings.Repeat("v", valueLen)
	cmds := make(rueidis.Commands, 0, 1000)
	flush := func() {
		for _, r := range c.DoMulti(context.Background(), cmds...) {
			if err := r.Error(); err != nil {
				t.Fatalf("seed: %v", err)
			}
		}
		cmds = cmds[:0]
	}
	for i := range n {
		k := fmt.Sprintf("%s%06d", prefix, i)
		if len(k) < keyLen {
			k += strings.Repeat("x", keyLen-len(k))
		}
		cmds = append(cmds, c.B().Set().Key(k).Value(value).Build())
		if len(cmds) == cap(cmds) {
			flush()
		}
	}
	flush()
}

func guardE2EDo(t *testing.T, c rueidis.Client, args ...string) rueidis.RedisResult {
	t.Helper()
	r := c.Do(context.Background(), c.B().Arbitrary(args...).Build())
	if err := r.Error(); err != nil {
		t.Fatalf("%s: %v", strings.Join(args, " "), err)
	}
	return r
}

// guardE2EInfo reads INFO (the default sections, in one reply).
func guardE2EInfo(t *testing.T, c rueidis.Client) map[string]string {
	t.Helper()
	s, err := c.Do(context.Background(), c.B().Info().Build()).ToString()
	if err != nil {
		t.Fatalf("INFO: %v", err)
	}
	return redisx.ParseInfo(s)
}

func guardE2EInt(info map[string]string, name string) int64 { return redisx.ParseInt(info[name]) }

// guardE2EAOFSize is the AOF's size with what the server holds in its AOF
// buffer: appendfsync everysec delays writes while a background fsync is
// slow, so aof_current_size alone lags what the server acknowledged.
func guardE2EAOFSize(t *testing.T, c rueidis.Client) int64 {
	t.Helper()
	info := guardE2EInfo(t, c)
	return guardE2EInt(info, "aof_current_size") + guardE2EInt(info, "aof_buffer_length")
}

// guardE2EExpires is the number of keys with a TTL in db 0, from an INFO.
func guardE2EExpires(info map[string]string) int64 {
	for _, k := range redisx.Keyspace(info) {
		if k.DB == 0 {
			return k.Expires
		}
	}
	return 0
}

// guardE2EHeld is the count of keys with a TTL once a pause has taken
// hold: the batches already sent when the guard paused (up to the
// pipeline's depth) still land after the pause is announced, so the count
// is read until two readings 300 ms apart agree. A run that does not stop
// never agrees and fails the test.
func guardE2EHeld(t *testing.T, c rueidis.Client) int64 {
	t.Helper()
	last := guardE2EExpires(guardE2EInfo(t, c))
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		time.Sleep(300 * time.Millisecond)
		now := guardE2EExpires(guardE2EInfo(t, c))
		if now == last {
			return now
		}
		last = now
	}
	t.Fatalf("keys kept changing for 10 s after the pause (%d with a TTL now)", last)
	return 0
}

func guardE2ENoCheckpoint(t *testing.T, state, job string) {
	t.Helper()
	if _, err := checkpoint.Load(checkpoint.Path(state, job)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("checkpoint: %v, want none (nothing started)", err)
	}
}

// guardE2EFill writes values of size bytes under new fill:N keys until
// enough says so, the run p ends, or a write fails. It returns the keys
// the server acknowledged.
func guardE2EFill(t *testing.T, c rueidis.Client, p *proc, size int, enough func() bool) []string {
	t.Helper()
	value := strings.Repeat("f", size)
	var acked []string
	for i := 0; !enough(); i++ {
		if p != nil && p.exited() {
			break
		}
		k := fmt.Sprintf("fill:%d:%d", time.Now().UnixNano(), i)
		if err := c.Do(context.Background(), c.B().Set().Key(k).Value(value).Build()).Error(); err != nil {
			t.Fatalf("fill: SET %s: %v", k, err)
		}
		acked = append(acked, k)
		if i > 100000 {
			t.Fatal("fill: never enough")
		}
	}
	return acked
}

// TestGuardE2E_MemoryRefusesAtStart: maxmemory just above used_memory,
// past the pause level. apply refuses before the first change (exit 3)
// and names --from-high-memory; a delete job, which frees memory, runs.
func TestGuardE2E_MemoryRefusesAtStart(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	c := srv.Client(t)
	guardE2ESeed(t, c, "g:", 2000, 40, 200)
	used := guardE2EInt(guardE2EInfo(t, c), "used_memory")
	guardE2EDo(t, c, "CONFIG", "SET", "maxmemory", strconv.FormatInt(used*100/95, 10))
	before := snapshot(t, c)

	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	job := writeJob(t, dir, "guard-e2e.yaml", guardE2EExpireJob("unlimited", 100, ""))
	r := keyjob(t, nil, guardE2EApply(job, srv.URL, state)...)
	wantExit(t, r, 3)
	for _, want := range []string{"above the pause level", "--from-high-memory"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr does not say %q\n%s", want, r)
		}
	}
	wantSame(t, "refused at the start", before, snapshot(t, c))
	guardE2ENoCheckpoint(t, state, "guard-e2e")

	// A delete job is never refused for memory.
	del := writeJob(t, dir, "guard-e2e-delete.yaml", `version: 1
name: guard-e2e-delete
select:
  match: "g:0001*"
action:
  delete: {}
backup: none
`)
	r = keyjob(t, nil, guardE2EApply(del, srv.URL, state)...)
	wantExit(t, r, 0)
	after := snapshot(t, c)
	for k := range before {
		_, kept := after[k]
		if deleted := strings.HasPrefix(k, "g:0001"); deleted == kept {
			t.Fatalf("%s: kept %v after deleting g:0001*", k, kept)
		}
	}
}

// TestGuardE2E_MemoryMidRun: a writer pushes used_memory to the pause
// level while the run goes on (it pauses: nothing changes), then to the
// abort level (exit 3, checkpoint written, resumable).
func TestGuardE2E_MemoryMidRun(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	c := srv.Client(t)
	const keys = 3000
	guardE2ESeed(t, c, "g:", keys, 40, 1000)
	used := guardE2EInt(guardE2EInfo(t, c), "used_memory")
	maxmemory := used * 10 / 7 // 70% at the start
	guardE2EDo(t, c, "CONFIG", "SET", "maxmemory", strconv.FormatInt(maxmemory, 10))

	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	job := writeJob(t, dir, "guard-e2e.yaml", guardE2EExpireJob("200", 50, ""))
	p := start(t, nil, guardE2EApply(job, srv.URL, state)...)
	p.waitFor(t, "mid-run", func() bool { return guardE2EExpires(guardE2EInfo(t, c)) >= 300 })

	usedAbove := func(share float64) func() bool {
		return func() bool {
			return float64(guardE2EInt(guardE2EInfo(t, c), "used_memory")) >= share*float64(maxmemory)
		}
	}
	guardE2EFill(t, c, p, 8<<10, usedAbove(0.92))
	p.waitFor(t, "a memory pause", func() bool { return guardE2EPauses(p, "memory") > 0 })
	paused := guardE2EHeld(t, c)
	guardE2EFill(t, c, p, 8<<10, usedAbove(0.965))
	wantExit(t, p.wait(t), 3)

	rep := onlyReport(t, state, "guard-e2e")
	if rep.Completed || !strings.Contains(rep.Stopped, "memory") || !rep.has("pause memory") || !rep.has("abort memory") {
		t.Fatalf("report: %+v, want a memory pause, then a memory abort", rep)
	}
	cp := readCheckpoint(t, state, "guard-e2e")
	now := guardE2EExpires(guardE2EInfo(t, c))
	if cp.Completed || cp.Changes != now || now != paused || now >= keys {
		t.Fatalf("checkpoint: completed %v, %d changes; %d keys with a TTL now, %d when it paused: want the pause to have held until the abort",
			cp.Completed, cp.Changes, now, paused)
	}
}

// TestGuardE2E_Evictions: allkeys-lru with a tight maxmemory; a writer
// makes the server evict while a delete job runs (which memory levels do
// not stop): the run aborts, naming evictions.
func TestGuardE2E_Evictions(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{Policy: "allkeys-lru"})
	c := srv.Client(t)
	const keys = 3000
	guardE2ESeed(t, c, "g:", keys, 40, 1000)
	used := guardE2EInt(guardE2EInfo(t, c), "used_memory")
	guardE2EDo(t, c, "CONFIG", "SET", "maxmemory", strconv.FormatInt(used*10/7, 10))

	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	job := writeJob(t, dir, "guard-e2e.yaml", guardE2EDeleteJob("200", 50, ""))
	p := start(t, nil, guardE2EApply(job, srv.URL, state)...)
	dbsize := func() int64 {
		n, err := c.Do(context.Background(), c.B().Dbsize().Build()).AsInt64()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	p.waitFor(t, "mid-run", func() bool { return dbsize() <= keys-300 })
	guardE2EFill(t, c, p, 16<<10, func() bool { return guardE2EInt(guardE2EInfo(t, c), "evicted_keys") > 0 })
	wantExit(t, p.wait(t), 3)
	rep := onlyReport(t, state, "guard-e2e")
	if rep.Completed || !strings.Contains(rep.Stopped, "evictions") || !strings.Contains(rep.Stopped, "evicted_keys grew") {
		t.Fatalf("report: %+v, want an evictions abort", rep)
	}
	if rep.has("pause memory") {
		t.Errorf("a delete job paused for memory: %v", rep.events())
	}
	if cp := readCheckpoint(t, state, "guard-e2e"); cp.Completed || cp.Changes == 0 {
		t.Fatalf("checkpoint: completed %v after %d changes", cp.Completed, cp.Changes)
	}
}

// guardE2EEndFork ends the forked child (BGSAVE or AOF rewrite) by its
// pid with SIGUSR1, the signal Redis itself uses to cancel a fork: the
// server logs it and keeps its last save status ok. CONFIG SET
// rdb-key-save-delay 0 cannot end it: the child has its own copy.
func guardE2EEndFork(t *testing.T, srv *redistest.Server, title string) {
	t.Helper()
	ctx := context.Background()
	out, err := srv.Exec(ctx, "ps", "-o", "pid,args")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 1 && strings.Contains(line, title) {
			if _, err := srv.Exec(ctx, "kill", "-USR1", f[0]); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("no %s process in the container:\n%s", title, out)
}

// TestGuardE2E_Forks: a run started during a BGSAVE (or an AOF rewrite)
// changes nothing while the fork lasts, and completes once it ends.
func TestGuardE2E_Forks(t *testing.T) {
	for _, fork := range []struct {
		cmd, field, title string
	}{
		{"BGSAVE", "rdb_bgsave_in_progress", "redis-rdb-bgsave"},
		{"BGREWRITEAOF", "aof_rewrite_in_progress", "redis-aof-rewrite"},
	} {
		t.Run(fork.cmd, func(t *testing.T) {
			srv := redistest.Start(t, redistest.Options{AOF: true})
			c := srv.Client(t)
			const keys = 1500
			guardE2ESeed(t, c, "g:", keys, 40, 100)
			// 0.1 s a key: the fork lasts until the test ends it.
			guardE2EDo(t, c, "CONFIG", "SET", "rdb-key-save-delay", "100000")
			guardE2EDo(t, c, fork.cmd)
			if guardE2EInfo(t, c)[fork.field] != "1" {
				t.Fatalf("%s not in progress", fork.cmd)
			}
			dir := t.TempDir()
			state := filepath.Join(dir, "state")
			job := writeJob(t, dir, "guard-e2e.yaml", guardE2EExpireJob("unlimited", 100, ""))
			p := start(t, nil, guardE2EApply(job, srv.URL, state)...)
			p.waitFor(t, "a fork pause", func() bool { return guardE2EPauses(p, "fork") > 0 })
			// While the fork goes on, nothing changes: INFO reads the fork
			// and the keyspace in one reply.
			for range 5 {
				info := guardE2EInfo(t, c)
				if info[fork.field] != "1" {
					t.Fatalf("the fork ended by itself")
				}
				if n := guardE2EExpires(info); n != 0 {
					t.Fatalf("%d keys changed during the %s", n, fork.cmd)
				}
				time.Sleep(200 * time.Millisecond)
			}
			guardE2EDo(t, c, "CONFIG", "SET", "rdb-key-save-delay", "0")
			guardE2EEndFork(t, srv, fork.title)
			r := p.wait(t)
			wantExit(t, r, 0)
			if n := guardE2EExpires(guardE2EInfo(t, c)); n != keys {
				t.Fatalf("%d keys with a TTL, want %d", n, keys)
			}
			rep := onlyReport(t, state, "guard-e2e")
			if !rep.Completed || !rep.has("pause fork") || !rep.has("resume fork") {
				t.Fatalf("report: %+v (%v), want a fork pause and its end", rep, rep.events())
			}
			if !strings.Contains(r.stdout, "in progress") {
				t.Errorf("the summary does not warn of the fork in progress\n%s", r)
			}
		})
	}
}

// TestGuardE2E_AOFGrowth: a delete job with aof.max_growth 1MiB (tighter
// than the default, so allowed) on an AOF server, with more deletes than
// that: it aborts mid-run with a checkpoint, its AOF growth within one
// batch of the level even at an unlimited rate. The way on: raise the
// level in the job file and --resume; the checkpoint is bound to what the
// job does to keys, not to its guard levels.
func TestGuardE2E_AOFGrowth(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{AOF: true})
	c := srv.Client(t)
	const keys, keyLen, scanCount = 8000, 150, 1000
	guardE2ESeed(t, c, "g:", keys, keyLen, 10) // UNLINK of a key: 173 bytes of AOF; 1.4MB in all
	jobText := func(growth string) string {
		return guardE2EDeleteJob("unlimited", scanCount, "guards:\n  aof:\n    max_growth: "+growth+"\n")
	}
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	job := writeJob(t, dir, "guard-e2e.yaml", jobText("1MiB"))
	aof0 := guardE2EAOFSize(t, c)
	r := keyjob(t, nil, guardE2EApply(job, srv.URL, state)...)
	wantExit(t, r, 3)
	grown := guardE2EAOFSize(t, c) - aof0
	info := guardE2EInfo(t, c)
	var remaining int64
	for _, k := range redisx.Keyspace(info) {
		if k.DB == 0 {
			remaining = k.Keys
		}
	}
	batch := int64(scanCount * (keyLen + 23))
	if grown > 1<<20+batch {
		t.Errorf("the AOF grew by %d bytes, more than aof.max_growth (%d) plus one batch (%d)", grown, 1<<20, batch)
	}
	if remaining == 0 || remaining == keys {
		t.Fatalf("%d keys left of %d: want an abort mid-run\n%s", remaining, keys, r)
	}
	rep := onlyReport(t, state, "guard-e2e")
	if rep.Completed || !strings.Contains(rep.Stopped, "aof") || !strings.Contains(rep.Stopped, "aof.max_growth is 1.0 MiB") {
		t.Fatalf("report: %+v, want an aof abort", rep)
	}
	if cp := readCheckpoint(t, state, "guard-e2e"); cp.Completed || cp.Changes != keys-remaining {
		t.Fatalf("checkpoint: completed %v, %d changes; want %d", cp.Completed, cp.Changes, keys-remaining)
	}
	if !strings.Contains(hint(t, r, "resume"), " --resume ") {
		t.Errorf("the run does not say how to resume\n%s", r)
	}
	t.Logf("aborted after %d of %d deletes; the AOF grew by %d bytes", keys-remaining, keys, grown)

	// The cure: raise the level in the job file and resume. The file's
	// bytes changed but not what it does to keys, so the checkpoint
	// still belongs to it.
	writeJob(t, dir, "guard-e2e.yaml", jobText("4MiB"))
	r = keyjob(t, nil, guardE2EApply(job, srv.URL, state, "--resume")...)
	wantExit(t, r, 0)
	if !strings.Contains(r.stderr, "resuming with the new levels") {
		t.Errorf("the resumed run does not say the levels changed\n%s", r)
	}
	n, err := c.Do(context.Background(), c.B().Dbsize().Build()).AsInt64()
	if err != nil || n != 0 {
		t.Fatalf("DBSIZE %d, %v after the resumed run; want 0", n, err)
	}
	if rep := onlyReport(t, state, "guard-e2e"); !rep.Completed || rep.Outcomes.Change != keys {
		t.Fatalf("report after resume: %+v", rep)
	}

	// What the job does to keys is another matter: a changed match makes
	// the checkpoint foreign.
	other := writeJob(t, dir, "guard-e2e.yaml", strings.Replace(jobText("4MiB"), `"g:*"`, `"g:1*"`, 1))
	r = keyjob(t, nil, guardE2EApply(other, srv.URL, state, "--resume")...)
	if r.code == 0 {
		t.Errorf("a resume with another match was accepted\n%s", r)
	}
}

// guardE2EDiskProbe is the operator's --disk-free-command for a server
// in a container: df inside it, the free bytes of /data.
func guardE2EDiskProbe(t *testing.T, srv *redistest.Server) string {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		t.Fatalf("the disk probe runs docker exec: %v", err)
	}
	return fmt.Sprintf("docker exec %s df -B1 /data | awk 'NR==2 {print $4}'", srv.Container.GetContainerID())
}

// guardE2EDiskEstimates are the plan's disk figures.
type guardE2EDiskEstimates struct {
	AOFBytes         int64 `json:"aof_bytes"`
	RewriteDiskBytes int64 `json:"rewrite_disk_bytes"`
}

func guardE2EPlanDisk(t *testing.T, job, url string) guardE2EDiskEstimates {
	t.Helper()
	plan := keyjob(t, nil, "plan", job, "--format", "json", "--redis", url)
	wantExit(t, plan, 0)
	var pl struct {
		Estimates guardE2EDiskEstimates `json:"estimates"`
	}
	stdoutJSON(t, plan, &pl)
	return pl.Estimates
}

// guardE2ELeaveFree fills the server's /data with a file until about
// free bytes are left.
func guardE2ELeaveFree(t *testing.T, srv *redistest.Server, free int64) {
	t.Helper()
	block := int64(16 << 10)
	count := (guardE2EFree(t, srv) - free) / block
	if count <= 0 {
		t.Fatalf("only %d bytes free, want more than %d", guardE2EFree(t, srv), free)
	}
	if _, err := srv.Exec(context.Background(), "dd", "if=/dev/zero", "of=/data/filler", "bs="+strconv.FormatInt(block, 10), "count="+strconv.FormatInt(count, 10)); err != nil {
		t.Fatal(err)
	}
	if got := guardE2EFree(t, srv); got < free-block || got > free+block {
		t.Fatalf("%d bytes free, want about %d", got, free)
	}
}

func guardE2EFree(t *testing.T, srv *redistest.Server) int64 {
	t.Helper()
	out, err := srv.Exec(context.Background(), "df", "-B1", "/data")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	f := strings.Fields(lines[len(lines)-1])
	if len(f) < 4 {
		t.Fatalf("df: %q", out)
	}
	n, err := strconv.ParseInt(f[3], 10, 64)
	if err != nil {
		t.Fatalf("df: %q", out)
	}
	return n
}

// TestGuardE2E_Disk: the data dir is a 32MiB tmpfs, read through
// --disk-free-command. A writer fills it while the run goes on: keyjob
// aborts below disk.abort_below (looser than the default 1GiB: the
// operator allows it) before Redis sees a write error, and the AOF on
// disk holds every acknowledged write. And a run that could not fit its
// AOF and a rewrite in what is free is refused at the start.
func TestGuardE2E_Disk(t *testing.T) {
	t.Run("AbortBeforeFull", func(t *testing.T) {
		srv := redistest.Start(t, redistest.Options{AOF: true, Tmpfs: "32m"})
		c := srv.Client(t)
		const keys = 3000
		guardE2ESeed(t, c, "g:", keys, 40, 100)
		dir := t.TempDir()
		state := filepath.Join(dir, "state")
		job := writeJob(t, dir, "guard-e2e.yaml", guardE2EExpireJob("100", 50, "guards:\n  disk:\n    abort_below: 12MiB\n"))

		// The level is looser than the default: only the operator can say so.
		r := keyjob(t, nil, guardE2EApply(job, srv.URL, state, "--disk-free-command", guardE2EDiskProbe(t, srv))...)
		wantExit(t, r, 4)
		if !strings.Contains(r.stderr, "disk.abort_below 12 MiB < 1.0 GiB") || !strings.Contains(r.stderr, "--allow-looser-guards") {
			t.Fatalf("the refusal does not name the level and the flag\n%s", r)
		}

		p := start(t, nil, guardE2EApply(job, srv.URL, state, "--allow-looser-guards", "--disk-free-command", guardE2EDiskProbe(t, srv))...)
		p.waitFor(t, "mid-run", func() bool { return guardE2EExpires(guardE2EInfo(t, c)) >= 200 })
		guardE2EFill(t, c, p, 1<<20, func() bool { return guardE2EFree(t, srv) < 10<<20 })
		wantExit(t, p.wait(t), 3)
		rep := onlyReport(t, state, "guard-e2e")
		if rep.Completed || !strings.Contains(rep.Stopped, "disk") || !strings.Contains(rep.Stopped, "free on the data disk") {
			t.Fatalf("report: %+v, want a disk abort", rep)
		}
		info := guardE2EInfo(t, c)
		if info["aof_last_write_status"] != "ok" {
			t.Fatalf("aof_last_write_status %s: Redis saw the disk full", info["aof_last_write_status"])
		}
		if cp := readCheckpoint(t, state, "guard-e2e"); cp.Completed || cp.Changes != guardE2EExpires(info) {
			t.Fatalf("checkpoint: completed %v, %d changes; %d keys with a TTL", cp.Completed, cp.Changes, guardE2EExpires(info))
		}
		// Every acknowledged write is in the AOF: the server reloads it
		// from disk into the same keyspace.
		before := snapshot(t, c)
		guardE2EDo(t, c, "DEBUG", "LOADAOF")
		wantSame(t, "the keyspace reloaded from the AOF", before, snapshot(t, c))
	})

	// Without AOF the run appends nothing to the disk: the room a
	// snapshot needs is enough to start.
	t.Run("NoAOFNeedsNoAOFRoom", func(t *testing.T) {
		srv := redistest.Start(t, redistest.Options{Tmpfs: "32m"})
		c := srv.Client(t)
		const keys = 2000
		guardE2ESeed(t, c, "g:", keys, 200, 10)
		dir := t.TempDir()
		job := writeJob(t, dir, "guard-e2e.yaml", guardE2EExpireJob("unlimited", 100, "guards:\n  disk:\n    abort_below: 64KiB\n"))
		est := guardE2EPlanDisk(t, job, srv.URL)
		if est.AOFBytes < 256<<10 {
			t.Fatalf("plan estimates %+v: want the AOF bytes of %d long keys", est, keys)
		}
		guardE2ELeaveFree(t, srv, est.RewriteDiskBytes+est.AOFBytes/2)
		r := keyjob(t, nil, guardE2EApply(job, srv.URL, filepath.Join(dir, "state"), "--allow-looser-guards", "--disk-free-command", guardE2EDiskProbe(t, srv))...)
		wantExit(t, r, 0)
		if n := guardE2EExpires(guardE2EInfo(t, c)); n != keys {
			t.Fatalf("%d keys with a TTL, want %d", n, keys)
		}
	})

	t.Run("RefuseAtStart", func(t *testing.T) {
		srv := redistest.Start(t, redistest.Options{AOF: true, Tmpfs: "32m"})
		c := srv.Client(t)
		guardE2ESeed(t, c, "g:", 2000, 40, 100)
		dir := t.TempDir()
		state := filepath.Join(dir, "state")
		job := writeJob(t, dir, "guard-e2e.yaml", guardE2EExpireJob("unlimited", 100, "guards:\n  disk:\n    abort_below: 64KiB\n"))
		est := guardE2EPlanDisk(t, job, srv.URL)
		need := est.AOFBytes + est.RewriteDiskBytes
		if est.AOFBytes == 0 || need < 256<<10 {
			t.Fatalf("plan estimates %+v", est)
		}
		guardE2ELeaveFree(t, srv, need/2)
		before := snapshot(t, c)
		r := keyjob(t, nil, guardE2EApply(job, srv.URL, state, "--allow-looser-guards", "--disk-free-command", guardE2EDiskProbe(t, srv))...)
		wantExit(t, r, 3)
		if !strings.Contains(r.stderr, "refusing to start") || !strings.Contains(r.stderr, "for a rewrite") {
			t.Fatalf("the refusal does not say why\n%s", r)
		}
		wantSame(t, "refused at the start", before, snapshot(t, c))
		guardE2ENoCheckpoint(t, state, "guard-e2e")
	})
}

// TestGuardE2E_ReplicaLag: the replica is paused (docker pause) while the
// primary takes the run's changes. Its acknowledged offset stops, the lag
// passes half of repl-backlog-size (128kb here, so a few seconds of the
// run pass it) and the run pauses; unpaused, it catches up and the run
// completes.
func TestGuardE2E_ReplicaLag(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{Args: []string{"--repl-backlog-size", "128kb"}})
	replica := redistest.StartReplica(t, srv)
	c := srv.Client(t)
	const keys = 1800
	guardE2ESeed(t, c, "g:", keys, 40, 10) // PEXPIREAT of a key: about 93 bytes
	// The replica has the seed before the run starts: its lag is the run's.
	deadline := time.Now().Add(20 * time.Second)
	for {
		f := guardE2EInfo(t, c)
		if strings.Contains(f["slave0"], "state=online") && strings.Contains(f["slave0"], "offset="+f["master_repl_offset"]+",") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica never caught up with the seed: %s, master_repl_offset %s", f["slave0"], f["master_repl_offset"])
		}
		time.Sleep(50 * time.Millisecond)
	}
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	job := writeJob(t, dir, "guard-e2e.yaml", guardE2EExpireJob("200", 50, ""))
	p := start(t, nil, guardE2EApply(job, srv.URL, state)...)
	p.waitFor(t, "mid-run", func() bool { return guardE2EExpires(guardE2EInfo(t, c)) >= 400 })
	ctx := context.Background()
	before := guardE2EPauses(p, "replication")
	if err := replica.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	unpaused := false
	defer func() {
		if !unpaused {
			replica.Unpause(ctx)
		}
	}()
	// A new pause, or the one a busy moment began that the paused
	// replica now keeps going.
	p.waitFor(t, "a replication pause", func() bool { return guardE2EPauses(p, "replication") > before || guardE2EPausedBy(p, "replication") })
	held := guardE2EHeld(t, c)
	time.Sleep(time.Second)
	if now := guardE2EExpires(guardE2EInfo(t, c)); now != held {
		t.Fatalf("%d keys changed while the run was paused for its replica", now-held)
	}
	if err := replica.Unpause(ctx); err != nil {
		t.Fatal(err)
	}
	unpaused = true
	wantExit(t, p.wait(t), 0)
	if n := guardE2EExpires(guardE2EInfo(t, c)); n != keys {
		t.Fatalf("%d keys with a TTL, want %d", n, keys)
	}
	rep := onlyReport(t, state, "guard-e2e")
	if !rep.Completed || !rep.has("pause replication") || !rep.has("resume replication") {
		t.Fatalf("report: %+v (%v)", rep, rep.events())
	}
	for _, e := range rep.GuardEvents {
		if e.Guard == "replication" && e.Action == "pause" && !strings.Contains(e.Reason, "pause level 64 KiB") {
			t.Errorf("pause reason %q, want the level of half the 128kb backlog", e.Reason)
		}
	}
}

// TestGuardE2E_Latency: DEBUG SLEEP 2 stalls the server mid-run: the
// guard's PING takes seconds, the run pauses while that PING is in the
// 10 s window, then completes.
func TestGuardE2E_Latency(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	c := srv.Client(t)
	const keys = 1000
	guardE2ESeed(t, c, "g:", keys, 40, 10)
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	job := writeJob(t, dir, "guard-e2e.yaml", guardE2EExpireJob("200", 50, ""))
	p := start(t, nil, guardE2EApply(job, srv.URL, state)...)
	p.waitFor(t, "mid-run", func() bool { return guardE2EExpires(guardE2EInfo(t, c)) >= 300 })
	guardE2EDo(t, c, "DEBUG", "SLEEP", "2")
	p.waitFor(t, "a latency pause", func() bool { return guardE2EPauses(p, "latency") > 0 })
	wantExit(t, p.wait(t), 0)
	if n := guardE2EExpires(guardE2EInfo(t, c)); n != keys {
		t.Fatalf("%d keys with a TTL, want %d", n, keys)
	}
	rep := onlyReport(t, state, "guard-e2e")
	if !rep.Completed || !rep.has("pause latency") || !rep.has("resume latency") {
		t.Fatalf("report: %+v (%v)", rep, rep.events())
	}
}

// TestGuardE2E_ConfigRenamed: a server without CONFIG (renamed away, as
// managed services do). plan and apply say the forks the run triggers
// cannot be projected and which guards cannot be evaluated; the guards
// read INFO, so they still work, and the run completes.
func TestGuardE2E_ConfigRenamed(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{AOF: true, Args: []string{"--rename-command", "CONFIG", ""}})
	c := srv.Client(t)
	if err := c.Do(context.Background(), c.B().ConfigGet().Parameter("save").Build()).Error(); err == nil {
		t.Fatal("CONFIG answers: the rename did not take")
	}
	const keys = 500
	guardE2ESeed(t, c, "g:", keys, 40, 10)
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	job := writeJob(t, dir, "guard-e2e.yaml", guardE2EExpireJob("unlimited", 100, ""))

	plan := keyjob(t, nil, "plan", job, "--format", "json", "--redis", srv.URL)
	wantExit(t, plan, 0)
	var pl struct {
		Warnings []struct{ Code, Message string } `json:"warnings"`
		Guards   []struct{ Name, State string }   `json:"guards"`
	}
	stdoutJSON(t, plan, &pl)
	refused := false
	for _, w := range pl.Warnings {
		refused = refused || (w.Code == "config_refused" && strings.Contains(w.Message, "cannot be projected"))
	}
	if !refused {
		t.Errorf("plan warnings %+v: want config_refused", pl.Warnings)
	}
	for _, g := range pl.Guards {
		if g.State == "blind" && g.Name != "memory" && g.Name != "disk" {
			t.Errorf("plan: guard %s blind on a server that only hides CONFIG", g.Name)
		}
	}

	r := keyjob(t, nil, guardE2EApply(job, srv.URL, state)...)
	wantExit(t, r, 0)
	for _, want := range []string{"cannot be projected", "guards that cannot be evaluated: memory", "disk ("} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("apply does not say %q\n%s", want, r)
		}
	}
	if n := guardE2EExpires(guardE2EInfo(t, c)); n != keys {
		t.Fatalf("%d keys with a TTL, want %d", n, keys)
	}
}

// TestGuardE2E_Unguarded: --unguarded runs against 127.0.0.1 and says
// the guards are off.
func TestGuardE2E_Unguarded(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	if !strings.HasPrefix(srv.Addr, "127.0.0.1:") {
		t.Fatalf("the harness serves on %s, not 127.0.0.1", srv.Addr)
	}
	c := srv.Client(t)
	const keys = 300
	guardE2ESeed(t, c, "g:", keys, 40, 10)
	dir := t.TempDir()
	job := writeJob(t, dir, "guard-e2e.yaml", guardE2EExpireJob("unlimited", 100, ""))
	r := keyjob(t, nil, guardE2EApply(job, srv.URL, filepath.Join(dir, "state"), "--unguarded")...)
	wantExit(t, r, 0)
	if !strings.Contains(r.stdout, "guards: OFF (--unguarded)") {
		t.Errorf("apply does not say the guards are off\n%s", r)
	}
	if n := guardE2EExpires(guardE2EInfo(t, c)); n != keys {
		t.Fatalf("%d keys with a TTL, want %d", n, keys)
	}
}

// TestGuardE2E_AOFProjection compares the plan's estimates.aof_bytes with
// what a TTL backfill really appends to a real server's AOF.
func TestGuardE2E_AOFProjection(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{AOF: true})
	c := srv.Client(t)
	stats, err := seed.Tickets(context.Background(), c, seed.TicketSpec{Count: 5000, WithTTLShare: 0.05, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	job := writeJob(t, dir, "ticket-ttl-backfill.yaml", ticketTTLJob("ticket-ttl-backfill", "  rate: unlimited\n"))
	planFile := filepath.Join(dir, "plan.json")
	plan := keyjob(t, nil, "plan", job, "--format", "json", "--out", planFile, "--redis", srv.URL)
	wantExit(t, plan, 0)
	var pl struct {
		Outcomes  struct{ Change int64 } `json:"outcomes"`
		Estimates struct {
			AOFBytes int64 `json:"aof_bytes"`
		} `json:"estimates"`
	}
	readJSON(t, planFile, &pl)
	if pl.Outcomes.Change != int64(stats.WithoutTTL) {
		t.Fatalf("plan: %d changes, want %d", pl.Outcomes.Change, stats.WithoutTTL)
	}
	aof0 := guardE2EAOFSize(t, c)
	r := keyjob(t, nil, guardE2EApply(job, srv.URL, filepath.Join(dir, "state"), "--plan", planFile)...)
	wantExit(t, r, 0)
	grown := guardE2EAOFSize(t, c) - aof0
	rel := float64(pl.Estimates.AOFBytes-grown) / float64(grown)
	t.Logf("AOF projection: %d changes, plan says %d bytes, the AOF grew by %d: relative error %+.2f%%",
		pl.Outcomes.Change, pl.Estimates.AOFBytes, grown, 100*rel)
	if math.Abs(rel) > 0.25 {
		t.Fatalf("the plan's aof_bytes %d is %+.1f%% off the AOF's growth %d", pl.Estimates.AOFBytes, 100*rel, grown)
	}
}
