package planner

import (
	"math"
	"sync"
	"time"

	"github.com/keyjob/keyjob/internal/batch"
	"github.com/keyjob/keyjob/internal/scan"
	"github.com/keyjob/keyjob/jobs"
)

// Expiry schedule ranges, after the run's start.
var scheduleRanges = []struct {
	within time.Duration
	label  string
}{
	{time.Hour, "1 h"},
	{24 * time.Hour, "1 d"},
	{7 * 24 * time.Hour, "7 d"},
	{30 * 24 * time.Hour, "30 d"},
	{90 * 24 * time.Hour, "90 d"},
	{365 * 24 * time.Hour, "365 d"},
	{math.MaxInt64, "later"},
}

// peakWindow is how far ahead the per-minute counts reach: the grace wave
// and near-term expiries, where a burst of DELs hurts.
const peakWindow = 7 * 24 * time.Hour

// tally accumulates a walk's outcomes. It holds counts and a few samples,
// never the key list.
type tally struct {
	// mu guards everything below: the primaries of a cluster are walked
	// at once.
	mu       sync.Mutex
	job      *jobs.Job
	runStart time.Time
	sampled  bool

	scanned     int64
	gone        int64 // vanished between SCAN and lookup (lazily expired)
	change      int64
	grace       int64
	fromNoTTL   int64 // changed keys that had no TTL: each adds an expires entry
	skip        map[string]int64
	samples     map[string][]Key
	schedule    []int64
	perMinute   []int64
	aofBytes    int64
	graceDel    int64
	journal     int64
	memMeasured int64
	memSum      int64
	memChanged  int64 // sum of MEMORY USAGE over every changed key, when all are measured
	dbsizeHint  int64
	noMemory    bool  // MEMORY USAGE cannot be sent: no key is measured
	members     int64 // members selected in the changed keys (a members job)
	held        int64 // members the changed keys hold
	memFreed    int64 // a members job: each measured key's memory times its selected share
	fields      fieldTally
}

func newTally(job *jobs.Job, runStart time.Time, sampled bool) *tally {
	t := &tally{
		job: job, runStart: runStart, sampled: sampled,
		skip:      map[string]int64{},
		samples:   map[string][]Key{},
		schedule:  make([]int64, len(scheduleRanges)),
		perMinute: make([]int64, int(peakWindow/time.Minute)),
	}
	for _, s := range SkipOrder {
		t.skip[s] = 0
	}
	if job.Fields != nil {
		t.fields = fieldTally{skip: map[string]int64{}, samples: map[string][]FieldSample{}}
	}
	return t
}

// wantsMemory says whether a changed key gets a MEMORY USAGE lookup.
func (t *tally) wantsMemory() bool {
	// A fields job measures fields (HSTRLEN), never a hash: MEMORY USAGE
	// of a big hash costs with its size and says nothing of the fields.
	return !t.noMemory && t.job.Fields == nil && (t.job.Backup.Mode == jobs.BackupDump || t.memMeasured < memorySample)
}

// addMembers counts what a members job selects inside a changed key.
func (t *tally) addMembers(d batch.Decision) {
	t.members += d.Units
	t.held += d.Parts
	if d.Info.Memory > 0 && d.Parts > 0 {
		t.memFreed += int64(float64(d.Info.Memory) * float64(d.Units) / float64(d.Parts))
	}
	if t.job.Members.Stream {
		t.aofBytes += streamAOFBytes(d.Info.Name, d.Units)
		t.journal += d.Units * (streamIDBytes + 1)
	} else {
		t.aofBytes += membersAOFBytes(d.Info.Name, d.Units)
	}
	// The sample just taken of this key says what it loses.
	if s := t.samples[string(jobs.Change)]; len(s) > 0 && s[len(s)-1].Name == d.Info.Name && s[len(s)-1].Members == nil {
		s[len(s)-1].Members = &KeyMembers{Selected: d.Units, Held: d.Parts, FloorID: d.FloorID}
	}
}

func (t *tally) add(name string, d jobs.Decision, ki scan.KeyInfo) {
	t.scanned++
	o := string(d.Outcome)
	if d.Outcome != jobs.Change {
		t.skip[o]++
		t.sample(o, name, d, ki)
		return
	}
	t.change++
	if ki.Memory > 0 {
		t.memMeasured++
		t.memSum += ki.Memory
	}
	if ki.ExpireAt < 0 {
		t.fromNoTTL++
	}
	if t.job.Members == nil && t.job.Fields == nil {
		t.aofBytes += aofCommandBytes(t.job, name)
		t.journal += journalRecordBytes(t.job, name, ki.Memory)
	}
	label := o
	if d.Grace {
		t.grace++
		t.graceDel += respBytes("DEL", name)
		label = "change_grace"
	}
	t.sample(label, name, d, ki)
	if !d.ExpireAt.IsZero() {
		t.schedule1(d.ExpireAt)
	}
}

func (t *tally) schedule1(at time.Time) {
	after := at.Sub(t.runStart)
	for i, r := range scheduleRanges {
		if after <= r.within {
			t.schedule[i]++
			break
		}
	}
	if m := int(after / time.Minute); after >= 0 && m < len(t.perMinute) {
		t.perMinute[m]++
	}
}

func (t *tally) sample(outcome, name string, d jobs.Decision, ki scan.KeyInfo) {
	if len(t.samples[outcome]) >= SamplesPer {
		return
	}
	k := Key{Name: name, Grace: d.Grace, Why: d.Why}
	if ki.ExpireAt >= 0 && t.job.Needs().TTL {
		at := time.UnixMilli(ki.ExpireAt).UTC()
		k.ExpireAt = &at
	}
	if !d.ExpireAt.IsZero() {
		at := d.ExpireAt.UTC()
		k.NewExpire = &at
	}
	t.samples[outcome] = append(t.samples[outcome], k)
}

// meanMemory is the mean MEMORY USAGE of the changed keys measured.
func (t *tally) meanMemory() int64 {
	if t.memMeasured == 0 {
		return 0
	}
	return t.memSum / t.memMeasured
}

func (t *tally) fill(p *Plan) {
	p.Scanned = t.scanned
	p.Outcomes = Outcomes{Change: t.change, ChangeGrace: t.grace, Skip: t.skip}
	p.Samples = t.samples
	if m := t.job.Members; m != nil && m.Stream {
		rg := m.StreamRange(t.runStart)
		p.Members = &MembersPlan{Type: "stream", OlderThan: Duration(m.OlderThan), Cutoff: rg.CutoffTime,
			CutoffID: rg.CutoffID, EpochFloorID: rg.FloorID, Selected: t.members, Held: t.held}
	} else if m != nil {
		rg := m.Range(t.runStart)
		p.Members = &MembersPlan{Type: "zset", ScoreFormat: m.ScoreFormat, OlderThan: Duration(m.OlderThan), Cutoff: rg.CutoffTime,
			CutoffScore: rg.Cutoff, FloorScore: rg.Floor, Selected: t.members, Held: t.held}
	}
	t.fillFields(p)
	if t.job.Action.Kind == jobs.ActionExpire {
		mean := t.meanMemory()
		for i, r := range scheduleRanges {
			if t.schedule[i] == 0 && r.label == "later" {
				continue
			}
			p.Expiries = append(p.Expiries, ExpiryBucket{
				Within: Duration(min(r.within, 100*365*24*time.Hour)), Label: r.label,
				Keys: t.schedule[i], MemoryBytes: t.schedule[i] * mean,
			})
		}
		var best, at int64
		for m, n := range t.perMinute {
			if n > best {
				best, at = n, int64(m)
			}
		}
		if best > 0 {
			p.PeakMinute = &PeakMinute{At: t.runStart.Add(time.Duration(at) * time.Minute), Keys: best}
		}
	}
}

// total is the keys tallied so far.
func (t *tally) total() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.scanned
}
