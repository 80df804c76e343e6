package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/keyjob/keyjob/internal/redistest"
	"github.com/keyjob/keyjob/internal/seed"
)

// The cluster-rss case (issue 18, memory at scale): keyjob's peak RSS for
// plan, survey and apply of the ticket job on 60,000 tickets, on one
// standalone server and on clusters of 8, 40 and 100 primaries made of
// local redis-server processes. The connections grow with the node
// count; the batches in flight with the shards walked at once, in full
// only where a shard holds enough keys for full SCAN batches: at 8
// primaries (7,500 tickets a shard, every shard walked at once) rather
// than at 40 or 100, whose shards' walks are a few small batches. The
// tickets are few so that the case stays short.
const (
	clusterRSSName    = "cluster-rss"
	clusterRSSTickets = 60000
)

// clusterRSSTarget is the peak RSS keyjob must stay within, MiB; 0 when
// the issue sets none (survey up to 40 primaries). The targets at
// 40 primaries hold for fewer too; standalone has the bench's target for
// any case.
func clusterRSSTarget(primaries int, command string) float64 {
	switch {
	case primaries == 0:
		return 64
	case primaries <= 40 && command == "plan":
		return 40
	case primaries <= 40 && command == "apply":
		return 48
	case primaries <= 40:
		return 0
	default:
		return 64
	}
}

// rssRow is one command on one target, over the runs.
type rssRow struct {
	Primaries int // 0: standalone
	Command   string
	RSS       []int64
	Wall      []time.Duration
	Err       error
}

// rssTarget is a running target of the case: a standalone server or a
// cluster, its URL, a client to seed it and the servers behind it.
type rssTarget struct {
	URL     string
	Client  rueidis.Client
	Servers []*redisServer
	release func()
	// addrs and primaries of a cluster, to wait until it is ok again.
	addrs     []string
	primaries int
}

func (t *rssTarget) Stop() {
	if t.Client != nil {
		t.Client.Close()
	}
	for _, s := range t.Servers {
		s.Stop()
	}
	if t.release != nil {
		t.release()
	}
}

// runClusterRSS runs the case for every size in sizes (0: standalone).
// A failure is reported in its row, not fatal.
func runClusterRSS(ctx context.Context, cfg config, e *env, work string, sizes []int) []rssRow {
	var rows []rssRow
	for _, n := range sizes {
		rows = append(rows, clusterRSSSize(ctx, cfg, e, filepath.Join(work, fmt.Sprintf("rss-%d", n)), n)...)
		if ctx.Err() != nil {
			break
		}
	}
	return rows
}

func clusterRSSSize(ctx context.Context, cfg config, e *env, dir string, primaries int) []rssRow {
	rows := []rssRow{{Primaries: primaries, Command: "plan"}, {Primaries: primaries, Command: "survey"}, {Primaries: primaries, Command: "apply"}}
	fail := func(err error) []rssRow {
		logf("cluster-rss %s FAILED: %v", serversName(primaries), err)
		for i := range rows {
			rows[i].Err = err
		}
		return rows
	}
	start := time.Now()
	t, err := startRSSTarget(ctx, cfg.RedisServer, dir, primaries)
	if err != nil {
		return fail(err)
	}
	defer t.Stop()
	logf("cluster-rss %s up in %s", serversName(primaries), time.Since(start).Round(time.Millisecond))
	spec := seed.TicketSpec{Count: clusterRSSTickets, Span: 300 * 24 * time.Hour, WithTTLShare: 0.05, Seed: 18}
	for run := 1; run <= cfg.Runs; run++ {
		if err := t.reseed(ctx, spec, run > 1); err != nil {
			return fail(err)
		}
		runDir := filepath.Join(dir, fmt.Sprintf("run%d", run))
		args := map[string][]string{
			"plan": {"plan", e.TTLJob, "--redis", t.URL, "--scan-rate", "unlimited", "--format", "json",
				"--out", filepath.Join(runDir, "plan.json")},
			"survey": {"survey", "--redis", t.URL, "--match", "ticket:*", "--scan-rate", "unlimited", "--format", "json",
				"--out", filepath.Join(runDir, "survey.json")},
			"apply": {"apply", e.LooseLatencyJob, "--allow-looser-guards", "--from-high-latency", "--redis", t.URL, "--state-dir", filepath.Join(runDir, "state"),
				"--rate", "unlimited", "--scan-rate", "unlimited", "--yes", "--progress", "none"},
		}
		for i := range rows {
			r := &rows[i]
			if r.Err != nil {
				continue
			}
			cmdDir := filepath.Join(runDir, r.Command)
			if err := os.MkdirAll(cmdDir, 0o700); err != nil {
				return fail(err)
			}
			began := time.Now()
			u, err := runProcess(ctx, cmdDir, e.Keyjob, args[r.Command]...)
			if err == nil && r.Command == "apply" {
				err = t.allExpire(ctx)
			}
			if err != nil {
				r.Err = err
				logf("run %d cluster-rss %s %s FAILED: %v", run, serversName(primaries), r.Command, err)
				continue
			}
			r.RSS = append(r.RSS, u.RSS)
			r.Wall = append(r.Wall, time.Since(began))
			logf("run %d cluster-rss %-13s %-6s wall %6.2fs  rss %s", run, serversName(primaries), r.Command, time.Since(began).Seconds(), mib(u.RSS))
		}
	}
	return rows
}

// startRSSTarget starts a standalone server (primaries 0) or a cluster.
func startRSSTarget(ctx context.Context, bin, dir string, primaries int) (*rssTarget, error) {
	if primaries == 0 {
		srv, err := startRedis(ctx, bin, dir, "")
		if err != nil {
			return nil, err
		}
		return &rssTarget{URL: srv.URL(), Servers: []*redisServer{srv}}, nil
	}
	return startCluster(ctx, bin, dir, primaries)
}

// The nodes' cluster-node-timeout is 15 s: a hundred servers on a shared
// 2-core machine missed each other's pings at 5 s, and the cluster went
// down in the middle of a case.
//
// startCluster starts primaries cluster-enabled servers, gives each an
// equal share of the slots and joins them (CLUSTER ADDSLOTSRANGE,
// SET-CONFIG-EPOCH, MEET: what redis-cli --cluster create does), then
// waits until every node says the cluster is ok. It holds the machine's
// big-cluster lock (internal/redistest) until Stop, so that the bench's
// cluster and a test's do not share the cores.
func startCluster(ctx context.Context, bin, dir string, primaries int) (_ *rssTarget, err error) {
	release, err := redistest.LockBigCluster()
	if err != nil {
		return nil, err
	}
	t := &rssTarget{release: release}
	defer func() {
		if err != nil {
			t.Stop()
		}
	}()
	buses := make([]int, primaries)
	var addrs []string
	for i := range primaries {
		var srv *redisServer
		// A free port can be taken again between the look and the
		// server's bind (the server's own and its bus port are looked up
		// one after the other): a node that did not start gets new ones.
		for try := 0; srv == nil; try++ {
			if buses[i], err = freePort(); err != nil {
				return nil, err
			}
			srv, err = startRedis(ctx, bin, filepath.Join(dir, fmt.Sprintf("node%d-%d", i, try)), "",
				"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
				"--cluster-port", strconv.Itoa(buses[i]), "--cluster-node-timeout", "15000")
			if err != nil && try == 2 {
				return nil, fmt.Errorf("node %d: %w", i, err)
			}
		}
		t.Servers = append(t.Servers, srv)
		addrs = append(addrs, srv.Addr)
	}
	const slots = 16384
	host, port0, _ := strings.Cut(addrs[0], ":")
	for i, s := range t.Servers {
		lo, hi := i*slots/primaries, (i+1)*slots/primaries-1
		cmds := [][]string{
			{"CLUSTER", "ADDSLOTSRANGE", strconv.Itoa(lo), strconv.Itoa(hi)},
			{"CLUSTER", "SET-CONFIG-EPOCH", strconv.Itoa(i + 1)},
		}
		if i > 0 {
			cmds = append(cmds, []string{"CLUSTER", "MEET", host, port0, strconv.Itoa(buses[0])})
		}
		for _, c := range cmds {
			if err := s.Client.Do(ctx, s.Client.B().Arbitrary(c...).Build()).Error(); err != nil {
				return nil, fmt.Errorf("%s on %s: %w", strings.Join(c, " "), s.Addr, err)
			}
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if err := redistest.WaitClusterOK(wctx, addrs, primaries, 0); err != nil {
		return nil, err
	}
	t.URL = "redis://" + addrs[0]
	t.addrs, t.primaries = addrs, primaries
	return t, nil
}

// reseed loads the tickets (flushing the servers first when flush).
func (t *rssTarget) reseed(ctx context.Context, spec seed.TicketSpec, flush bool) error {
	if flush {
		for _, s := range t.Servers {
			if err := s.Client.Do(ctx, s.Client.B().Flushall().Build()).Error(); err != nil {
				return fmt.Errorf("FLUSHALL on %s: %w", s.Addr, err)
			}
		}
	}
	if t.Client == nil {
		var err error
		addr := strings.TrimPrefix(strings.TrimSuffix(t.URL, "/0"), "redis://")
		if t.Client, err = rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true}); err != nil {
			return err
		}
	}
	if t.primaries > 0 {
		// A node can have been thought failed meanwhile on a busy machine.
		wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		if err := redistest.WaitClusterOK(wctx, t.addrs, t.primaries, 0); err != nil {
			return err
		}
	}
	spec.Now = time.Now()
	_, err := seed.Tickets(ctx, t.Client, spec)
	return err
}

// allExpire checks apply's work: every key of every server has a TTL.
func (t *rssTarget) allExpire(ctx context.Context) error {
	var keys, expires int64
	for _, s := range t.Servers {
		k, x, err := s.Keyspace(ctx)
		if err != nil {
			return err
		}
		keys, expires = keys+k, expires+x
	}
	if keys == 0 || keys != expires {
		return fmt.Errorf("check: %d keys, %d of them with a TTL; want every one", keys, expires)
	}
	return nil
}

func serversName(primaries int) string {
	if primaries == 0 {
		return "standalone"
	}
	return fmt.Sprintf("%d primaries", primaries)
}

// parseSizes reads -cluster-primaries: a comma-separated list of primary
// counts, 0 for the standalone row.
func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 || n == 1 || n == 2 {
			return nil, errors.New("want primary counts of 3 or more, or 0 for a standalone server")
		}
		out = append(out, n)
	}
	return out, nil
}

func writeClusterRSS(w io.Writer, rows []rssRow, runs int) {
	fmt.Fprintf(w, "### Peak RSS by cluster size (cluster-rss)\n\n")
	fmt.Fprintf(w, "%d tickets, the ticket job; plan and survey with --scan-rate unlimited, apply with --rate and --scan-rate unlimited, guards on (latency's pause level at 100ms, relative to the start's figure when that is higher: the shared machine's own noise); default --shards-at-once; %d runs, the largest peak of the runs.\n\n", clusterRSSTickets, runs)
	fmt.Fprintln(w, "| servers | command | peak RSS | wall (median) | target | met |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---|")
	for _, r := range rows {
		target := clusterRSSTarget(r.Primaries, r.Command)
		tgt := "–"
		if target > 0 {
			tgt = fmt.Sprintf("≤ %.0f MiB", target)
		}
		if r.Err != nil || len(r.RSS) == 0 {
			fmt.Fprintf(w, "| %s | %s | failed: %v | | %s | |\n", serversName(r.Primaries), r.Command, r.Err, tgt)
			continue
		}
		peak := float64(slices.Max(r.RSS)) / (1 << 20)
		met := ""
		if target > 0 {
			met = "yes"
			if peak > target {
				met = "**no**"
			}
		}
		walls := slices.Clone(r.Wall)
		slices.Sort(walls)
		fmt.Fprintf(w, "| %s | %s | %.1f MiB | %.2f s | %s | %s |\n", serversName(r.Primaries), r.Command, peak, walls[len(walls)/2].Seconds(), tgt, met)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "peak RSS: wait4's maxrss of keyjob, started by a small launcher (bench/launch.go) so that the bench's own memory does not count.")
	fmt.Fprintln(w)
}
