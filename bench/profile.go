package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/keyjob/keyjob/apply"
	"github.com/keyjob/keyjob/examples"
	"github.com/keyjob/keyjob/guard"
	"github.com/keyjob/keyjob/internal/redisx"
	"github.com/keyjob/keyjob/internal/seed"
	"github.com/keyjob/keyjob/jobs"
	"github.com/keyjob/keyjob/planner"
)

// runProfile runs keyjob apply (or plan) in this process, unlimited, on a
// fresh server loaded with the ticket story, under the CPU profiler, and
// writes cpu.pprof, allocs.pprof and heap.pprof to cfg.Profile. For apply
// the profile covers Execute only: not the summary sample the command line
// shows, nor the guards' one-second baseline before the first change.
func runProfile(ctx context.Context, cfg config, w io.Writer) error {
	if err := os.MkdirAll(cfg.Profile, 0o755); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "keyjob-profile-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	job, err := profileJob(cfg.ProfileJob)
	if err != nil {
		return err
	}
	srv, err := startRedis(ctx, cfg.RedisServer, filepath.Join(work, "redis"), "")
	if err != nil {
		return err
	}
	defer srv.Stop()
	logf("loading the ticket story: %d tickets", cfg.Tickets)
	st, err := seed.Story(ctx, srv.Client, cfg.Tickets)
	if err != nil {
		return err
	}
	conn, err := redisx.Dial(ctx, redisx.Options{URL: srv.URL()})
	if err != nil {
		return err
	}
	defer conn.Close()
	var work1 func(context.Context) (changed int64, err error)
	what := "keyjob plan " + job.Name
	switch cfg.ProfileCmd {
	case "plan":
		work1 = func(ctx context.Context) (int64, error) {
			p, err := planner.Build(ctx, conn, job, planner.Options{ScanRate: jobs.Unlimited})
			if err != nil {
				return 0, err
			}
			return p.Outcomes.Change, nil
		}
	case "apply":
		what = fmt.Sprintf("keyjob apply %s (guards %v)", job.Name, !cfg.Unguarded)
		stateDir := filepath.Join(work, "state")
		if cfg.ProfileState != "" {
			stateDir = filepath.Join(cfg.ProfileState, filepath.Base(work))
			defer os.RemoveAll(stateDir)
		}
		o := apply.Options{StateDir: stateDir, Rate: jobs.Unlimited, ScanRate: jobs.Unlimited}
		var x apply.Exec
		if !cfg.Unguarded {
			gctx, stop := context.WithCancel(ctx)
			defer stop()
			if x.Gate, err = startGate(gctx, conn, job); err != nil {
				return err
			}
		}
		run, err := apply.Prepare(ctx, conn, job, o)
		if err != nil {
			return err
		}
		work1 = func(ctx context.Context) (int64, error) {
			rep, err := run.Execute(ctx, x)
			if err != nil {
				return 0, err
			}
			return rep.Outcomes.Change, nil
		}
	default:
		return fmt.Errorf("-profile-cmd %q: want apply or plan", cfg.ProfileCmd)
	}
	if err := srv.ResetStats(ctx); err != nil {
		return err
	}

	logf("%s in-process", what)
	runtime.GC()
	// The allocs profile counts from the program's start: the one taken
	// now (the seed's) is subtracted from the one after the run.
	if err := writeProfile(filepath.Join(work, "allocs-before.pprof"), "allocs"); err != nil {
		return err
	}
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	ru0 := selfRusage()
	cpu, err := os.Create(filepath.Join(cfg.Profile, "cpu.pprof"))
	if err != nil {
		return err
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		return err
	}
	start := time.Now()
	changed, err := work1(ctx)
	wall := time.Since(start)
	pprof.StopCPUProfile()
	cpu.Close()
	ru1 := selfRusage()
	runtime.ReadMemStats(&m1)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	for _, p := range []string{"allocs", "heap"} {
		if err := writeProfile(filepath.Join(cfg.Profile, p+".pprof"), p); err != nil {
			return err
		}
	}
	stats, err := srv.CommandStats(ctx)
	if err != nil {
		return err
	}
	server := topLevelTime(stats)
	keys := float64(st.Tickets.Total())
	fmt.Fprintf(w, "## %s in-process, %d tickets\n\n", what, st.Tickets.Total())
	fmt.Fprintf(w, "- changes (made or planned) %d; wall %.2f s (%s keys/s); server cmd time %.2f s (wall/server %.2f×)\n",
		changed, wall.Seconds(), si(keys/wall.Seconds()), server.Seconds(), ratio(wall, server))
	fmt.Fprintf(w, "- this process's CPU: %.2f s user + %.2f s system (%.0f%% of the wall)\n",
		(ru1.user - ru0.user).Seconds(), (ru1.sys - ru0.sys).Seconds(), 100*ratio(ru1.user-ru0.user+ru1.sys-ru0.sys, wall))
	fmt.Fprintf(w, "- allocated %.0f B and %.1f objects per ticket (%s total), %d GCs\n",
		float64(m1.TotalAlloc-m0.TotalAlloc)/keys, float64(m1.Mallocs-m0.Mallocs)/keys,
		mib(int64(m1.TotalAlloc-m0.TotalAlloc)), m1.NumGC-m0.NumGC)
	fmt.Fprintf(w, "- commands: %s\n", commandMix(result{Stats: stats}))
	fmt.Fprintf(w, "- profiles: %s/{cpu,allocs,heap}.pprof\n\n", cfg.Profile)
	for _, top := range [][]string{
		{"CPU, by cumulative time", "-top", "-cum", "-nodecount=40"},
		{"CPU, by own time", "-top", "-nodecount=30"},
		{"allocations, by space (cumulative)", "-sample_index=alloc_space", "-top", "-cum", "-nodecount=30"},
		{"allocations, by space (own)", "-sample_index=alloc_space", "-top", "-nodecount=25"},
	} {
		file := "cpu.pprof"
		args := append([]string{"tool", "pprof"}, top[1:]...)
		if top[1] == "-sample_index=alloc_space" {
			file = "allocs.pprof"
			args = append(args, "-base", filepath.Join(work, "allocs-before.pprof"))
		}
		out, err := exec.CommandContext(ctx, "go", append(args, filepath.Join(cfg.Profile, file))...).CombinedOutput()
		fmt.Fprintf(w, "### %s\n\n```\n%s```\n\n", top[0], out)
		if err != nil {
			return fmt.Errorf("go tool pprof: %w", err)
		}
	}
	return nil
}

func writeProfile(path, name string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func profileJob(path string) (*jobs.Job, error) {
	if path != "" {
		return jobs.Load(path)
	}
	data, err := examples.Files.ReadFile("ticket-ttl-backfill.yaml")
	if err != nil {
		return nil, err
	}
	return jobs.Parse("examples/ticket-ttl-backfill.yaml", data)
}

// startGate sets up the guards as keyjob apply does (guard.Start), then
// the baseline.
func startGate(ctx context.Context, conn *redisx.Conn, job *jobs.Job) (*guard.Gate, error) {
	g, err := guard.Start(ctx, conn, job, guard.StartOptions{})
	if err != nil {
		return nil, err
	}
	return g, g.Begin(ctx, time.Second)
}

type cpuTimes struct{ user, sys time.Duration }

func selfRusage() cpuTimes {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return cpuTimes{time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())}
}

func execOutput(bin string, args ...string) (string, error) {
	out, err := exec.Command(bin, args...).Output()
	return string(out), err
}
