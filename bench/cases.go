package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyjob/keyjob/examples"
	"github.com/keyjob/keyjob/internal/seed"
)

// A benchCase is one row of the table: something run against a fresh
// server loaded with the keyspace.
type benchCase struct {
	Name string
	What string
	// Extra cases run only when -only names them.
	Extra bool
	// Keys is the number of keys the case is about (for keys/s): the
	// tickets, or the deal:clicks hashes a delete removes.
	Keys func(seed.StoryStats) int64
	// Run does the work and says what the client cost: the process it ran
	// (peak RSS and CPU), or for a loop inside the bench, its CPU.
	Run func(ctx context.Context, e *env, srv *redisServer, dir string) (usage, error)
	// Check says whether the keyspace after the case is what it should be.
	Check func(st seed.StoryStats, before, after keyspace) error
}

type keyspace struct{ Keys, Expires int64 }

// Persistent is the number of keys without an expiry.
func (k keyspace) Persistent() int64 { return k.Keys - k.Expires }

// env is what every case needs: binaries and job files.
type env struct {
	Keyjob         string
	RedisServer    string
	RedisBenchmark string
	Python         string
	Work           string // the bench's temp dir
	TTLJob         string // examples/ticket-ttl-backfill.yaml, written out
	DeleteJob      string // backup: none
	DumpDeleteJob  string // backup: dump
	Reference      string // reference.py, written out
	NoJournalJob   string // the TTL job with backup: none
	NoTypeJob      string // the TTL job without select.type
	// LooseLatencyJob is the TTL job with the latency guard's pause level
	// at 100ms (cluster-rss): a shared 2-core machine running a hundred
	// servers reads 10–15 ms p99 even while keyjob sends nothing, and a
	// pause would make the case as long as the machine's noise (the case
	// adds --from-high-latency for a start above even that). The guards
	// still poll every node.
	LooseLatencyJob string
}

const deleteJob = `version: 1
name: bench-drop-deal-clicks
description: the drop-deal-clicks example without its looser aof guard, backup %s
select:
  match: "deal:clicks:*"
action:
  delete: {}
backup: %s
`

func newEnv(work string) (*env, error) {
	e := &env{Work: work}
	ttl, err := examples.Files.ReadFile("ticket-ttl-backfill.yaml")
	if err != nil {
		return nil, err
	}
	files := []struct {
		path *string
		name string
		data []byte
	}{
		{&e.TTLJob, "ticket-ttl-backfill.yaml", ttl},
		{&e.DeleteJob, "drop-deal-clicks-none.yaml", fmt.Appendf(nil, deleteJob, "none", "none")},
		{&e.DumpDeleteJob, "drop-deal-clicks-dump.yaml", fmt.Appendf(nil, deleteJob, "dump", "dump")},
		{&e.Reference, "reference.py", referencePy},
		{&e.NoJournalJob, "ticket-ttl-backfill-no-journal.yaml", append(slices.Clone(ttl), "backup: none\n"...)},
		{&e.NoTypeJob, "ticket-ttl-backfill-no-type.yaml", noType(ttl)},
		{&e.LooseLatencyJob, "ticket-ttl-backfill-loose-latency.yaml", append(slices.Clone(ttl), "guards:\n  latency:\n    pause_above: 100ms\n"...)},
	}
	for _, f := range files {
		*f.path = filepath.Join(work, f.name)
		if err := os.WriteFile(*f.path, f.data, 0o644); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// noType is the TTL job without select.type: the work the reference does
// (SCAN MATCH, one EXPIRE NX per ticket), without the type check SCAN TYPE
// makes the server do for every matching key.
// It is written by editing the example's text: when the example no longer
// reads as expected, the file says so and the case fails.
func noType(job []byte) []byte {
	typ := []byte("\n  type: string\n")
	if bytes.Count(job, typ) != 1 {
		return []byte("examples/ticket-ttl-backfill.yaml changed: bench/cases.go noType cannot derive the what-if job from it\n")
	}
	return bytes.Replace(job, typ, []byte("\n"), 1)
}

func tickets(st seed.StoryStats) int64    { return int64(st.Tickets.Total()) }
func dealClicks(st seed.StoryStats) int64 { return int64(st.DealClicks) }

// Checks of the keyspace after a case. They count the keys without a
// TTL: a key with one may expire during the case.
func unchanged(_ seed.StoryStats, before, after keyspace) error {
	if after.Persistent() != before.Persistent() {
		return fmt.Errorf("keys without a TTL: %d, was %d", after.Persistent(), before.Persistent())
	}
	return nil
}

// everyTicketHasTTL: only the deal:clicks hashes are left without one.
func everyTicketHasTTL(st seed.StoryStats, _, after keyspace) error {
	if got, want := after.Persistent(), int64(st.DealClicks); got != want {
		return fmt.Errorf("%d keys without a TTL, want %d (the deal:clicks hashes)", got, want)
	}
	return nil
}

// dealClicksGone: only the tickets without a TTL are left without one.
func dealClicksGone(st seed.StoryStats, before, after keyspace) error {
	if got, want := after.Persistent(), int64(st.Tickets.WithoutTTL); got != want {
		return fmt.Errorf("%d keys without a TTL, want %d (the tickets without one)", got, want)
	}
	if got, want := before.Keys-after.Keys, int64(st.DealClicks); got < want {
		return fmt.Errorf("%d keys deleted, want %d", got, want)
	}
	return nil
}

func allCases() []benchCase {
	applyFlags := []string{"--rate", "unlimited", "--scan-rate", "unlimited", "--yes", "--progress", "none"}
	return []benchCase{
		{
			Name: "floor-scan", What: "SCAN 0 MATCH ticket:* COUNT 1000 loop (Go, rueidis), touching nothing",
			Keys: tickets, Check: unchanged,
			Run: func(ctx context.Context, e *env, srv *redisServer, dir string) (usage, error) {
				return inBench(func() error { _, err := floorScan(ctx, srv.URL()); return err })
			},
		},
		{
			Name: "floor-server", What: "the same SCAN + PEXPIREAT key ms NX per ticket, one round trip per batch (Go)",
			Keys: tickets, Check: everyTicketHasTTL,
			Run: func(ctx context.Context, e *env, srv *redisServer, dir string) (usage, error) {
				return inBench(func() error { _, err := floorServer(ctx, srv.URL()); return err })
			},
		},
		{
			Name: "floor-typed-native", Extra: true,
			What: "what-if floor: SCAN TYPE string + PEXPIREAT NX per ticket (the type checked at SCAN only), plain Go loop",
			Keys: tickets, Check: everyTicketHasTTL,
			Run: func(ctx context.Context, e *env, srv *redisServer, dir string) (usage, error) {
				return inBench(func() error { _, err := floorTypedNative(ctx, srv.URL()); return err })
			},
		},
		{
			Name: "floor-typed-script", Extra: true,
			What: "what-if floor: SCAN TYPE string + a script doing TYPE and PEXPIREAT NX per ticket, 32 a call (the type re-checked at the write), plain Go loop",
			Keys: tickets, Check: everyTicketHasTTL,
			Run: func(ctx context.Context, e *env, srv *redisServer, dir string) (usage, error) {
				return inBench(func() error { _, err := floorTypedScript(ctx, srv.URL()); return err })
			},
		},
		{
			Name: "reference", What: "the story's approach: redis-py SCAN + pipelined EXPIRE ttl NX per batch",
			Keys: tickets, Check: everyTicketHasTTL,
			Run: func(ctx context.Context, e *env, srv *redisServer, dir string) (usage, error) {
				host, port, _ := strings.Cut(srv.Addr, ":")
				return runProcess(ctx, dir, e.Python, e.Reference, host, port)
			},
		},
		{
			Name: "plan", What: "keyjob plan ticket-ttl-backfill.yaml --scan-rate unlimited --format json",
			Keys: tickets, Check: unchanged,
			Run: func(ctx context.Context, e *env, srv *redisServer, dir string) (usage, error) {
				// Not --out /dev/null: plan writes OUT.tmp and renames it
				// over OUT, which as root replaces /dev/null with a file.
				return runProcess(ctx, dir, e.Keyjob, "plan", e.TTLJob, "--redis", srv.URL(),
					"--scan-rate", "unlimited", "--format", "json", "--out", filepath.Join(dir, "plan.json"))
			},
		},
		{
			Name: "apply", What: "keyjob apply ticket-ttl-backfill.yaml, unlimited, guards on",
			Keys: tickets, Check: everyTicketHasTTL,
			Run: func(ctx context.Context, e *env, srv *redisServer, dir string) (usage, error) {
				args := append([]string{"apply", e.TTLJob, "--redis", srv.URL(), "--state-dir", filepath.Join(dir, "state")}, applyFlags...)
				return runProcess(ctx, dir, e.Keyjob, args...)
			},
		},
		{
			Name: "apply-unguarded", What: "the same with --unguarded",
			Keys: tickets, Check: everyTicketHasTTL,
			Run: func(ctx context.Context, e *env, srv *redisServer, dir string) (usage, error) {
				args := append([]string{"apply", e.TTLJob, "--redis", srv.URL(), "--state-dir", filepath.Join(dir, "state"), "--unguarded"}, applyFlags...)
				return runProcess(ctx, dir, e.Keyjob, args...)
			},
		},
		{
			Name: "whatif-no-journal", Extra: true,
			What: "what-if, --unguarded: the TTL job with backup: none: the same lookups and writes, no journal (no fsync per batch)",
			Keys: tickets, Check: everyTicketHasTTL,
			Run: func(ctx context.Context, e *env, srv *redisServer, dir string) (usage, error) {
				args := append([]string{"apply", e.NoJournalJob, "--redis", srv.URL(), "--state-dir", filepath.Join(dir, "state"), "--unguarded"}, applyFlags...)
				return runProcess(ctx, dir, e.Keyjob, args...)
			},
		},
		{
			Name: "whatif-no-type", Extra: true,
			What: "what-if: the TTL job without select.type, guards on: the reference's own work (SCAN MATCH, one PEXPIREAT NX per ticket), without the type check SCAN TYPE costs the server",
			Keys: tickets, Check: everyTicketHasTTL,
			Run: func(ctx context.Context, e *env, srv *redisServer, dir string) (usage, error) {
				args := append([]string{"apply", e.NoTypeJob, "--redis", srv.URL(), "--state-dir", filepath.Join(dir, "state")}, applyFlags...)
				return runProcess(ctx, dir, e.Keyjob, args...)
			},
		},
		{
			Name: "delete", What: "keyjob apply: delete deal:clicks:*, backup: none, guards on",
			Keys: dealClicks, Check: dealClicksGone,
			Run: func(ctx context.Context, e *env, srv *redisServer, dir string) (usage, error) {
				args := append([]string{"apply", e.DeleteJob, "--redis", srv.URL(), "--state-dir", filepath.Join(dir, "state")}, applyFlags...)
				return runProcess(ctx, dir, e.Keyjob, args...)
			},
		},
		{
			Name: "delete-dump", What: "the same with backup: dump (DUMP journaled, guarded script)",
			Keys: dealClicks, Check: dealClicksGone,
			Run: func(ctx context.Context, e *env, srv *redisServer, dir string) (usage, error) {
				args := append([]string{"apply", e.DumpDeleteJob, "--redis", srv.URL(), "--state-dir", filepath.Join(dir, "state")}, applyFlags...)
				return runProcess(ctx, dir, e.Keyjob, args...)
			},
		},
		trimCase(),
	}
}

// usage is what a case's client cost.
type usage struct {
	RSS int64         // peak resident set, bytes; 0 for a loop in the bench
	CPU time.Duration // user + system
}

// inBench runs a loop inside the bench and measures its CPU (the bench
// does nothing else meanwhile).
func inBench(f func() error) (usage, error) {
	t0 := selfRusage()
	err := f()
	t1 := selfRusage()
	return usage{CPU: t1.user - t0.user + t1.sys - t0.sys}, err
}

// runProcess runs a command to its end with its output in dir, and returns
// its peak RSS and CPU, read by the launcher (launch.go) so that the
// bench's own memory does not count. A failure quotes the end of its
// stderr.
func runProcess(ctx context.Context, dir, bin string, args ...string) (usage, error) {
	rusage := filepath.Join(dir, filepath.Base(bin)+".rusage")
	cmd, err := launched(ctx, bin, args, rusage)
	if err != nil {
		return usage{}, err
	}
	var stderr bytes.Buffer
	stdout, err := os.Create(filepath.Join(dir, filepath.Base(bin)+".out"))
	if err != nil {
		return usage{}, err
	}
	defer stdout.Close()
	cmd.Stdout, cmd.Stderr = stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	os.WriteFile(filepath.Join(dir, filepath.Base(bin)+".err"), stderr.Bytes(), 0o644)
	u, ok := launchedUsage(rusage)
	if !ok && err == nil {
		err = errors.New("the launcher wrote no rusage")
	}
	if err != nil {
		return u, fmt.Errorf("%s %s: %w: %s", filepath.Base(bin), args[0], err, tail(stderr.String(), 400))
	}
	return u, nil
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return strconv.Quote(s)
}

// result is one case's run.
type result struct {
	Wall      time.Duration
	ServerCmd time.Duration // sum of INFO commandstats usec
	ServerCPU time.Duration // redis-server user+system CPU
	RSS       int64
	ClientCPU time.Duration
	Stats     map[string]cmdStat
	Slow      slow // SLOWLOG: SCANs over 2 ms, script calls over 1 ms, others over 2 ms
	Err       error
}

// ServerRatio is wall time over the server's time for the commands sent.
func (r result) ServerRatio() float64 { return ratio(r.Wall, r.ServerCmd) }

// PerKey is the calls per key of every command but SCAN.
func (r result) PerKey(keys int64) float64 {
	var n int64
	for name, st := range r.Stats {
		if name != "scan" {
			n += st.Calls
		}
	}
	return float64(n) / float64(max(keys, 1))
}

// Beyond is the calls of every command but those named.
func (r result) Beyond(names ...string) int64 {
	var n int64
	for name, st := range r.Stats {
		if !slices.Contains(names, name) {
			n += st.Calls
		}
	}
	return n
}

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// topLevelTime is the server's time for the commands a client sent: the
// sum of commandstats usec, less the commands a script called, which
// commandstats counts both on their own line and inside EVALSHA's usec.
// keyjob's guarded script calls PTTL, OBJECT IDLETIME, DUMP (once per key
// when it checks a digest) and the change itself; outside the script, the
// job sends no change command and one DUMP per key (backup: dump).
func topLevelTime(stats map[string]cmdStat) time.Duration {
	var usec int64
	for _, s := range stats {
		usec += s.Usec
	}
	scripts := stats["evalsha"].Calls + stats["eval"].Calls
	if scripts > 0 {
		for _, inner := range []string{"pttl", "object|idletime", "unlink", "persist", "pexpireat"} {
			usec -= stats[inner].Usec
		}
		if d := stats["dump"]; d.Calls > 0 {
			usec -= d.Usec * min(scripts, d.Calls) / d.Calls
		}
	}
	return time.Duration(usec) * time.Microsecond
}

// runCase starts a fresh server on a copy of rdb, runs the case and reads
// the server's figures.
func runCase(ctx context.Context, e *env, c benchCase, rdb string, st seed.StoryStats, dir string) result {
	srv, err := startRedis(ctx, e.RedisServer, filepath.Join(dir, "redis"), rdb)
	if err != nil {
		return result{Err: err}
	}
	defer srv.Stop()
	var before keyspace
	if before.Keys, before.Expires, err = srv.Keyspace(ctx); err != nil {
		return result{Err: err}
	}
	// Keys with a TTL may have expired since the seed; the others may not.
	if want := int64(st.Tickets.WithoutTTL + st.DealClicks); before.Persistent() != want {
		return result{Err: fmt.Errorf("the server loaded %d keys without a TTL, want %d", before.Persistent(), want)}
	}
	if err := srv.ResetStats(ctx); err != nil {
		return result{Err: err}
	}
	// Generous: a bound for a hung case, not a target.
	caseCtx, cancel := context.WithTimeout(ctx, time.Minute+time.Duration(st.Keys())*2*time.Minute/1e6)
	defer cancel()
	cpu0, _ := srv.CPU()
	start := time.Now()
	u, err := c.Run(caseCtx, e, srv, dir)
	r := result{Wall: time.Since(start), RSS: u.RSS, ClientCPU: u.CPU, Err: err}
	cpu1, _ := srv.CPU()
	r.ServerCPU = cpu1 - cpu0
	if r.Stats, err = srv.CommandStats(ctx); err != nil && r.Err == nil {
		r.Err = err
	}
	r.ServerCmd = topLevelTime(r.Stats)
	r.Slow, _ = srv.Slow(ctx)
	if r.Err != nil {
		return r
	}
	var after keyspace
	if after.Keys, after.Expires, err = srv.Keyspace(ctx); err != nil {
		r.Err = err
		return r
	}
	if err := c.Check(st, before, after); err != nil {
		r.Err = fmt.Errorf("check: %w", err)
	}
	return r
}
