package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/rueidis"

	"github.com/keyjob/keyjob/internal/seed"
)

// The gentleness case: another client's latency with and without keyjob
// apply running at the job's default rate (limits.rate 5000/s, scan_rate
// 100000/s, guards on).
const (
	probeRate     = 1000 // GETs a second from the paced probe
	probeDuration = 5 * time.Second
)

// latency is what one client saw.
type latency struct {
	BenchSETp99, BenchGETp99 time.Duration // redis-benchmark -t get,set -c 10 (saturating)
	ProbeP99, ProbeP999      time.Duration // one connection, paced
	ProbeMax                 time.Duration
}

// gentleResult is one run of the gentleness case.
type gentleResult struct {
	Without, With latency
	ChangeRate    float64 // PEXPIREATs a second keyjob made while measured
	Err           error
}

func runGentle(ctx context.Context, e *env, rdb string, st seed.StoryStats, dir string, benchN int) gentleResult {
	srv, err := startRedis(ctx, e.RedisServer, filepath.Join(dir, "redis"), rdb)
	if err != nil {
		return gentleResult{Err: err}
	}
	defer srv.Stop()
	var g gentleResult
	if g.Without, err = measureLatency(ctx, e, srv, benchN); err != nil {
		return gentleResult{Err: err}
	}

	cmd := exec.Command(e.Keyjob, "apply", e.TTLJob, "--redis", srv.URL(), "--yes", "--progress", "none",
		"--state-dir", filepath.Join(dir, "state"))
	out, err := os.Create(filepath.Join(dir, "keyjob.out"))
	if err != nil {
		return gentleResult{Err: err}
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return gentleResult{Err: err}
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() error {
		cmd.Process.Signal(syscall.SIGINT)
		select {
		case err := <-exited:
			return err
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			return <-exited
		}
	}
	// Measure once keyjob is changing keys, not during its summary and
	// guard baseline.
	if err := waitForChanges(ctx, srv, exited); err != nil {
		stop()
		return gentleResult{Err: err}
	}
	c0, _ := srv.CommandStats(ctx)
	t0 := time.Now()
	g.With, err = measureLatency(ctx, e, srv, benchN)
	c1, _ := srv.CommandStats(ctx)
	g.ChangeRate = float64(c1["pexpireat"].Calls-c0["pexpireat"].Calls) / time.Since(t0).Seconds()
	select {
	case werr := <-exited:
		return gentleResult{Err: fmt.Errorf("keyjob apply ended before the measurement did (%v): see %s", werr, out.Name())}
	default:
	}
	if err != nil {
		stop()
		return gentleResult{Err: err}
	}
	// SIGINT: keyjob finishes its batch, checkpoints and exits 130.
	if err := stop(); err != nil {
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
			return gentleResult{Err: fmt.Errorf("keyjob apply after SIGINT: %v (want exit 130)", err)}
		}
	}
	return g
}

func waitForChanges(ctx context.Context, srv *redisServer, exited <-chan error) error {
	deadline := time.After(60 * time.Second)
	for {
		st, err := srv.CommandStats(ctx)
		if err != nil {
			return err
		}
		if st["pexpireat"].Calls > 0 {
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("keyjob apply ended before changing a key: %v", err)
		case <-deadline:
			return fmt.Errorf("keyjob apply changed no key in 60 s")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func measureLatency(ctx context.Context, e *env, srv *redisServer, benchN int) (latency, error) {
	var l latency
	host, port, _ := strings.Cut(srv.Addr, ":")
	out, err := exec.CommandContext(ctx, e.RedisBenchmark, "-h", host, "-p", port,
		"-t", "get,set", "-n", strconv.Itoa(benchN), "-c", "10", "--csv").Output()
	if err != nil {
		return l, fmt.Errorf("redis-benchmark: %w", err)
	}
	if l.BenchSETp99, l.BenchGETp99, err = benchP99(out); err != nil {
		return l, err
	}
	l.ProbeP99, l.ProbeP999, l.ProbeMax, err = probe(ctx, srv.Addr)
	return l, err
}

// benchP99 reads the p99 of SET and GET from redis-benchmark --csv:
// "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
func benchP99(out []byte) (set, get time.Duration, err error) {
	rows, err := csv.NewReader(strings.NewReader(string(out))).ReadAll()
	if err != nil || len(rows) < 2 {
		return 0, 0, fmt.Errorf("redis-benchmark --csv: unexpected output %q", out)
	}
	col := slices.Index(rows[0], "p99_latency_ms")
	if col < 0 {
		return 0, 0, fmt.Errorf("redis-benchmark --csv: no p99_latency_ms column in %q", rows[0])
	}
	for _, r := range rows[1:] {
		ms, perr := strconv.ParseFloat(r[col], 64)
		if perr != nil {
			continue
		}
		d := time.Duration(ms * float64(time.Millisecond))
		switch r[0] {
		case "SET":
			set = d
		case "GET":
			get = d
		}
	}
	return set, get, nil
}

// probe is a well-behaved client: one connection, probeRate GETs a second
// for probeDuration, each timed.
func probe(ctx context.Context, addr string) (p99, p999, worst time.Duration, err error) {
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true, ForceSingleClient: true, ClientName: "bench-probe"})
	if err != nil {
		return 0, 0, 0, err
	}
	defer c.Close()
	get := c.B().Get().Key("bench:probe").Build().Pin()
	tick := time.NewTicker(time.Second / probeRate)
	defer tick.Stop()
	end := time.Now().Add(probeDuration)
	var ds []time.Duration
	for time.Now().Before(end) {
		select {
		case <-ctx.Done():
			return 0, 0, 0, ctx.Err()
		case <-tick.C:
		}
		t := time.Now()
		if err := c.Do(ctx, get).Error(); err != nil && !rueidis.IsRedisNil(err) {
			return 0, 0, 0, err
		}
		ds = append(ds, time.Since(t))
	}
	slices.Sort(ds)
	return quantile(ds, 0.99), quantile(ds, 0.999), ds[len(ds)-1], nil
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
