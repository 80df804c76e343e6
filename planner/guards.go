package planner

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/keyjob/keyjob/guard"
	"github.com/keyjob/keyjob/internal/redisx"
	"github.com/keyjob/keyjob/jobs"
)

// Codes of the guard warnings.
const (
	WarnLooserGuards        = "looser_guards"
	WarnAOFExceedsGuard     = "aof_growth_exceeds_guard"
	WarnGraceShorterThanRun = "grace_shorter_than_run"
)

// guardLines shows each guard's figure now against the levels apply would
// use, and warns where the run would hit one.
// probe, when not nil, reads the free disk as apply's disk guard will.
func guardLines(ctx context.Context, conn *redisx.Conn, srv *server, p *Plan, j *jobs.Job, probe guard.DiskProbe) {
	fig := guard.FromInfo(srv.info, time.Now())
	var probeErr error
	if probe != nil {
		if free, err := probe.Free(ctx, conn.Addr); err == nil {
			fig.DiskFree = free
		} else {
			probeErr = err
		}
	}
	start := time.Now()
	if err := conn.Client.Do(ctx, conn.Client.B().Ping().Build()).Error(); err == nil {
		fig.LatencyP99 = time.Since(start)
	}
	levels, err := guard.Resolve(j.Guards, fig, guard.Options{Delete: j.Action.Kind == jobs.ActionDelete})
	var looser *guard.ErrLooser
	if errors.As(err, &looser) {
		p.warn(WarnLooserGuards, "%s", looser.Error())
		levels, _ = guard.Resolve(j.Guards, fig, guard.Options{Delete: j.Action.Kind == jobs.ActionDelete, AllowLooserGuards: true})
	}
	for _, l := range guard.Lines(fig, guard.Baseline{Start: fig, EvictionRate: 0}, levels) {
		gl := GuardLine{Name: l.Name, Figure: l.Figure, Levels: l.Levels, State: l.State, Note: l.Note}
		switch {
		case l.Name != "disk":
		case probeErr != nil:
			gl.Note = probe.String() + ": " + probeErr.Error()
		case l.State == "blind":
			gl.Note = "apply needs --disk-path or --disk-free-command to watch it"
		case probe != nil:
			gl.Note = "read with " + probe.String()
		}
		if l.Name == "aof" && fig.AOFEnabled && p.Estimates.AOFBytes > levels.AOFMaxGrowth {
			at := 100 * float64(levels.AOFMaxGrowth) / float64(p.Estimates.AOFBytes)
			gl.Note = fmt.Sprintf("the run appends %s and would abort at about %.0f%%", humanize.IBytes(uint64(p.Estimates.AOFBytes)), at)
			p.warn(WarnAOFExceedsGuard, "The run appends about %s to the AOF, more than aof.max_growth allows (%s): it would abort at about %.0f%% done. Raise guards.aof.max_growth in the job file if the disk has room, or split the job.",
				humanize.IBytes(uint64(p.Estimates.AOFBytes)), humanize.IBytes(uint64(levels.AOFMaxGrowth)), at)
		}
		p.Guards = append(p.Guards, gl)
	}
	if e := j.Action.Expire; e != nil && e.From != nil && p.Outcomes.ChangeGrace > 0 && p.Estimates.DurationSeconds > e.Grace.Seconds() {
		p.warn(WarnGraceShorterThanRun, "The run takes about %s but grace is %s, counted from the run's start: keys reached after that get an expiry already past and are deleted at once. Raise grace above the run's duration, or raise the rate.",
			inWords(time.Duration(p.Estimates.DurationSeconds*float64(time.Second))), inWords(e.Grace))
	}
}
