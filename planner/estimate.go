package planner

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/keyjob/keyjob/internal/batch"
	"github.com/keyjob/keyjob/jobs"
)

// expiresEntryBytes is what one more key in the server's expires table
// costs: a dict entry (24 B, 32 with jemalloc's rounding) and its bucket
// pointer, plus the table's growth.
const expiresEntryBytes = 40

// msDigits is the length of a millisecond timestamp for the next centuries.
const msDigits = 13

// respBytes is the size of a command in RESP, as the AOF and the
// replication stream carry it.
func respBytes(args ...string) int64 {
	n := int64(len("*\r\n") + len(strconv.Itoa(len(args))))
	for _, a := range args {
		n += int64(len("$\r\n\r\n") + len(strconv.Itoa(len(a))) + len(a))
	}
	return n
}

// aofCommandBytes is what the run's change of one key appends to the AOF.
// The server rewrites every EXPIRE variant as PEXPIREAT with an absolute
// time, keeping an NX/GT/LT flag; a script's effects are logged as the
// commands it ran.
func aofCommandBytes(j *jobs.Job, key string) int64 {
	switch j.Action.Kind {
	case jobs.ActionDelete:
		return respBytes("UNLINK", key)
	case jobs.ActionPersist:
		return respBytes("PERSIST", key)
	}
	ms := strings.Repeat("0", msDigits)
	if flag := j.ExpireFlag(); flag != "" {
		return respBytes("PEXPIREAT", key, ms, flag)
	}
	return respBytes("PEXPIREAT", key, ms)
}

// memberBytes is the length a member is taken to have in the AOF estimate
// of a members job: the plan reads no member.
const memberBytes = 16

// membersAOFBytes is what removing n members of one key appends to the
// AOF: ZREM commands of up to a chunk of members each (a script's writes
// are replicated as the commands it sends).
func membersAOFBytes(key string, n int64) int64 {
	return chunkedAOFBytes("ZREM", key, n, strings.Repeat("m", memberBytes))
}

// streamIDBytes is the length of a stream entry ID ("1733000000000-0").
const streamIDBytes = msDigits + 2

// streamAOFBytes is what removing n entries of one stream appends to the
// AOF: one XDEL of up to a chunk of IDs per chunk.
func streamAOFBytes(key string, n int64) int64 {
	return chunkedAOFBytes("XDEL", key, n, strings.Repeat("0", streamIDBytes))
}

// chunkedAOFBytes is n items like item removed from key by cmd, up to a
// chunk of them a call.
func chunkedAOFBytes(cmd, key string, n int64, item string) int64 {
	if n <= 0 {
		return 0
	}
	calls := (n + batch.MembersChunk - 1) / batch.MembersChunk
	return calls*respBytes(cmd, key) + n*(respBytes(item)-4) // an item without the array header
}

// journalRecordBytes approximates one journal line: the key, its previous
// and new expiry and, with backup: dump, the payload in base64.
func journalRecordBytes(j *jobs.Job, key string, memory int64) int64 {
	switch j.Backup.Mode {
	case jobs.BackupNone:
		return 0
	case jobs.BackupDump:
		if j.Action.Kind == jobs.ActionDelete {
			return int64(len(key)) + 70 + memory*4/3
		}
	}
	return int64(len(key)) + 70
}

// extrapolate scales a sampled plan's counts to the whole keyspace.
func extrapolate(p *Plan, requested int64, fraction float64) {
	scale := 1 / fraction
	p.Sample = &Sample{Requested: requested, Fraction: fraction}
	if p.Scanned > 0 && p.Outcomes.Change > 0 {
		share := float64(p.Outcomes.Change) / float64(p.Scanned)
		// Two errors add up: how many keys the SCAN position implies
		// (bucket occupancy, about 1/n) and the share that changes.
		n := float64(p.Scanned)
		p.Sample.Margin = 1.96 * math.Sqrt(1/n+(1-share)/(n*share))
	}
	up := func(n int64) int64 { return int64(math.Round(float64(n) * scale)) }
	p.Scanned = up(p.Scanned)
	p.Outcomes.Change = up(p.Outcomes.Change)
	p.Outcomes.ChangeGrace = up(p.Outcomes.ChangeGrace)
	for k, v := range p.Outcomes.Skip {
		p.Outcomes.Skip[k] = up(v)
	}
	for i := range p.Expiries {
		p.Expiries[i].Keys = up(p.Expiries[i].Keys)
		p.Expiries[i].MemoryBytes = up(p.Expiries[i].MemoryBytes)
	}
	if p.PeakMinute != nil {
		p.PeakMinute.Keys = up(p.PeakMinute.Keys)
	}
	if f := p.Fields; f != nil {
		f.Walked, f.Change, f.ChangeGrace = up(f.Walked), up(f.Change), up(f.ChangeGrace)
		for k, v := range f.Skip {
			f.Skip[k] = up(v)
		}
	}
}

// estimate fills the projections from the tally and the server's figures.
func estimate(p *Plan, j *jobs.Job, t *tally, change, scan jobs.Rate) {
	scale := 1.0
	if t.scanned > 0 {
		scale = float64(p.Scanned) / float64(t.scanned)
	}
	up := func(n int64) int64 { return int64(math.Round(float64(n) * scale)) }
	e := &p.Estimates
	e.AOFBytes = up(t.aofBytes)
	if t.change > 0 {
		e.AOFBytesPerKey = t.aofBytes / t.change
	}
	e.AOFGraceBytes = up(t.graceDel)
	if p.Target.Replicas > 0 {
		e.ReplicationBytes = e.AOFBytes
	}
	e.MeanKeyBytes = t.meanMemory()
	switch j.Action.Kind {
	case jobs.ActionDelete:
		e.MemoryFreedBytes = p.Outcomes.Change * e.MeanKeyBytes
		if j.Members != nil {
			e.MemoryFreedBytes = up(t.memFreed)
			if t.memMeasured < t.change {
				// Measured on a sample: scale by the members.
				e.MemoryFreedBytes = 0
				if m := t.memMeasured; m > 0 {
					e.MemoryFreedBytes = up(t.memFreed * t.change / m)
				}
			}
		}
	case jobs.ActionExpire:
		e.MemoryAddedBytes = up(t.fromNoTTL) * expiresEntryBytes
		e.MemoryExpiringBytes = p.Outcomes.Change * e.MeanKeyBytes
	}
	e.RewriteDiskBytes = rewriteDisk(p.Target)
	e.JournalBytes = up(t.journal)
	if p.Fields != nil {
		estimateFields(p, j, t, up)
	}
	e.DurationSeconds = duration(p, change, scan)
	e.Forks = forks(p.Target, p.Outcomes.Change, e.DurationSeconds, e.AOFBytes)
}

// rewriteDisk is the room an AOF rewrite (or an RDB snapshot) needs: about
// the AOF's base file, else the dataset, bounded by used_memory.
func rewriteDisk(t Target) int64 {
	if !t.AOF {
		return t.UsedMemory
	}
	// After a rewrite of a small dataset aof_base_size stays tiny while the
	// AOF and the data grow: the next rewrite writes about the dataset,
	// bounded by the AOF that replays it.
	return max(t.AOFBaseSize, min(t.AOFSize, t.UsedMemory))
}

// duration is the run's wall time at the job's rates: the slower of
// writing the changes and scanning the keys.
func duration(p *Plan, change, scan jobs.Rate) float64 {
	var d float64
	if !change.IsUnlimited() && change > 0 {
		n := p.Outcomes.Change
		if p.Fields != nil {
			n = p.Fields.Change // limits.rate counts fields changed
		}
		d = float64(n) / float64(change)
	}
	if !scan.IsUnlimited() && scan > 0 {
		d = math.Max(d, float64(p.Scanned)/float64(scan))
	}
	return d
}

// forks lists the forks the run's own writes trigger: RDB save points
// (save SECONDS CHANGES) and an automatic AOF rewrite.
func forks(t Target, changes int64, seconds float64, aofBytes int64) []string {
	var out []string
	if n, point := savePointForks(t.Save, changes, seconds); n > 0 {
		out = append(out, fmt.Sprintf("%d BGSAVE (save %s)", n, point))
	}
	if t.AOF && t.AutoAOFRewritePercentage > 0 {
		base := t.AOFBaseSize
		grown := t.AOFSize + aofBytes
		limit := base + base*t.AutoAOFRewritePercentage/100
		if grown > limit && grown > t.AutoAOFRewriteMinSize {
			out = append(out, fmt.Sprintf("1 AOF rewrite (auto-aof-rewrite-percentage %d)", t.AutoAOFRewritePercentage))
		}
	}
	return out
}

// savePointForks estimates how many BGSAVEs the run's writes trigger: a
// save point fires when CHANGES writes happened and SECONDS passed since
// the last save, so at most once per max(SECONDS, time to make CHANGES).
func savePointForks(save string, changes int64, seconds float64) (int64, string) {
	f := strings.Fields(save)
	var best int64
	var point string
	for i := 0; i+1 < len(f); i += 2 {
		secs, err1 := strconv.ParseInt(f[i], 10, 64)
		need, err2 := strconv.ParseInt(f[i+1], 10, 64)
		if err1 != nil || err2 != nil || need <= 0 || changes < need {
			continue
		}
		period := float64(secs)
		if seconds > 0 {
			period = math.Max(period, seconds*float64(need)/float64(changes))
		}
		n := int64(1)
		if seconds > 0 && period > 0 {
			n = max(1, int64(seconds/period))
		}
		if n > best {
			best, point = n, f[i]+" "+f[i+1]
		}
	}
	return best, point
}

// inWords is "3 min 16 s", for messages.
func inWords(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min %d s", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%d h", int(d.Hours()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h %d min", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%d d", int(d.Hours()/24))
}
