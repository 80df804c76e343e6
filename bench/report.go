package main

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// rssCheck is keyjob apply at a larger keyspace, for RSS flatness.
type rssCheck struct {
	Tickets int
	Result  result
	Took    time.Duration
}

type report struct {
	cfg     config
	fx      fixture
	cases   []benchCase
	results map[string][]result
	gentle  []gentleResult
	rss     *rssCheck
	took    time.Duration
	keyjob  string
}

func (rep report) write(w io.Writer) {
	host, _ := os.Hostname()
	fmt.Fprintf(w, "## keyjob benchmark\n\n")
	fmt.Fprintf(w, "%d tickets (%d without a TTL), %d deal:clicks hashes, %d sessions; %d runs, medians; %s, %d CPUs, %s, redis-server %s; took %s.\n\n",
		rep.fx.Stats.Tickets.Total(), rep.fx.Stats.Tickets.WithoutTTL, rep.fx.Stats.DealClicks, rep.fx.Stats.Sessions,
		rep.cfg.Runs, host, runtime.NumCPU(), runtime.Version(), redisVersion(rep.cfg.RedisServer), rep.took.Round(time.Second))

	fmt.Fprintln(w, "| case | wall | keys/s | server cmd time | wall / server | server CPU | client CPU | cmds/key beyond SCAN | SCAN calls | SCAN > 2 ms (slowest) | peak RSS |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, c := range rep.cases {
		rs := ok(rep.results[c.Name])
		if len(rs) == 0 {
			fmt.Fprintf(w, "| %s | failed: %v ||||||||||\n", c.Name, firstErr(rep.results[c.Name]))
			continue
		}
		keys := c.Keys(rep.fx.Stats)
		wall := medianDur(rs, func(r result) time.Duration { return r.Wall })
		fmt.Fprintf(w, "| %s | %.2f s | %s | %.2f s | %.2f | %.2f s | %.2f s | %.2f | %.0f | %.0f (%s) | %s |\n", c.Name,
			wall.Seconds(), si(float64(keys)/wall.Seconds()),
			medianDur(rs, func(r result) time.Duration { return r.ServerCmd }).Seconds(),
			median(rs, func(r result) float64 { return r.ServerRatio() }),
			medianDur(rs, func(r result) time.Duration { return r.ServerCPU }).Seconds(),
			medianDur(rs, func(r result) time.Duration { return r.ClientCPU }).Seconds(),
			median(rs, func(r result) float64 { return r.PerKey(keys) }),
			median(rs, func(r result) float64 { return float64(r.Stats["scan"].Calls) }),
			median(rs, func(r result) float64 { return float64(r.Slow.Scans) }),
			slowest(rs),
			mib(slices.MaxFunc(rs, func(a, b result) int { return cmp.Compare(a.RSS, b.RSS) }).RSS))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "wall: the process's (or loop's) whole life, connecting, summary and guard baseline included. server cmd time: the sum of INFO commandstats usec, reset before the case (command execution only; the commands keyjob's script calls are counted once, in EVALSHA). server CPU: redis-server's user+system time over the case (/proc), network I/O included. client CPU: the client's user+system time (the process's rusage; the bench's own for the Go loops). cmds/key: every command but SCAN, over the case's keys (tickets; deal:clicks hashes for the deletes). peak RSS: wait4's maxrss of the process; – for the in-bench Go loops. Failed runs are left out of the medians.")
	fmt.Fprintln(w)
	for _, c := range rep.cases {
		if rs := ok(rep.results[c.Name]); len(rs) > 0 {
			fmt.Fprintf(w, "- **%s**: %s. Commands: %s\n", c.Name, c.What, commandMix(rs[len(rs)-1]))
		}
	}
	fmt.Fprintln(w)
	rep.targets(w)
	rep.gentleTable(w)
	for name, rs := range rep.results {
		for i, r := range rs {
			if r.Err != nil {
				fmt.Fprintf(w, "- run %d of %s failed: %v\n", i+1, name, r.Err)
			}
		}
	}
}

// targets compares the spec's figures, each ratio taken within one run.
func (rep report) targets(w io.Writer) {
	fmt.Fprintln(w, "| figure | target | measured (median; per run) | |")
	fmt.Fprintln(w, "|---|---|---|---|")
	row := func(figure, target string, vals []float64, format string, pass func(float64) bool) {
		if len(vals) == 0 {
			return
		}
		m := medianOf(vals)
		per := make([]string, len(vals))
		for i, v := range vals {
			per[i] = fmt.Sprintf(format, v)
		}
		verdict := "met"
		if pass == nil {
			verdict = ""
		} else if !pass(m) {
			verdict = "**missed**"
		}
		fmt.Fprintf(w, "| %s | %s | "+format+" (%s) | %s |\n", figure, target, m, strings.Join(per, ", "), verdict)
	}
	within := func(a, b string, f func(x, y result) float64) []float64 {
		var out []float64
		ra, rb := rep.results[a], rep.results[b]
		for i := range min(len(ra), len(rb)) {
			if ra[i].Err == nil && rb[i].Err == nil {
				out = append(out, f(ra[i], rb[i]))
			}
		}
		return out
	}
	own := func(name string) []float64 {
		var out []float64
		for _, r := range ok(rep.results[name]) {
			out = append(out, r.ServerRatio())
		}
		return out
	}
	walls := func(x, y result) float64 { return ratio(x.Wall, y.Wall) }
	atMost := func(limit float64) func(float64) bool { return func(v float64) bool { return v <= limit } }
	atLeast := func(limit float64) func(float64) bool { return func(v float64) bool { return v >= limit } }
	var info func(float64) bool // no target: for reading the others

	row("apply wall / server time of its commands", "≤ 1.2×", own("apply"), "%.2f×", atMost(1.2))
	// The bounds behind the two targets above: a single-threaded server
	// cannot finish sooner than its own CPU time for the work, network I/O
	// and event loop included, which commandstats leaves out.
	cpuOf := func(name string, f func(r result) float64) []float64 {
		var out []float64
		for _, r := range ok(rep.results[name]) {
			out = append(out, f(r))
		}
		return out
	}
	row("apply wall / server CPU", "(1 = the server never waits for keyjob)", cpuOf("apply", func(r result) float64 { return ratio(r.Wall, r.ServerCPU) }), "%.2f×", info)
	row("apply's server CPU / its server cmd time", "(the least wall / server cmd time can be)", cpuOf("apply", func(r result) float64 { return ratio(r.ServerCPU, r.ServerCmd) }), "%.2f×", info)
	row("apply wall / floor-server wall", "(floor ≈ 1.0–1.3× its server time)", within("apply", "floor-server", walls), "%.2f×", info)
	row("floor-server wall / its server time", "(1.0–1.3×)", own("floor-server"), "%.2f×", info)
	row("reference wall / apply wall", "≥ 3×", within("reference", "apply", walls), "%.2f×", atLeast(3))
	row("reference wall / apply's server CPU", "(the most any client doing apply's work could reach)", within("reference", "apply", func(x, y result) float64 { return ratio(x.Wall, y.ServerCPU) }), "%.2f×", info)
	if len(ok(rep.results["whatif-no-type"])) > 0 {
		row("reference wall / apply wall without select.type", "(the reference's own work: no type check)", within("reference", "whatif-no-type", walls), "%.2f×", info)
	}
	row("plan wall / server time of its commands", "≤ 1.2×", own("plan"), "%.2f×", atMost(1.2))
	row("plan wall / floor-scan wall", "(information)", within("plan", "floor-scan", walls), "%.2f×", info)
	row("delete backup: dump / backup: none", "≤ 3×", within("delete-dump", "delete", walls), "%.2f×", atMost(3))
	if len(ok(rep.results["floor-typed-script"])) > 0 && len(ok(rep.results["floor-typed-native"])) > 0 {
		row("floor: type re-checked at the write / checked at SCAN only", "(what the guarantee costs any client)", within("floor-typed-script", "floor-typed-native", walls), "%.2f×", info)
	}
	if len(ok(rep.results["whatif-no-journal"])) > 0 {
		row("the journal: apply --unguarded / backup: none − 1", "≤ 10%", scale(within("apply-unguarded", "whatif-no-journal", walls), 100, -100), "%.1f%%", atMost(10))
	}
	for _, name := range []string{"apply", "apply-unguarded"} {
		if rs := ok(rep.results[name]); len(rs) >= 5 {
			m := medianDur(rs, func(r result) time.Duration { return r.Wall })
			worst := slices.MaxFunc(rs, func(a, b result) int { return cmp.Compare(a.Wall, b.Wall) }).Wall
			row(name+": slowest run / median", "≤ 1.5× (no stall)", []float64{ratio(worst, m)}, "%.2f×", atMost(1.5))
		}
	}
	row("apply guards on / --unguarded − 1", "< 3%", scale(within("apply", "apply-unguarded", walls), 100, -100), "%.1f%%", func(v float64) bool { return v < 3 })
	tickets := rep.fx.Stats.Tickets
	selected := float64(tickets.WithoutTTL) / float64(tickets.Total())
	perKey := func(name string) []float64 {
		var out []float64
		for _, r := range ok(rep.results[name]) {
			out = append(out, r.PerKey(int64(tickets.Total())))
		}
		return out
	}
	// Under EXPIRE NX the write is the TTL check: one PEXPIREAT per
	// ticket, the ones that had a TTL included. The job selects a type, so
	// the writes go through the guarded script, which re-checks it with
	// TYPE: one script call per 32 tickets, one TYPE and one PEXPIREAT NX
	// per ticket inside it. Anything else keyjob sends must not grow with
	// the keyspace: the summary's sample (10,000 keys' PEXPIRETIME and some
	// MEMORY USAGE) is all there should be.
	writes := func(name string) []float64 {
		var out []float64
		for _, r := range ok(rep.results[name]) {
			out = append(out, float64(r.Stats["pexpireat"].Calls)/float64(max(tickets.Total(), 1)))
		}
		return out
	}
	others := func(name string) []float64 {
		var out []float64
		for _, r := range ok(rep.results[name]) {
			out = append(out, float64(r.Beyond("scan", "pexpireat", "evalsha", "type")))
		}
		return out
	}
	row("apply writes per ticket", fmt.Sprintf("one PEXPIREAT NX per ticket (NX is the TTL check; %.0f%% have none)", 100*selected), writes("apply"), "%.3f", atMost(1))
	row("apply's other commands, in all", "not per key: the summary's 10,000-key sample only", others("apply"), "%.0f", atMost(15000))
	var calls, callMean, slowCalls []float64
	for _, r := range ok(rep.results["apply"]) {
		if st := r.Stats["evalsha"]; st.Calls > 0 {
			calls = append(calls, float64(st.Calls)/float64(max(tickets.Total(), 1)))
			callMean = append(callMean, float64(st.Usec)/float64(st.Calls)/1000)
		}
	}
	for _, name := range []string{"apply", "apply-unguarded", "delete-dump"} {
		for _, r := range ok(rep.results[name]) {
			slowCalls = append(slowCalls, float64(r.Slow.Scripts))
		}
	}
	if len(calls) > 0 {
		row("apply script calls per ticket (select.type re-checked at the write)", "≤ 1/32: a call carries up to 32 keys", calls, "%.4f", atMost(1.0/30))
		row("apply script call mean server time", "(32 keys' TYPE + PEXPIREAT NX)", callMean, "%.3f ms", atMost(1))
	}
	if len(slowCalls) > 0 {
		row("script calls above 1 ms server time (SLOWLOG), worst run", "0: a call never holds the server 1 ms", []float64{slices.Max(slowCalls)}, "%.0f", atMost(0))
		var control []float64
		for _, r := range ok(rep.results["apply"]) {
			control = append(control, float64(r.Slow.Others1ms))
		}
		if len(control) > 0 {
			row("single-key commands above 1 ms in apply's runs, worst run", "(a control: the server thread descheduled, not its command's work)", []float64{slices.Max(control)}, "%.0f", info)
		}
	}
	row("plan commands per ticket beyond SCAN", "only the lookups its counts need (TTL: ≤ 1)", perKey("plan"), "%.2f", atMost(1.01))
	var rss []float64
	for _, name := range []string{"plan", "apply", "apply-unguarded", "delete", "delete-dump"} {
		for _, r := range ok(rep.results[name]) {
			rss = append(rss, float64(r.RSS)/(1<<20))
		}
	}
	if len(rss) > 0 {
		row("keyjob peak RSS, any case", "< 64 MiB", []float64{slices.Max(rss)}, "%.1f MiB", atMost(64))
	}
	if rep.rss != nil && rep.rss.Result.Err != nil {
		fmt.Fprintf(w, "| apply peak RSS at %s tickets | < 64 MiB, flat | failed: %v | |\n", si(float64(rep.rss.Tickets)), rep.rss.Result.Err)
	}
	if rep.rss != nil && rep.rss.Result.Err == nil {
		var small []float64
		for _, r := range ok(rep.results["apply"]) {
			small = append(small, float64(r.RSS)/(1<<20))
		}
		big := float64(rep.rss.Result.RSS) / (1 << 20)
		row(fmt.Sprintf("apply peak RSS at %s tickets", si(float64(rep.rss.Tickets))), "< 64 MiB, flat", []float64{big}, "%.1f MiB", atMost(64))
		if len(small) > 0 {
			row(fmt.Sprintf("apply peak RSS %s / %s tickets", si(float64(rep.rss.Tickets)), si(float64(tickets.Total()))), "≈ 1 (streaming)", []float64{big / medianOf(small)}, "%.2f×", atMost(1.25))
		}
		fmt.Fprintf(w, "| apply at %s tickets | (information) | wall %.1f s, %s keys/s, wall/server %.2f×; check took %s (seed, save, load, run) | |\n",
			si(float64(rep.rss.Tickets)), rep.rss.Result.Wall.Seconds(), si(float64(rep.rss.Tickets)/rep.rss.Result.Wall.Seconds()),
			rep.rss.Result.ServerRatio(), rep.rss.Took.Round(time.Second))
	}
	var slow, slowOthers, scanMean []float64
	for _, name := range []string{"plan", "apply", "apply-unguarded", "delete", "delete-dump"} {
		for _, r := range ok(rep.results[name]) {
			slow = append(slow, float64(r.Slow.Scans))
			slowOthers = append(slowOthers, float64(r.Slow.Others))
			if st := r.Stats["scan"]; st.Calls > 0 {
				scanMean = append(scanMean, float64(st.Usec)/float64(st.Calls)/1000)
			}
		}
	}
	if len(slow) > 0 {
		row("keyjob SCAN calls above 2 ms server time (SLOWLOG), worst run", "0", []float64{slices.Max(slow)}, "%.0f", atMost(0))
		row("keyjob SCAN mean server time per call, slowest case", "(COUNT steers it to 0.67 ms)", []float64{slices.Max(scanMean)}, "%.2f ms", info)
		row("other commands above 2 ms in the same runs, worst run", "(a control: PEXPIREAT, UNLINK… cost µs)", []float64{slices.Max(slowOthers)}, "%.0f", info)
	}
	var probe, benchSet, benchGet []float64
	for _, g := range rep.gentle {
		if g.Err == nil {
			probe = append(probe, msOf(g.With.ProbeP99-g.Without.ProbeP99))
			benchSet = append(benchSet, msOf(g.With.BenchSETp99-g.Without.BenchSETp99))
			benchGet = append(benchGet, msOf(g.With.BenchGETp99-g.Without.BenchGETp99))
		}
	}
	row("default rate: paced client's p99 with − without keyjob", "≤ +1 ms", probe, "%+.3f ms", atMost(1))
	row("default rate: redis-benchmark SET p99 with − without", "≤ +1 ms", benchSet, "%+.3f ms", atMost(1))
	row("default rate: redis-benchmark GET p99 with − without", "≤ +1 ms", benchGet, "%+.3f ms", atMost(1))
	fmt.Fprintln(w)
}

func (rep report) gentleTable(w io.Writer) {
	if len(rep.gentle) == 0 {
		return
	}
	fmt.Fprintf(w, "Gentleness (keyjob apply at the job's default rate, guards on; a paced client: one connection, %d GET/s for %s; redis-benchmark -t get,set -n %d -c 10):\n\n", probeRate, probeDuration, rep.cfg.BenchN)
	fmt.Fprintln(w, "| run | keyjob changes/s | probe p99 | probe p99.9 | probe max | bench SET p99 | bench GET p99 |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|")
	for i, g := range rep.gentle {
		if g.Err != nil {
			fmt.Fprintf(w, "| %d | failed: %v ||||||\n", i+1, g.Err)
			continue
		}
		pair := func(a, b time.Duration) string { return fmt.Sprintf("%.3f → %.3f ms", msOf(a), msOf(b)) }
		fmt.Fprintf(w, "| %d | %.0f | %s | %s | %s | %s | %s |\n", i+1, g.ChangeRate,
			pair(g.Without.ProbeP99, g.With.ProbeP99), pair(g.Without.ProbeP999, g.With.ProbeP999), pair(g.Without.ProbeMax, g.With.ProbeMax),
			pair(g.Without.BenchSETp99, g.With.BenchSETp99), pair(g.Without.BenchGETp99, g.With.BenchGETp99))
	}
	fmt.Fprintln(w)
}

// commandMix lists a run's commands by server time.
func commandMix(r result) string {
	type kv struct {
		name string
		st   cmdStat
	}
	var all []kv
	for n, st := range r.Stats {
		all = append(all, kv{n, st})
	}
	slices.SortFunc(all, func(a, b kv) int { return cmp.Compare(b.st.Usec, a.st.Usec) })
	var parts []string
	for _, x := range all {
		if x.st.Usec < 1000 && len(parts) >= 3 {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %s calls %.2f s", strings.ToUpper(x.name), si(float64(x.st.Calls)), float64(x.st.Usec)/1e6))
	}
	return strings.Join(parts, "; ")
}

// slowest is the slowest SCAN over the runs, or – when none passed 2 ms.
func slowest(rs []result) string {
	var d time.Duration
	for _, r := range rs {
		d = max(d, r.Slow.SlowestScan)
	}
	if d == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f ms", msOf(d))
}

func ok(rs []result) []result {
	var out []result
	for _, r := range rs {
		if r.Err == nil {
			out = append(out, r)
		}
	}
	return out
}

func firstErr(rs []result) error {
	for _, r := range rs {
		if r.Err != nil {
			return r.Err
		}
	}
	return nil
}

func median(rs []result, f func(result) float64) float64 {
	vals := make([]float64, len(rs))
	for i, r := range rs {
		vals[i] = f(r)
	}
	return medianOf(vals)
}

func medianDur(rs []result, f func(result) time.Duration) time.Duration {
	return time.Duration(median(rs, func(r result) float64 { return float64(f(r)) }))
}

func medianOf(vals []float64) float64 {
	if len(vals) == 0 {
		return 0
	}
	s := slices.Clone(vals)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func scale(vals []float64, mul, add float64) []float64 {
	out := make([]float64, len(vals))
	for i, v := range vals {
		out[i] = v*mul + add
	}
	return out
}

func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// si writes 1234567 as 1.23M.
func si(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

func redisVersion(bin string) string {
	out, err := execOutput(bin, "--version")
	if err != nil {
		return "?"
	}
	for _, f := range strings.Fields(out) {
		if v, ok := strings.CutPrefix(f, "v="); ok {
			return v
		}
	}
	return strings.TrimSpace(out)
}
