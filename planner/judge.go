package planner

import (
	"fmt"
	"strings"

	"github.com/dustin/go-humanize"

	"github.com/keyjob/keyjob/internal/batch"
	"github.com/keyjob/keyjob/jobs"
)

// Codes of the plan's errors and warnings: stable, for machines.
const (
	ErrUnitMistake       = "unit_mistake"
	ErrMaxChanges        = "max_changes_exceeded"
	WarnMemoryAbovePause = "memory_above_pause"
	WarnVolatileFewTTLs  = "volatile_policy_few_ttls"
	WarnGraceWave        = "grace_wave"
	WarnAOFNoDiskProbe   = "aof_without_disk_probe"
	WarnForkInProgress   = "fork_in_progress"
	WarnReplicas         = "replicas"
	WarnLargeShare       = "touches_most_of_keyspace"
	WarnNoUndo           = "no_undo"
	WarnBadTimestamps    = "bad_timestamps"
	WarnConfigRefused    = "config_refused"
	WarnReplicaTarget    = "target_is_replica"
	WarnVanished         = "keys_vanished"
	WarnReplicaLag       = "replica_lag_near_pause"
)

// unitMistakeShare: bad timestamps above this share of the changes are a
// format mistake (seconds read as milliseconds), not a few bad keys.
const unitMistakeShare = 0.01

// graceWaveKeys is the burst of expiries in one minute worth a warning.
const graceWaveKeys = 10000

// pauseMemoryShare is the default memory.pause_above.
const pauseMemoryShare = 0.90

func (p *Plan) warn(code, format string, a ...any) {
	p.Warnings = append(p.Warnings, Message{Code: code, Message: fmt.Sprintf(format, a...)})
}

func (p *Plan) fail(code, format string, a ...any) {
	p.Errors = append(p.Errors, Message{Code: code, Message: fmt.Sprintf(format, a...)})
}

// judge adds the errors and warnings the stories teach, in plain words.
// diskProbe says apply was given --disk-path or --disk-free-command.
func judge(p *Plan, j *jobs.Job, t *tally, diskProbe bool) {
	t0 := p.Target
	if t0.MaxMemory > 0 && float64(t0.UsedMemory) > pauseMemoryShare*float64(t0.MaxMemory) {
		p.warn(WarnMemoryAbovePause, "Memory is at %.0f%% of maxmemory (%s of %s), above the 90%% pause level: apply refuses to start unless you pass --from-high-memory, and then pauses at +1%% and aborts at +3%% of maxmemory from where it starts.",
			100*float64(t0.UsedMemory)/float64(t0.MaxMemory), humanize.IBytes(uint64(t0.UsedMemory)), humanize.IBytes(uint64(t0.MaxMemory)))
	}
	if bad := p.Outcomes.Skip[string(jobs.SkipBadTimestamp)]; bad > 0 {
		if float64(bad) > unitMistakeShare*float64(max(p.Outcomes.Change, 1)) {
			if j.Members != nil && j.Members.Stream {
				p.fail(ErrUnitMistake, "%s of the %s streams to trim (%.1f%%) have entries whose ID lies before 2000: their IDs are no times (written by hand), so older_than cannot select by age. apply refuses to run this job. See the bad_timestamp samples.",
					humanize.Comma(bad), humanize.Comma(p.Outcomes.Change+bad), 100*float64(bad)/float64(p.Outcomes.Change+bad))
			} else if j.Members != nil {
				// A sorted set scored before 2000: seconds read as milliseconds.
				p.fail(ErrUnitMistake, "%s of the %s sorted sets to trim (%.1f%%) have members scored before 2000. More than 1%% means the format is wrong (seconds read as milliseconds): fix members.score.format. apply refuses to run this job. See the bad_timestamp samples.",
					humanize.Comma(bad), humanize.Comma(p.Outcomes.Change+bad), 100*float64(bad)/float64(p.Outcomes.Change+bad))
			} else {
				p.fail(ErrUnitMistake, "%s", unitMistakeWords(p, j, t, bad))
			}
		} else {
			p.warn(WarnBadTimestamps, "%s keys have a timestamp that does not parse or lies too far in the future; they are left alone (see the bad_timestamp samples).", humanize.Comma(bad))
		}
	}
	judgeFields(p, j)
	if m := j.Limits.MaxChanges; m > 0 && p.Outcomes.Change > m {
		p.fail(ErrMaxChanges, "The job would change %s keys, more than limits.max_changes (%s): apply would abort. Raise max_changes if this is expected, or narrow select.",
			humanize.Comma(p.Outcomes.Change), humanize.Comma(m))
	}
	judgeEviction(p, j)
	judgeGraceWave(p, j)
	if t0.AOF && !diskProbe {
		p.warn(WarnAOFNoDiskProbe, "AOF is on: the run appends about %s to it, and a rewrite needs about %s of free disk. The disk guard can only watch the disk if apply gets --disk-path DIR (a local data dir) or --disk-free-command CMD.",
			humanize.IBytes(uint64(p.Estimates.AOFBytes)), humanize.IBytes(uint64(p.Estimates.RewriteDiskBytes)))
	}
	if t0.ForkInProgress != "" {
		p.warn(WarnForkInProgress, "A %s is in progress right now: its copy-on-write needs free memory, and apply pauses until it ends.", t0.ForkInProgress)
	}
	if t0.Replicas > 0 {
		p.warn(WarnReplicas, "%d replica(s) receive every change: about %s each. The replication backlog is %s; a replica that falls further behind needs a full resync, which forks this server. apply pauses when lag passes half of it.",
			t0.Replicas, humanize.IBytes(uint64(p.Estimates.ReplicationBytes)), humanize.IBytes(uint64(t0.ReplBacklogSize)))
	}
	judgeReplicaLag(p, j)
	if t0.Role == "replica" {
		p.warn(WarnReplicaTarget, "These figures come from a replica. apply must run against the primary.")
	}
	if p.DBSize > 0 && float64(p.Outcomes.Change) > 0.5*float64(p.DBSize) {
		p.warn(WarnLargeShare, "The job changes %s of the %s keys in db%d (%.0f%%): more than half the keyspace.",
			humanize.Comma(p.Outcomes.Change), humanize.Comma(p.DBSize), t0.DB, 100*float64(p.Outcomes.Change)/float64(p.DBSize))
	}
	if j.Backup.Mode == jobs.BackupNone && p.Outcomes.Change > 0 {
		p.warn(WarnNoUndo, "backup: none — no journal is written and the run cannot be undone.")
	}
	if !t0.ConfigReadable {
		p.warn(WarnConfigRefused, "The server refuses CONFIG GET (managed services often do): the save points and auto-aof-rewrite settings are unknown, so the forks the run triggers cannot be projected.")
	}
	if t.gone > 0 {
		p.warn(WarnVanished, "%s keys vanished between SCAN and their lookup (expired or deleted meanwhile); they are not counted.", humanize.Comma(t.gone))
	}
}

// judgeEviction is the ticket story: under a volatile-* policy only keys
// with a TTL can be evicted.
func judgeEviction(p *Plan, j *jobs.Job) {
	policy := p.Target.MaxMemoryPolicy
	keys, expires := p.Target.dbsize()
	if !strings.HasPrefix(policy, "volatile-") || keys == 0 {
		return
	}
	noTTL := float64(keys-expires) / float64(keys)
	if noTTL < 0.5 {
		return
	}
	msg := fmt.Sprintf("maxmemory-policy is %s and %.0f%% of keys have no TTL. Eviction can only pick among the %.0f%% that do; when they are gone, writes fail with OOM.",
		policy, 100*noTTL, 100*(1-noTTL))
	if j.Action.Kind == jobs.ActionExpire && p.Outcomes.Change > 0 {
		msg += fmt.Sprintf(" After this run, %s more keys become candidates for eviction.", humanize.Comma(p.Outcomes.Change))
	}
	p.warn(WarnVolatileFewTTLs, "%s", msg)
}

// judgeGraceWave is the delete wave an hour after a TTL backfill: every
// grace key expires within a minute, each a DEL to the AOF and replicas.
func judgeGraceWave(p *Plan, j *jobs.Job) {
	e := j.Action.Expire
	if e == nil || e.From == nil || e.GraceSpread > 0 || p.PeakMinute == nil || p.PeakMinute.Keys <= graceWaveKeys {
		return
	}
	p.warn(WarnGraceWave, "%s keys are already past their lifetime and get the %s grace TTL; %s of them expire in the same minute (%s after the run): that many DELs to the AOF (%s) and to each replica at once. Consider grace_spread: 6h.",
		humanize.Comma(graceCount(p)), inWords(e.Grace), humanize.Comma(p.PeakMinute.Keys),
		inWords(p.PeakMinute.At.Sub(p.GeneratedAt)), humanize.IBytes(uint64(p.Estimates.AOFGraceBytes)))
}

func jobInfo(j *jobs.Job) JobInfo {
	ji := JobInfo{
		Name: j.Name, Path: j.Path, SHA256: j.SHA256, Description: j.Description,
		Match: j.Select.Match, Type: j.Select.Type,
		Backup:     [...]string{"journal", "dump", "none"}[j.Backup.Mode],
		Rate:       j.Limits.Rate.String(),
		ScanRate:   j.Limits.ScanRate.String(),
		MaxChanges: j.Limits.MaxChanges,
		GuardsSet:  j.Guards.Set(),
	}
	switch j.Action.Kind {
	case jobs.ActionDelete:
		ji.Action, ji.Summary = "delete", "UNLINK"
		if m := j.Members; m != nil && m.Stream {
			ji.Summary = fmt.Sprintf("remove the stream entries whose ID is more than %s before the run's start (XDEL, %d at a time)", inWords(m.OlderThan), batch.MembersChunk)
		} else if m != nil {
			ji.Summary = fmt.Sprintf("remove the members whose score (%s) is more than %s before the run's start (ZREM, %d at a time)", m.ScoreFormat, inWords(m.OlderThan), batch.MembersChunk)
		}
	case jobs.ActionPersist:
		ji.Action, ji.Summary = "persist", "remove the TTL"
	case jobs.ActionExpire:
		e := j.Action.Expire
		ji.Action = "expire"
		ji.When = [...]string{"no_ttl", "always", "shorter", "longer"}[e.When]
		if e.From != nil {
			ji.Summary = fmt.Sprintf("TTL from the %s time: %s after it (%s in the name)", e.From.Capture, inWords(e.After), e.From.Format)
		} else {
			ji.Summary = fmt.Sprintf("fixed TTL of %s from the run's start", inWords(e.TTL))
		}
	}
	if f := j.Fields; f != nil {
		ji.Summary = fieldsSummary(j, ji.Summary)
	}
	return ji
}

// replicaAckShare: replicas acknowledge their offset once a second, so the
// lag the guard reads is about a second of the run's writes; past this
// share of the pause level the run would pause now and then.
const replicaAckShare = 0.5

// judgeReplicaLag warns when a second of the run's writes comes near the
// replication guard's pause level (half of repl-backlog-size).
func judgeReplicaLag(p *Plan, j *jobs.Job) {
	t0 := p.Target
	if t0.Replicas == 0 || p.Estimates.AOFBytesPerKey == 0 || j.Limits.Rate.IsUnlimited() {
		return
	}
	pause := t0.ReplBacklogSize / 2
	if pause <= 0 {
		pause = 512 << 10
	}
	perSecond := int64(float64(j.Limits.Rate) * float64(p.Estimates.AOFBytesPerKey))
	if float64(perSecond) < replicaAckShare*float64(pause) {
		return
	}
	p.warn(WarnReplicaLag, "At %s changes/s the replicas receive about %s a second; they acknowledge once a second, so the lag the guard reads comes near its pause level (%s, half of repl-backlog-size) and the run will pause now and then. Raise repl-backlog-size on the primary, or lower limits.rate.",
		humanize.Comma(int64(j.Limits.Rate)), humanize.IBytes(uint64(perSecond)), humanize.IBytes(uint64(pause)))
}

// unitMistakeWords is the unit-mistake error: how many of the keys whose
// timestamp was read are bad, and which format reads the sample keys
// instead (jobs.GuessFormat), with one key read both ways.
func unitMistakeWords(p *Plan, j *jobs.Job, t *tally, bad int64) string {
	read := p.Outcomes.Change + bad
	format := j.Action.Expire.From.Format
	msg := fmt.Sprintf("%s of the %s keys with a timestamp (%.1f%%) have one that format: %s cannot read or that lies too far in the future. More than 1%% of the keys to change means the format is wrong: apply refuses to run this job.",
		humanize.Comma(bad), humanize.Comma(read), 100*float64(bad)/float64(read), format)
	var names []string
	for _, k := range p.Samples[string(jobs.SkipBadTimestamp)] {
		names = append(names, k.Name)
	}
	g := j.GuessFormat(names, jobs.Clock{Now: p.GeneratedAt, RunStart: t.runStart})
	if g == nil {
		return msg + " Fix action.expire.from.format; see the bad_timestamp samples."
	}
	return msg + " " + g.Words() + " See the bad_timestamp samples."
}
