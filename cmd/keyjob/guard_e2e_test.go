package main

// The guards end to end: the built binary run as an operator runs it,
// against real servers each pushed past one guard's level while the run
// goes on (maxmemory, evictions, a fork, the AOF, a filling disk, a
// paused replica, a server that stops answering PING), and a server that
// hides CONFIG. The binary is built once by guardE2EBinary; this file
// relies on no other file's TestMain or helpers. It is in package main so
// that loopback and startGuards can be tested directly too.
//
// Runs are slowed with limits.rate so that the test can act while they go
// on ("mid-run": a few hundred changes made, past the limiter's first
// burst). Nothing here asserts a duration: the tests wait for what the
// run logs and count keys.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/keyjob/keyjob/internal/checkpoint"
	"github.com/keyjob/keyjob/internal/redistest"
	"github.com/keyjob/keyjob/internal/redisx"
	"github.com/keyjob/keyjob/internal/seed"
	"github.com/keyjob/keyjob/jobs"
)

var guardE2EBuild struct {
	once sync.Once
	path string
	err  error
}

// guardE2EBinary builds the keyjob binary once per test process into a
// fixed place under the temp dir (replaced atomically).
func guardE2EBinary(t *testing.T) string {
	t.Helper()
	b := &guardE2EBuild
	b.once.Do(func() {
		dir := filepath.Join(os.TempDir(), "keyjob-guard-e2e")
		if b.err = os.MkdirAll(dir, 0o755); b.err != nil {
			return
		}
		tmp := filepath.Join(dir, "keyjob."+strconv.Itoa(os.Getpid()))
		build := exec.Command("go", "build", "-o", tmp, ".") // the test runs in cmd/keyjob
		if out, err := build.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build ./cmd/keyjob: %v\n%s", err, out)
			return
		}
		b.path = filepath.Join(dir, "keyjob")
		b.err = os.Rename(tmp, b.path)
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

type guardE2EBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *guardE2EBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *guardE2EBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// guardE2EProc is one run of the binary, without a terminal.
type guardE2EProc struct {
	args           []string
	cmd            *exec.Cmd
	stdout, stderr guardE2EBuffer
	done           chan struct{}
	code           int
}

func (p *guardE2EProc) String() string {
	return fmt.Sprintf("keyjob %s: exit %d\n--- stdout:\n%s--- stderr:\n%s", strings.Join(p.args, " "), p.code, p.stdout.String(), p.stderr.String())
}

func guardE2EStart(t *testing.T, args ...string) *guardE2EProc {
	t.Helper()
	p := &guardE2EProc{args: args, done: make(chan struct{})}
	p.cmd = exec.Command(guardE2EBinary(t), args...)
	p.cmd.Dir = t.TempDir()
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "REDIS_URL=") {
			p.cmd.Env = append(p.cmd.Env, kv)
		}
	}
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := p.cmd.Wait()
		var exit *exec.ExitError
		switch {
		case errors.As(err, &exit):
			if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				p.code = 128 + int(ws.Signal())
			} else {
				p.code = exit.ExitCode()
			}
		case err != nil:
			p.code = -1
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *guardE2EProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits for the run's end (90 s at most, a hang) and returns its code.
func (p *guardE2EProc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(90 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("did not end\n%s", p)
	}
	return p.code
}

func guardE2ERun(t *testing.T, args ...string) *guardE2EProc {
	t.Helper()
	p := guardE2EStart(t, args...)
	p.wait(t)
	return p
}

func guardE2EWantExit(t *testing.T, p *guardE2EProc, code int) {
	t.Helper()
	if got := p.wait(t); got != code {
		t.Fatalf("exit %d, want %d\n%s", got, code, p)
	}
}

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

// logs reads the JSON log lines the run wrote so far.
func (p *guardE2EProc) logs() []guardE2ELog {
	var out []guardE2ELog
	for _, line := range strings.Split(p.stderr.String(), "\n") {
		var l guardE2ELog
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg != "" {
			out = append(out, l)
		}
	}
	return out
}

// pausedBy says whether the last change of the guards' state the run
// logged is a pause by guard.
func (p *guardE2EProc) pausedBy(guard string) bool {
	paused := false
	for _, l := range p.logs() {
		switch l.Msg {
		case "guards: paused":
			paused = l.Guard == guard
		case "guards: continuing":
			paused = false
		}
	}
	return paused
}

// pauses counts the "guards: paused" lines of guard.
func (p *guardE2EProc) pauses(guard string) int {
	n := 0
	for _, l := range p.logs() {
		if l.Msg == "guards: paused" && l.Guard == guard {
			n++
		}
	}
	return n
}

// waitFor polls cond while the run goes on; the run ending first, or a
// minute passing, fails the test.
func (p *guardE2EProc) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if p.exited() {
			t.Fatalf("the run ended before %s\n%s", what, p)
		}
		if time.Now().After(deadline) {
			t.Fatalf("never %s\n%s", what, p)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// guardE2EWriteJob writes a job file into dir.
func guardE2EWriteJob(t *testing.T, dir, name, text string) string {
	t.Helper()
	path := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
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

func guardE2ESnapshot(t *testing.T, c rueidis.Client) map[string]redistest.KeyState {
	t.Helper()
	s, err := redistest.Snapshot(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func guardE2ESame(t *testing.T, what string, want, got map[string]redistest.KeyState) {
	t.Helper()
	if d := redistest.Diff(want, got); !d.Empty() {
		s := d.String()
		if lines := strings.SplitAfter(s, "\n"); len(lines) > 20 {
			s = strings.Join(lines[:20], "") + "…\n"
		}
		t.Fatalf("%s: %d added, %d removed, %d changed:\n%s", what, len(d.Added), len(d.Removed), len(d.Changed), s)
	}
}

// guardE2EReport is the part of the run report these tests read.
type guardE2EReport struct {
	Completed bool   `json:"completed"`
	Stopped   string `json:"stopped"`
	Changes   int64  `json:"changes_this_invocation"`
	Outcomes  struct {
		Change int64 `json:"change"`
	} `json:"outcomes"`
	GuardEvents []struct {
		Action string `json:"action"`
		Guard  string `json:"guard"`
		Reason string `json:"reason"`
	} `json:"guard_events"`
}

// events lists the report's guard events as "pause fork", "resume fork".
func (r guardE2EReport) events() []string {
	var out []string
	for _, e := range r.GuardEvents {
		out = append(out, e.Action+" "+e.Guard)
	}
	return out
}

func (r guardE2EReport) has(event string) bool {
	for _, e := range r.events() {
		if e == event {
			return true
		}
	}
	return false
}

// guardE2EReadReport reads the run's report (one per run, rewritten by
// each invocation) from the state dir.
func guardE2EReadReport(t *testing.T, state, job string) guardE2EReport {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(state, job, "*.report.json"))
	if err != nil || len(paths) != 1 {
		t.Fatalf("run reports in %s: %v, %v; want one", state, paths, err)
	}
	b, err := os.ReadFile(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	var r guardE2EReport
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s: %v", paths[0], err)
	}
	return r
}

func guardE2ECheckpoint(t *testing.T, state, job string) *checkpoint.Checkpoint {
	t.Helper()
	cp, err := checkpoint.Load(checkpoint.Path(state, job))
	if err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	return cp
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
func guardE2EFill(t *testing.T, c rueidis.Client, p *guardE2EProc, size int, enough func() bool) []string {
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
	before := guardE2ESnapshot(t, c)

	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	job := guardE2EWriteJob(t, dir, "guard-e2e", guardE2EExpireJob("unlimited", 100, ""))
	p := guardE2ERun(t, guardE2EApply(job, srv.URL, state)...)
	guardE2EWantExit(t, p, 3)
	for _, want := range []string{"above the pause level", "--from-high-memory"} {
		if !strings.Contains(p.stderr.String(), want) {
			t.Errorf("stderr does not say %q\n%s", want, p)
		}
	}
	guardE2ESame(t, "refused at the start", before, guardE2ESnapshot(t, c))
	guardE2ENoCheckpoint(t, state, "guard-e2e")

	// A delete job is never refused for memory.
	del := guardE2EWriteJob(t, dir, "guard-e2e-delete", `version: 1
name: guard-e2e-delete
select:
  match: "g:0001*"
action:
  delete: {}
backup: none
`)
	p = guardE2ERun(t, guardE2EApply(del, srv.URL, state)...)
	guardE2EWantExit(t, p, 0)
	after := guardE2ESnapshot(t, c)
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
	job := guardE2EWriteJob(t, dir, "guard-e2e", guardE2EExpireJob("200", 50, ""))
	p := guardE2EStart(t, guardE2EApply(job, srv.URL, state)...)
	p.waitFor(t, "mid-run", func() bool { return guardE2EExpires(guardE2EInfo(t, c)) >= 300 })

	usedAbove := func(share float64) func() bool {
		return func() bool {
			return float64(guardE2EInt(guardE2EInfo(t, c), "used_memory")) >= share*float64(maxmemory)
		}
	}
	guardE2EFill(t, c, p, 8<<10, usedAbove(0.92))
	p.waitFor(t, "a memory pause", func() bool { return p.pauses("memory") > 0 })
	paused := guardE2EExpires(guardE2EInfo(t, c))
	guardE2EFill(t, c, p, 8<<10, usedAbove(0.965))
	guardE2EWantExit(t, p, 3)

	rep := guardE2EReadReport(t, state, "guard-e2e")
	if rep.Completed || !strings.Contains(rep.Stopped, "memory") || !rep.has("pause memory") || !rep.has("abort memory") {
		t.Fatalf("report: %+v, want a memory pause, then a memory abort", rep)
	}
	cp := guardE2ECheckpoint(t, state, "guard-e2e")
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
	job := guardE2EWriteJob(t, dir, "guard-e2e", `version: 1
name: guard-e2e
select:
  match: "g:*"
action:
  delete: {}
backup: none
limits:
  rate: 200
  scan_count: 50
`)
	p := guardE2EStart(t, guardE2EApply(job, srv.URL, state)...)
	dbsize := func() int64 {
		n, err := c.Do(context.Background(), c.B().Dbsize().Build()).AsInt64()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	p.waitFor(t, "mid-run", func() bool { return dbsize() <= keys-300 })
	guardE2EFill(t, c, p, 16<<10, func() bool { return guardE2EInt(guardE2EInfo(t, c), "evicted_keys") > 0 })
	guardE2EWantExit(t, p, 3)
	rep := guardE2EReadReport(t, state, "guard-e2e")
	if rep.Completed || !strings.Contains(rep.Stopped, "evictions") || !strings.Contains(rep.Stopped, "evicted_keys grew") {
		t.Fatalf("report: %+v, want an evictions abort", rep)
	}
	if rep.has("pause memory") {
		t.Errorf("a delete job paused for memory: %v", rep.events())
	}
	if cp := guardE2ECheckpoint(t, state, "guard-e2e"); cp.Completed || cp.Changes == 0 {
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
			job := guardE2EWriteJob(t, dir, "guard-e2e", guardE2EExpireJob("unlimited", 100, ""))
			p := guardE2EStart(t, guardE2EApply(job, srv.URL, state)...)
			p.waitFor(t, "a fork pause", func() bool { return p.pauses("fork") > 0 })
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
			guardE2EWantExit(t, p, 0)
			if n := guardE2EExpires(guardE2EInfo(t, c)); n != keys {
				t.Fatalf("%d keys with a TTL, want %d", n, keys)
			}
			rep := guardE2EReadReport(t, state, "guard-e2e")
			if !rep.Completed || !rep.has("pause fork") || !rep.has("resume fork") {
				t.Fatalf("report: %+v (%v), want a fork pause and its end", rep, rep.events())
			}
			if !strings.Contains(p.stdout.String(), "in progress") {
				t.Errorf("the summary does not warn of the fork in progress\n%s", p)
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
		return fmt.Sprintf(`version: 1
name: guard-e2e
select:
  match: "g:*"
action:
  delete: {}
backup: none
limits:
  rate: unlimited
  scan_count: %d
guards:
  aof:
    max_growth: %s
`, scanCount, growth)
	}
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	job := guardE2EWriteJob(t, dir, "guard-e2e", jobText("1MiB"))
	aof0 := guardE2EAOFSize(t, c)
	p := guardE2ERun(t, guardE2EApply(job, srv.URL, state)...)
	guardE2EWantExit(t, p, 3)
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
		t.Fatalf("%d keys left of %d: want an abort mid-run\n%s", remaining, keys, p)
	}
	rep := guardE2EReadReport(t, state, "guard-e2e")
	if rep.Completed || !strings.Contains(rep.Stopped, "aof") || !strings.Contains(rep.Stopped, "aof.max_growth is 1.0 MiB") {
		t.Fatalf("report: %+v, want an aof abort", rep)
	}
	if cp := guardE2ECheckpoint(t, state, "guard-e2e"); cp.Completed || cp.Changes != keys-remaining {
		t.Fatalf("checkpoint: completed %v, %d changes; want %d", cp.Completed, cp.Changes, keys-remaining)
	}
	if !strings.Contains(p.stdout.String(), "resume: keyjob apply --resume") {
		t.Errorf("the run does not say how to resume\n%s", p)
	}
	t.Logf("aborted after %d of %d deletes; the AOF grew by %d bytes", keys-remaining, keys, grown)

	// The cure: raise the level in the job file and resume. The file's
	// bytes changed but not what it does to keys, so the checkpoint
	// still belongs to it.
	guardE2EWriteJob(t, dir, "guard-e2e", jobText("4MiB"))
	p = guardE2ERun(t, guardE2EApply(job, srv.URL, state, "--resume")...)
	guardE2EWantExit(t, p, 0)
	if !strings.Contains(p.stderr.String(), "resuming with the new levels") {
		t.Errorf("the resumed run does not say the levels changed\n%s", p)
	}
	n, err := c.Do(context.Background(), c.B().Dbsize().Build()).AsInt64()
	if err != nil || n != 0 {
		t.Fatalf("DBSIZE %d, %v after the resumed run; want 0", n, err)
	}
	if rep := guardE2EReadReport(t, state, "guard-e2e"); !rep.Completed || rep.Outcomes.Change != keys {
		t.Fatalf("report after resume: %+v", rep)
	}

	// What the job does to keys is another matter: a changed match makes
	// the checkpoint foreign.
	other := guardE2EWriteJob(t, dir, "guard-e2e", strings.Replace(jobText("4MiB"), `"g:*"`, `"g:1*"`, 1))
	p = guardE2ERun(t, guardE2EApply(other, srv.URL, state, "--resume")...)
	if p.code == 0 {
		t.Errorf("a resume with another match was accepted\n%s", p)
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
	plan := guardE2ERun(t, "plan", job, "--format", "json", "--redis", url)
	guardE2EWantExit(t, plan, 0)
	var pl struct {
		Estimates guardE2EDiskEstimates `json:"estimates"`
	}
	if err := json.Unmarshal([]byte(plan.stdout.String()), &pl); err != nil {
		t.Fatalf("plan JSON: %v\n%s", err, plan)
	}
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
		job := guardE2EWriteJob(t, dir, "guard-e2e", guardE2EExpireJob("100", 50, "guards:\n  disk:\n    abort_below: 12MiB\n"))

		// The level is looser than the default: only the operator can say so.
		p := guardE2ERun(t, guardE2EApply(job, srv.URL, state, "--disk-free-command", guardE2EDiskProbe(t, srv))...)
		guardE2EWantExit(t, p, 4)
		if !strings.Contains(p.stderr.String(), "disk.abort_below 12 MiB < 1.0 GiB") || !strings.Contains(p.stderr.String(), "--allow-looser-guards") {
			t.Fatalf("the refusal does not name the level and the flag\n%s", p)
		}

		p = guardE2EStart(t, guardE2EApply(job, srv.URL, state, "--allow-looser-guards", "--disk-free-command", guardE2EDiskProbe(t, srv))...)
		p.waitFor(t, "mid-run", func() bool { return guardE2EExpires(guardE2EInfo(t, c)) >= 200 })
		guardE2EFill(t, c, p, 1<<20, func() bool { return guardE2EFree(t, srv) < 10<<20 })
		guardE2EWantExit(t, p, 3)
		rep := guardE2EReadReport(t, state, "guard-e2e")
		if rep.Completed || !strings.Contains(rep.Stopped, "disk") || !strings.Contains(rep.Stopped, "free on the data disk") {
			t.Fatalf("report: %+v, want a disk abort", rep)
		}
		info := guardE2EInfo(t, c)
		if info["aof_last_write_status"] != "ok" {
			t.Fatalf("aof_last_write_status %s: Redis saw the disk full", info["aof_last_write_status"])
		}
		if cp := guardE2ECheckpoint(t, state, "guard-e2e"); cp.Completed || cp.Changes != guardE2EExpires(info) {
			t.Fatalf("checkpoint: completed %v, %d changes; %d keys with a TTL", cp.Completed, cp.Changes, guardE2EExpires(info))
		}
		// Every acknowledged write is in the AOF: the server reloads it
		// from disk into the same keyspace.
		before := guardE2ESnapshot(t, c)
		guardE2EDo(t, c, "DEBUG", "LOADAOF")
		guardE2ESame(t, "the keyspace reloaded from the AOF", before, guardE2ESnapshot(t, c))
	})

	// Without AOF the run appends nothing to the disk: the room a
	// snapshot needs is enough to start.
	t.Run("NoAOFNeedsNoAOFRoom", func(t *testing.T) {
		srv := redistest.Start(t, redistest.Options{Tmpfs: "32m"})
		c := srv.Client(t)
		const keys = 2000
		guardE2ESeed(t, c, "g:", keys, 200, 10)
		dir := t.TempDir()
		job := guardE2EWriteJob(t, dir, "guard-e2e", guardE2EExpireJob("unlimited", 100, "guards:\n  disk:\n    abort_below: 64KiB\n"))
		est := guardE2EPlanDisk(t, job, srv.URL)
		if est.AOFBytes < 256<<10 {
			t.Fatalf("plan estimates %+v: want the AOF bytes of %d long keys", est, keys)
		}
		guardE2ELeaveFree(t, srv, est.RewriteDiskBytes+est.AOFBytes/2)
		p := guardE2ERun(t, guardE2EApply(job, srv.URL, filepath.Join(dir, "state"), "--allow-looser-guards", "--disk-free-command", guardE2EDiskProbe(t, srv))...)
		guardE2EWantExit(t, p, 0)
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
		job := guardE2EWriteJob(t, dir, "guard-e2e", guardE2EExpireJob("unlimited", 100, "guards:\n  disk:\n    abort_below: 64KiB\n"))
		est := guardE2EPlanDisk(t, job, srv.URL)
		need := est.AOFBytes + est.RewriteDiskBytes
		if est.AOFBytes == 0 || need < 256<<10 {
			t.Fatalf("plan estimates %+v", est)
		}
		guardE2ELeaveFree(t, srv, need/2)
		before := guardE2ESnapshot(t, c)
		p := guardE2ERun(t, guardE2EApply(job, srv.URL, state, "--allow-looser-guards", "--disk-free-command", guardE2EDiskProbe(t, srv))...)
		guardE2EWantExit(t, p, 3)
		if !strings.Contains(p.stderr.String(), "refusing to start") || !strings.Contains(p.stderr.String(), "for a rewrite") {
			t.Fatalf("the refusal does not say why\n%s", p)
		}
		guardE2ESame(t, "refused at the start", before, guardE2ESnapshot(t, c))
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
	job := guardE2EWriteJob(t, dir, "guard-e2e", guardE2EExpireJob("200", 50, ""))
	p := guardE2EStart(t, guardE2EApply(job, srv.URL, state)...)
	p.waitFor(t, "mid-run", func() bool { return guardE2EExpires(guardE2EInfo(t, c)) >= 400 })
	ctx := context.Background()
	before := p.pauses("replication")
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
	p.waitFor(t, "a replication pause", func() bool { return p.pauses("replication") > before || p.pausedBy("replication") })
	held := guardE2EExpires(guardE2EInfo(t, c))
	time.Sleep(time.Second)
	if now := guardE2EExpires(guardE2EInfo(t, c)); now != held {
		t.Fatalf("%d keys changed while the run was paused for its replica", now-held)
	}
	if err := replica.Unpause(ctx); err != nil {
		t.Fatal(err)
	}
	unpaused = true
	guardE2EWantExit(t, p, 0)
	if n := guardE2EExpires(guardE2EInfo(t, c)); n != keys {
		t.Fatalf("%d keys with a TTL, want %d", n, keys)
	}
	rep := guardE2EReadReport(t, state, "guard-e2e")
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
	job := guardE2EWriteJob(t, dir, "guard-e2e", guardE2EExpireJob("200", 50, ""))
	p := guardE2EStart(t, guardE2EApply(job, srv.URL, state)...)
	p.waitFor(t, "mid-run", func() bool { return guardE2EExpires(guardE2EInfo(t, c)) >= 300 })
	guardE2EDo(t, c, "DEBUG", "SLEEP", "2")
	p.waitFor(t, "a latency pause", func() bool { return p.pauses("latency") > 0 })
	guardE2EWantExit(t, p, 0)
	if n := guardE2EExpires(guardE2EInfo(t, c)); n != keys {
		t.Fatalf("%d keys with a TTL, want %d", n, keys)
	}
	rep := guardE2EReadReport(t, state, "guard-e2e")
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
	job := guardE2EWriteJob(t, dir, "guard-e2e", guardE2EExpireJob("unlimited", 100, ""))

	plan := guardE2ERun(t, "plan", job, "--format", "json", "--redis", srv.URL)
	guardE2EWantExit(t, plan, 0)
	var pl struct {
		Warnings []struct{ Code, Message string } `json:"warnings"`
		Guards   []struct{ Name, State string }   `json:"guards"`
	}
	if err := json.Unmarshal([]byte(plan.stdout.String()), &pl); err != nil {
		t.Fatalf("plan JSON: %v\n%s", err, plan)
	}
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

	p := guardE2ERun(t, guardE2EApply(job, srv.URL, state)...)
	guardE2EWantExit(t, p, 0)
	for _, want := range []string{"cannot be projected", "guards that cannot be evaluated: memory", "disk ("} {
		if !strings.Contains(p.stdout.String(), want) {
			t.Errorf("apply does not say %q\n%s", want, p)
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
	job := guardE2EWriteJob(t, dir, "guard-e2e", guardE2EExpireJob("unlimited", 100, ""))
	p := guardE2ERun(t, guardE2EApply(job, srv.URL, filepath.Join(dir, "state"), "--unguarded")...)
	guardE2EWantExit(t, p, 0)
	if !strings.Contains(p.stdout.String(), "guards: OFF (--unguarded)") {
		t.Errorf("apply does not say the guards are off\n%s", p)
	}
	if n := guardE2EExpires(guardE2EInfo(t, c)); n != keys {
		t.Fatalf("%d keys with a TTL, want %d", n, keys)
	}
}

func TestLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:6379": true, "127.1.2.3:6379": true, "[::1]:6379": true, "localhost:6379": true,
		"10.0.0.1:6379": false, "192.168.1.10:6379": false, "[2001:db8::1]:6379": false,
		"redis.example.com:6379": false, "localhost.example.com:6379": false,
		"127.0.0.1": false, "": false, // no port: not an address
	} {
		if got := loopback(addr); got != want {
			t.Errorf("loopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

// TestStartGuards_UnguardedRemote: --unguarded against a remote address is
// a usage error (exit 4), refused before anything is asked of the server.
func TestStartGuards_UnguardedRemote(t *testing.T) {
	conn := &redisx.Conn{Addr: "10.1.2.3:6379"}
	g, err := startGuards(context.Background(), conn, &jobs.Job{}, guardOptions{Unguarded: true}, nil)
	if g != nil || err == nil || !strings.Contains(err.Error(), "10.1.2.3:6379 is not one") {
		t.Fatalf("startGuards = %v, %v; want a refusal naming the address", g, err)
	}
	if code := exitCode(err, context.Background()); code != exitUsage {
		t.Fatalf("exit %d, want %d", code, exitUsage)
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
	job := guardE2EWriteJob(t, dir, "ticket-ttl-backfill", `version: 1
name: ticket-ttl-backfill
select:
  match: "ticket:*"
  type: string
  regex: '^ticket:(?P<issued>\d{10}):(?P<customer>\d+):[A-Za-z0-9]+$'
  ttl: none
action:
  expire:
    from: { capture: issued, format: unix }
    after: 365d
    grace: 1h
limits:
  rate: unlimited
`)
	planFile := filepath.Join(dir, "plan.json")
	plan := guardE2ERun(t, "plan", job, "--format", "json", "--out", planFile, "--redis", srv.URL)
	guardE2EWantExit(t, plan, 0)
	b, err := os.ReadFile(planFile)
	if err != nil {
		t.Fatal(err)
	}
	var pl struct {
		Outcomes  struct{ Change int64 } `json:"outcomes"`
		Estimates struct {
			AOFBytes int64 `json:"aof_bytes"`
		} `json:"estimates"`
	}
	if err := json.Unmarshal(b, &pl); err != nil {
		t.Fatal(err)
	}
	if pl.Outcomes.Change != int64(stats.WithoutTTL) {
		t.Fatalf("plan: %d changes, want %d", pl.Outcomes.Change, stats.WithoutTTL)
	}
	aof0 := guardE2EAOFSize(t, c)
	p := guardE2ERun(t, guardE2EApply(job, srv.URL, filepath.Join(dir, "state"), "--plan", planFile)...)
	guardE2EWantExit(t, p, 0)
	grown := guardE2EAOFSize(t, c) - aof0
	rel := float64(pl.Estimates.AOFBytes-grown) / float64(grown)
	t.Logf("AOF projection: %d changes, plan says %d bytes, the AOF grew by %d: relative error %+.2f%%",
		pl.Outcomes.Change, pl.Estimates.AOFBytes, grown, 100*rel)
	if math.Abs(rel) > 0.25 {
		t.Fatalf("the plan's aof_bytes %d is %+.1f%% off the AOF's growth %d", pl.Estimates.AOFBytes, 100*rel, grown)
	}
}
