// Package batch decides the keys of one SCAN batch for a job, and walks a
// node's batches through a two-stage pipeline. The planner and the
// executor both go through it, so a key is decided the same way whether it
// is planned or changed: the regex (its skips counted), the per-key reads
// the job needs, what was read turned into jobs.Key, the job's rule
// (jobs.DecideMatch) and the backup-size rule (too_big_to_backup).
//
// It lives under internal/ and not in jobs because it talks to Redis
// (through internal/scan); jobs stays pure. It knows nothing of plans,
// journals, checkpoints or reports: those are its callers'.
package batch

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/keyjob/keyjob/internal/scan"
	"github.com/keyjob/keyjob/jobs"
)

// Step decides the keys of a batch for one job.
type Step struct {
	Job *jobs.Job
	// Reads are the per-key reads sent for the names that pass the regex.
	// Without Expiry, Idle or Memory nothing is read at all: the job's
	// conditions do not look at the key, so every key is taken to exist
	// without a TTL (a write that finds otherwise says so).
	Reads scan.Lookups
	// RunStart is the run's start: fixed TTLs and grace count from it.
	RunStart time.Time
	// Now is the server's clock, for a batch that reads nothing.
	Now func() time.Time
	// Count: a job on stream entries counts the entries each key would
	// lose (the plan); without it (apply) only whether it loses any.
	Count bool
	// NoMemory is why MEMORY USAGE cannot be sent, "" when it can: Measure
	// then reads nothing and the size rule is left to the caller.
	NoMemory string
}

// Decision is what happens to one key of a batch, with what was read
// about it.
type Decision struct {
	jobs.Decision
	// Info is what was read (Exists and ExpireAt -1 when nothing was).
	Info scan.KeyInfo
	// Measured says Info.Memory was read.
	Measured bool
	// Units is what the decision counts for: 1 for a whole key. An action
	// on a key's parts (hash fields, set or stream members) decides the
	// parts a key holds and sets it to their number.
	Units int64
	// Parts is, for an action on a key's parts, how many the key holds
	// (ZCARD, XLEN): Units of Parts are selected.
	Parts int64
	// FloorID is, for a job on stream entries counted by the plan, the
	// oldest entry the trim keeps ("" when it removes them all).
	FloorID string
}

// Matched is a batch after select.regex.
type Matched struct {
	Names   []string // passed the regex, in SCAN order
	Skipped []string // did not: regex skips
	matches []jobs.NameMatch
}

// Match applies select.regex to the keys of a batch, once per key.
func (s *Step) Match(keys []string) Matched {
	m := Matched{Names: make([]string, 0, len(keys)), matches: make([]jobs.NameMatch, 0, len(keys))}
	for _, k := range keys {
		if nm := s.Job.Match(k); nm.OK() {
			m.Names, m.matches = append(m.Names, k), append(m.matches, nm)
		} else {
			m.Skipped = append(m.Skipped, k)
		}
	}
	return m
}

// Read is a batch after its reads.
type Read struct {
	Matched
	Now   time.Time
	infos []scan.KeyInfo // nil: nothing was read
}

// reads says whether the step sends any per-key read.
func (s *Step) reads() bool {
	return s.Reads.Expiry || s.Reads.Idle || s.Reads.Memory || s.Reads.Type
}

// Read sends the reads of the names that passed the regex, in one
// pipeline on the node's client.
func (s *Step) Read(ctx context.Context, c rueidis.Client, m Matched) (Read, error) {
	if !s.reads() {
		return Read{Matched: m, Now: s.Now()}, nil
	}
	now, infos, err := scan.Lookup(ctx, c, m.Names, s.Reads, nil)
	if err != nil {
		return Read{}, err
	}
	return Read{Matched: m, Now: now, infos: infos}, nil
}

// Decide runs the job's rule over a batch that was read: a decision for
// every key, the regex skips first. A key gone since SCAN is jobs.Gone.
func (s *Step) Decide(r Read) []Decision {
	ds := make([]Decision, 0, len(r.Skipped)+len(r.Names))
	for _, k := range r.Skipped {
		ds = append(ds, Decision{Decision: jobs.Decision{Outcome: jobs.SkipRegex}, Info: scan.KeyInfo{Name: k, Exists: true, ExpireAt: -1}, Units: 1})
	}
	clock := jobs.Clock{Now: r.Now, RunStart: s.RunStart}
	for i, name := range r.Names {
		ki := scan.KeyInfo{Name: name, Exists: true, ExpireAt: -1}
		if r.infos != nil {
			ki = r.infos[i]
		}
		d := Decision{Info: ki, Measured: s.Reads.Memory, Units: 1}
		if !ki.Exists {
			d.Outcome = jobs.Gone
			ds = append(ds, d)
			continue
		}
		d.Decision = s.Job.DecideMatch(toKey(ki), clock, r.matches[i])
		if d.Measured {
			s.sizeRule(&d)
		}
		ds = append(ds, d)
	}
	return ds
}

// Keys matches, reads and decides the keys of a batch in one go.
func (s *Step) Keys(ctx context.Context, c rueidis.Client, keys []string) ([]Decision, error) {
	r, err := s.Read(ctx, c, s.Match(keys))
	if err != nil {
		return nil, err
	}
	ds := s.Decide(r)
	if err := s.settle(ctx, c, ds); err != nil {
		return nil, err
	}
	return ds, s.Members(ctx, c, ds)
}

// MembersChunk is the most members one call of a members job reads or
// removes (ZRANGE BYSCORE ... LIMIT 0 MembersChunk, then one ZREM of
// those): a call's work is O(log N + chunk) whatever the sorted set's
// size. The plan's AOF estimate counts calls of this size.
const MembersChunk = 128

// Members counts, for a job on sorted-set members, the members each key
// decided for change holds in the job's score range (ZCOUNT, O(log N)
// whatever the key's size) and sets Units to their number. A key with
// none is no_members; a key holding scores below the epoch floor is a
// bad_timestamp (seconds read as milliseconds would select every member);
// a key that is no sorted set any more is gone. Two ZCOUNTs per key, in
// one pipeline for the batch, with ZCARD (O(1)) for the share of the
// key's memory the members free.
func (s *Step) Members(ctx context.Context, c rueidis.Client, ds []Decision) error {
	m := s.Job.Members
	if m == nil {
		return nil
	}
	if m.Stream {
		return s.streams(ctx, c, ds)
	}
	rg := m.Range(s.RunStart)
	lo, hi := rg.BelowFloor()
	var at []int
	cmds := make(rueidis.Commands, 0, 3*len(ds))
	for i, d := range ds {
		if d.Outcome != jobs.Change {
			continue
		}
		at = append(at, i)
		cmds = append(cmds, c.B().Zcount().Key(d.Info.Name).Min(rg.Floor).Max(rg.Cutoff).Build(),
			c.B().Zcount().Key(d.Info.Name).Min(lo).Max(hi).Build(),
			c.B().Zcard().Key(d.Info.Name).Build())
	}
	if len(cmds) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, scan.CallTimeout)
	defer cancel()
	res := c.DoMulti(ctx, cmds...)
	for n, i := range at {
		selected, err := res[3*n].AsInt64()
		var below, card int64
		if err == nil {
			below, err = res[3*n+1].AsInt64()
		}
		if err == nil {
			card, err = res[3*n+2].AsInt64()
		}
		if re, ok := rueidis.IsRedisErr(err); ok && strings.HasPrefix(re.Error(), "WRONGTYPE") {
			ds[i].Decision = jobs.Decision{Outcome: jobs.Gone} // the sorted set scanned is gone
			continue
		}
		if err != nil {
			return fmt.Errorf("ZCOUNT %q: %w", ds[i].Info.Name, err)
		}
		switch {
		case below > 0:
			ds[i].Decision = jobs.Decision{Outcome: jobs.SkipBadTimestamp, Why: fmt.Sprintf(
				"%d members have a score before 2000 as %s: seconds read as milliseconds?", below, m.ScoreFormat)}
		case selected == 0:
			ds[i].Decision = jobs.Decision{Outcome: jobs.SkipNoMembers}
		default:
			ds[i].Units, ds[i].Parts = selected, card
		}
	}
	return nil
}

// settle reads the expiry of the bad timestamps when the step read no
// TTL although the job's rule looks at it (expire NX without a read: the
// write is the TTL check). The rule names a key with a TTL `ttl` before
// it reads the name's timestamp, and a plan, which reads every TTL, says
// so: a key with a TTL and a broken timestamp is `ttl` here too. Only the
// few bad timestamps are read.
func (s *Step) settle(ctx context.Context, c rueidis.Client, ds []Decision) error {
	if s.Reads.Expiry || !s.Job.Needs().TTL {
		return nil
	}
	var names []string
	var at []int
	for i, d := range ds {
		if d.Outcome == jobs.SkipBadTimestamp {
			names, at = append(names, d.Info.Name), append(at, i)
		}
	}
	if len(names) == 0 {
		return nil
	}
	_, infos, err := scan.Lookup(ctx, c, names, scan.Lookups{Expiry: true, ExpireTime: true}, nil)
	if err != nil {
		return err
	}
	for n, i := range at {
		switch ki := infos[n]; {
		case !ki.Exists:
			ds[i].Decision = jobs.Decision{Outcome: jobs.Gone}
		case ki.ExpireAt >= 0:
			ds[i].Info.ExpireAt = ki.ExpireAt
			ds[i].Decision = jobs.Decision{Outcome: jobs.SkipTTL}
		}
	}
	return nil
}

func toKey(ki scan.KeyInfo) jobs.Key {
	k := jobs.Key{Name: ki.Name, Idle: ki.Idle, HasTTL: ki.ExpireAt >= 0}
	if k.HasTTL {
		k.ExpireAt = time.UnixMilli(ki.ExpireAt)
	}
	return k
}

// Dumps says whether the change of a key dumps it first: with backup:
// dump, a delete, or an expire that gives the grace TTL (the key may be
// gone before anyone looks again). Only such a key can be too big to back
// up.
func (s *Step) Dumps(d Decision) bool {
	// A members job journals the members it removes, not the key; a
	// stream's entries cannot be added back, so its trim dumps the key.
	return d.Outcome == jobs.Change && s.Job.Backup.Mode == jobs.BackupDump && (s.Job.Members == nil || s.Job.Members.Stream) && s.Job.Fields == nil &&
		(s.Job.Action.Kind == jobs.ActionDelete || d.Grace)
}

// sizeRule makes a measured key that would be dumped and is larger than
// backup.max_dump_size too_big_to_backup: DUMP of a huge key blocks the
// server.
func (s *Step) sizeRule(d *Decision) {
	if s.Dumps(*d) && d.Info.Memory > s.Job.Backup.MaxDumpSize {
		d.Decision = jobs.Decision{Outcome: jobs.SkipTooBig, Why: fmt.Sprintf("%d bytes", d.Info.Memory)}
	}
}

// Measure reads MEMORY USAGE of the decisions at idx that were not
// measured yet, in one pipeline, and applies the backup-size rule. A key
// gone since it was decided becomes jobs.Gone.
func (s *Step) Measure(ctx context.Context, c rueidis.Client, ds []Decision, idx []int) error {
	var names []string
	var at []int
	for _, i := range idx {
		if !ds[i].Measured {
			names, at = append(names, ds[i].Info.Name), append(at, i)
		}
	}
	if len(names) > 0 && s.NoMemory != "" {
		for _, i := range at {
			ds[i].Measured, ds[i].Info.Memory = true, -1 // unknown
		}
		names = nil
	}
	if len(names) > 0 {
		_, mem, err := scan.Lookup(ctx, c, names, scan.Lookups{Memory: true}, nil)
		if err != nil {
			return err
		}
		for n, i := range at {
			ds[i].Measured = true
			if !mem[n].Exists {
				ds[i].Decision = jobs.Decision{Outcome: jobs.Gone}
				continue
			}
			ds[i].Info.Memory = mem[n].Memory
		}
	}
	for _, i := range idx {
		s.sizeRule(&ds[i])
	}
	return nil
}
