// Command bench is keyjob's benchmark (the targets are in the README's
// benchmark section): it loads the ticket story's keyspace once, then for
// each case starts a fresh local redis-server on a copy of it, runs the case and reads the
// wall time, the server's own time for the commands sent (INFO
// commandstats usec, reset before the case), the server's CPU time and
// keyjob's peak RSS. Several runs; every ratio is taken within one run,
// and the medians are printed as a markdown table. The cluster-rss case
// (cluster.go) measures keyjob's peak RSS for plan, survey and apply on a
// standalone server and on clusters of 8, 40 and 100 primaries, against the
// memory targets at scale. Every peak RSS is a child's rusage, read by a
// small launcher (launch.go).
//
//	make bench                                  # 1M tickets, 3 runs, ~6 min
//	go run ./bench -keyjob bin/keyjob -runs 5 -only apply,apply-unguarded
//	go run ./bench -keyjob bin/keyjob -keys 10000000   # adds the RSS check at 10M (~3 min more)
//	go run ./bench -keyjob bin/keyjob -only cluster-rss -cluster-primaries 0,8,40,100
//	go run ./bench -profile /tmp/prof           # apply in-process under pprof
//	go run ./bench -profile /tmp/prof -profile-cmd plan
//
// The servers are processes (/usr/bin/redis-server, --save "" --appendonly
// no, a temp dir each) rather than containers, to keep the noise low. It
// needs redis-server, redis-benchmark (redis-tools) and Debian's python3
// with python3-redis: bench/deps.sh installs them.
//
// It depends on the module's internal/seed (the keyspace), internal/redistest
// (the big-cluster lock and the wait for a cluster to be ok), apply and guard
// (the in-process profile only); nothing depends on it.
package main

import (
	"context"
	_ "embed"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/keyjob/keyjob/internal/seed"
)

//go:embed reference.py
var referencePy []byte

type config struct {
	Tickets        int
	Runs           int
	Only           map[string]bool
	RSSKeys        int
	Keyjob         string
	RedisServer    string
	RedisBenchmark string
	Python         string
	BenchN         int
	Out            string
	Profile        string
	ProfileJob     string
	Unguarded      bool
	ProfileState   string
	ProfileCmd     string
	KeepWork       bool
	ClusterSizes   []int
}

func main() {
	if out := os.Getenv(launchEnv); out != "" {
		os.Exit(launch(out, os.Args[1:]))
	}
	var cfg config
	var only, sizes string
	flag.IntVar(&cfg.Tickets, "tickets", 1000000, "tickets in the keyspace (plus a tenth as many deal:clicks hashes and a twentieth as many sessions)")
	flag.IntVar(&cfg.Runs, "runs", 3, "runs of every case; the table shows medians")
	flag.StringVar(&only, "only", "", "comma-separated cases to run: "+strings.Join(caseNames(), ",")+" (the whatif-* cases run only when named)")
	flag.IntVar(&cfg.RSSKeys, "keys", 0, "also run keyjob apply once at this many tickets (e.g. 10000000) and compare its peak RSS with the one at -tickets")
	flag.StringVar(&cfg.Keyjob, "keyjob", "", "the keyjob binary; empty builds ./cmd/keyjob into the work dir")
	flag.StringVar(&cfg.RedisServer, "redis-server", "/usr/bin/redis-server", "redis-server binary")
	flag.StringVar(&cfg.RedisBenchmark, "redis-benchmark", "/usr/bin/redis-benchmark", "redis-benchmark binary (gentleness case)")
	flag.StringVar(&cfg.Python, "python", "/usr/bin/python3", "a python3 with the redis module (Debian's python3-redis)")
	flag.IntVar(&cfg.BenchN, "bench-requests", 200000, "redis-benchmark -n, per command, in the gentleness case")
	flag.StringVar(&cfg.Out, "out", "", "also write the markdown report to this file")
	flag.StringVar(&cfg.Profile, "profile", "", "instead of the benchmark: run keyjob apply in-process on the keyspace and write cpu.pprof and allocs.pprof to this directory")
	flag.StringVar(&cfg.ProfileJob, "profile-job", "", "with -profile: the job file (default examples/ticket-ttl-backfill.yaml)")
	flag.BoolVar(&cfg.Unguarded, "unguarded", false, "with -profile: no guards")
	flag.StringVar(&cfg.ProfileCmd, "profile-cmd", "apply", "with -profile: apply or plan")
	flag.StringVar(&cfg.ProfileState, "profile-state-dir", "", "with -profile: where the run's journal and checkpoint go (e.g. /dev/shm, to take fsync out)")
	flag.StringVar(&sizes, "cluster-primaries", "0,8,40,100", "the cluster-rss case's targets: primaries of each cluster, 0 for a standalone server")
	flag.BoolVar(&cfg.KeepWork, "keep", false, "keep the work dir (servers' logs, keyjob's output and reports)")
	flag.Parse()
	if only != "" {
		cfg.Only = map[string]bool{}
		for _, n := range strings.Split(only, ",") {
			n = strings.TrimSpace(n)
			if !slices.Contains(caseNames(), n) {
				fmt.Fprintf(os.Stderr, "bench: -only %s: no such case; cases: %s\n", n, strings.Join(caseNames(), ","))
				os.Exit(2)
			}
			cfg.Only[n] = true
		}
	}
	var err error
	if cfg.ClusterSizes, err = parseSizes(sizes); err != nil {
		fmt.Fprintf(os.Stderr, "bench: -cluster-primaries %s: %v\n", sizes, err)
		os.Exit(2)
	}
	// Cleanup (servers, temp dirs) runs on Ctrl-C, SIGTERM and a closed
	// stdout (| head) alike.
	signal.Ignore(syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.Profile != "" {
		err = runProfile(ctx, cfg, os.Stdout)
	} else {
		err = run(ctx, cfg, os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func caseNames() []string {
	var names []string
	for _, c := range allCases() {
		names = append(names, c.Name)
	}
	return append(names, "gentle", clusterRSSName)
}

func (cfg config) wants(c benchCase) bool {
	if cfg.Only == nil {
		return !c.Extra
	}
	return cfg.Only[c.Name]
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, a...))
}

// fixture is the keyspace of one size, saved once as an RDB file.
type fixture struct {
	RDB   string
	Stats seed.StoryStats
	Took  time.Duration
}

// loadFixture seeds the ticket story into a server and saves it.
func loadFixture(ctx context.Context, cfg config, work string, tickets int) (fixture, error) {
	start := time.Now()
	dir := filepath.Join(work, fmt.Sprintf("fixture-%d", tickets))
	srv, err := startRedis(ctx, cfg.RedisServer, dir, "")
	if err != nil {
		return fixture{}, err
	}
	defer srv.Kill() // its dump.rdb stays
	st, err := seed.Story(ctx, srv.Client, tickets)
	if err != nil {
		return fixture{}, err
	}
	rdb, err := srv.Save(ctx)
	if err != nil {
		return fixture{}, err
	}
	return fixture{RDB: rdb, Stats: st, Took: time.Since(start)}, nil
}

func run(ctx context.Context, cfg config, stdout io.Writer) error {
	began := time.Now()
	work, err := os.MkdirTemp("", "keyjob-bench-")
	if err != nil {
		return err
	}
	if cfg.KeepWork {
		logf("work dir %s (kept)", work)
	} else {
		defer os.RemoveAll(work)
	}
	e, err := newEnv(work)
	if err != nil {
		return err
	}
	e.RedisServer, e.RedisBenchmark, e.Python = cfg.RedisServer, cfg.RedisBenchmark, cfg.Python
	if e.Keyjob, err = keyjobBinary(ctx, cfg, work); err != nil {
		return err
	}
	var cases []benchCase
	for _, c := range allCases() {
		if cfg.wants(c) {
			cases = append(cases, c)
		}
	}
	story := len(cases) > 0 || cfg.wants(benchCase{Name: "gentle"}) || cfg.RSSKeys > 0
	if err := checkTools(ctx, e, story); err != nil {
		return err
	}
	rep := report{cfg: cfg, cases: cases, keyjob: e.Keyjob}
	if story {
		if err := runMain(ctx, cfg, e, work, &rep); err != nil {
			return err
		}
	}
	var clusterRSS []rssRow
	if cfg.wants(benchCase{Name: clusterRSSName}) {
		clusterRSS = runClusterRSS(ctx, cfg, e, work, cfg.ClusterSizes)
	}
	rep.took = time.Since(began)
	w := stdout
	if cfg.Out != "" {
		f, err := os.Create(cfg.Out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = io.MultiWriter(stdout, f)
	}
	if rep.results != nil {
		rep.write(w)
	}
	if clusterRSS != nil {
		writeClusterRSS(w, clusterRSS, cfg.Runs)
	}
	return nil
}

// runMain runs the cases on the ticket story's keyspace (and the gentleness
// and RSS checks) into rep.
func runMain(ctx context.Context, cfg config, e *env, work string, rep *report) error {
	logf("loading the ticket story: %d tickets", cfg.Tickets)
	fx, err := loadFixture(ctx, cfg, work, cfg.Tickets)
	if err != nil {
		return err
	}
	logf("loaded %d keys (%d tickets, %d without a TTL) in %s", fx.Stats.Keys(), fx.Stats.Tickets.Total(), fx.Stats.Tickets.WithoutTTL, fx.Took.Round(time.Millisecond))

	results := map[string][]result{}
	var gentle []gentleResult
	for run := 1; run <= cfg.Runs; run++ {
		for _, c := range rep.cases {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			dir := filepath.Join(work, fmt.Sprintf("run%d-%s", run, c.Name))
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return err
			}
			r := runCase(ctx, e, c, fx.RDB, fx.Stats, dir)
			results[c.Name] = append(results[c.Name], r)
			if r.Err != nil {
				logf("run %d %-16s FAILED: %v", run, c.Name, r.Err)
				continue
			}
			logf("run %d %-16s wall %7.2fs  server %6.2fs  ratio %5.2f  rss %s", run, c.Name,
				r.Wall.Seconds(), r.ServerCmd.Seconds(), r.ServerRatio(), mib(r.RSS))
		}
		if cfg.wants(benchCase{Name: "gentle"}) {
			dir := filepath.Join(work, fmt.Sprintf("run%d-gentle", run))
			os.MkdirAll(dir, 0o700)
			g := runGentle(ctx, e, fx.RDB, fx.Stats, dir, cfg.BenchN)
			gentle = append(gentle, g)
			if g.Err != nil {
				logf("run %d gentle           FAILED: %v", run, g.Err)
			} else {
				logf("run %d gentle           probe p99 %s -> %s, redis-benchmark SET p99 %s -> %s, keyjob at %.0f changes/s", run,
					g.Without.ProbeP99, g.With.ProbeP99, g.Without.BenchSETp99, g.With.BenchSETp99, g.ChangeRate)
			}
		}
	}

	var rss *rssCheck
	if cfg.RSSKeys > 0 {
		os.RemoveAll(filepath.Dir(fx.RDB)) // room: only the big keyspace is needed now
		rss = runRSSCheck(ctx, cfg, e, work)
	}

	rep.fx, rep.results, rep.gentle, rep.rss = fx, results, gentle, rss
	return nil
}

// runRSSCheck runs keyjob apply (guards on, unlimited) once at
// cfg.RSSKeys tickets. A failure is reported in the table, not fatal.
func runRSSCheck(ctx context.Context, cfg config, e *env, work string) *rssCheck {
	rss := &rssCheck{Tickets: cfg.RSSKeys}
	start := time.Now()
	logf("RSS check: loading %d tickets", cfg.RSSKeys)
	big, err := loadFixture(ctx, cfg, work, cfg.RSSKeys)
	if err != nil {
		rss.Result.Err = err
		logf("RSS check FAILED: %v", err)
		return rss
	}
	logf("loaded %d keys in %s; running keyjob apply", big.Stats.Keys(), big.Took.Round(time.Millisecond))
	dir := filepath.Join(work, "rss-apply")
	os.MkdirAll(dir, 0o700)
	i := slices.IndexFunc(allCases(), func(c benchCase) bool { return c.Name == "apply" })
	rss.Result = runCase(ctx, e, allCases()[i], big.RDB, big.Stats, dir)
	rss.Took = time.Since(start)
	os.RemoveAll(filepath.Dir(big.RDB))
	if rss.Result.Err != nil {
		logf("RSS check FAILED: %v", rss.Result.Err)
	} else {
		logf("RSS check: apply at %d tickets: wall %.1fs, rss %s (whole check %s)", cfg.RSSKeys, rss.Result.Wall.Seconds(), mib(rss.Result.RSS), rss.Took.Round(time.Second))
	}
	return rss
}

// keyjobBinary is -keyjob, or a fresh build of ./cmd/keyjob.
func keyjobBinary(ctx context.Context, cfg config, work string) (string, error) {
	if cfg.Keyjob != "" {
		return filepath.Abs(cfg.Keyjob)
	}
	bin := filepath.Join(work, "keyjob")
	logf("building ./cmd/keyjob")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/keyjob")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/keyjob (run the bench from the module's root): %w", err)
	}
	return bin, nil
}

// checkTools checks the binaries the bench runs: without the story's cases
// (cluster-rss alone), redis-server and keyjob only.
func checkTools(ctx context.Context, e *env, story bool) error {
	bins := []string{e.RedisServer, e.Keyjob}
	if story {
		bins = append(bins, e.RedisBenchmark, e.Python)
	}
	for _, bin := range bins {
		if _, err := os.Stat(bin); err != nil {
			return fmt.Errorf("%s: %w (bench/deps.sh installs what the bench needs)", bin, err)
		}
	}
	if !story {
		return nil
	}
	if out, err := exec.CommandContext(ctx, e.Python, "-c", "import redis").CombinedOutput(); err != nil {
		return fmt.Errorf("%s has no redis module (apt-get install python3-redis): %s", e.Python, strings.TrimSpace(string(out)))
	}
	return nil
}

func mib(b int64) string {
	if b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}
