package jobs

import "time"

// The memory levels' defaults (docs/guards.md), which a level the job file sets
// is checked against when it sets only the other one.
const (
	defaultPauseAbove = 0.90
	defaultAbortAbove = 0.95
)

// Set lists the dotted names of the guard levels the job file sets, in the
// order docs/guards.md documents them ("memory.pause_above", "aof.max_growth").
// The plan shows them beside the defaults.
func (g Guards) Set() []string {
	var out []string
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"memory.pause_above", g.Memory.PauseAbove != nil},
		{"memory.abort_above", g.Memory.AbortAbove != nil},
		{"memory.limit", g.Memory.Limit != nil},
		{"memory.abort_on_evictions", g.Memory.AbortOnEvictions != nil},
		{"persistence.pause_during_fork", g.Persistence.PauseDuringFork != nil},
		{"persistence.abort_on_write_error", g.Persistence.AbortOnWriteError != nil},
		{"aof.max_growth", g.AOF.MaxGrowth != nil},
		{"disk.abort_below", g.Disk.AbortBelow != nil},
		{"replication.pause_lag_above", g.Replication.PauseLagAbove != nil},
		{"replication.abort_on_replica_loss", g.Replication.AbortOnReplicaLoss != nil},
		{"latency.pause_above", g.Latency.PauseAbove != nil},
	} {
		if f.set {
			out = append(out, f.name)
		}
	}
	return out
}

func (v *validator) guards(r *rawGuards) Guards {
	var g Guards
	if r == nil {
		return g
	}
	if m := r.Memory; m != nil {
		g.Memory = v.memoryGuards(m)
	}
	if p := r.Persistence; p != nil {
		g.Persistence = PersistenceGuards{PauseDuringFork: p.PauseDuringFork, AbortOnWriteError: p.AbortOnWriteError}
	}
	if a := r.AOF; a != nil && a.MaxGrowth != nil {
		g.AOF.MaxGrowth = v.sizeOrShare("guards.aof.max_growth", *a.MaxGrowth)
	}
	if d := r.Disk; d != nil {
		g.Disk.AbortBelow = v.optSize("guards.disk.abort_below", d.AbortBelow, false)
	}
	if rep := r.Replication; rep != nil {
		g.Replication = ReplicationGuards{
			PauseLagAbove:      v.optSize("guards.replication.pause_lag_above", rep.PauseLagAbove, true),
			AbortOnReplicaLoss: rep.AbortOnReplicaLoss,
		}
	}
	if l := r.Latency; l != nil && l.PauseAbove != nil {
		if d := v.positive("guards.latency.pause_above", l.PauseAbove, time.Hour); d > 0 {
			g.Latency.PauseAbove = &d
		}
	}
	return g
}

func (v *validator) memoryGuards(r *rawMemoryGuards) MemoryGuards {
	m := MemoryGuards{
		PauseAbove:       v.level("guards.memory.pause_above", r.PauseAbove),
		AbortAbove:       v.level("guards.memory.abort_above", r.AbortAbove),
		Limit:            v.optSize("guards.memory.limit", r.Limit, true),
		AbortOnEvictions: r.AbortOnEvictions,
	}
	v.pauseBelowAbort(m.PauseAbove, m.AbortAbove)
	return m
}

// pauseBelowAbort refuses a pause level at or above the abort level: the
// run would abort without pausing first. A level the file leaves out is
// taken at its default.
func (v *validator) pauseBelowAbort(pause, abort *float64) {
	switch {
	case pause != nil && abort != nil && *pause >= *abort:
		v.fail("guards.memory.pause_above", "want a level below abort_above (%s), got %s", percent(*abort), percent(*pause))
	case pause != nil && abort == nil && *pause >= defaultAbortAbove:
		v.fail("guards.memory.pause_above", "want a level below abort_above (%s, the default), got %s", percent(defaultAbortAbove), percent(*pause)).Hint =
			"set guards.memory.abort_above above it too"
	case pause == nil && abort != nil && *abort <= defaultPauseAbove:
		v.fail("guards.memory.abort_above", "want a level above pause_above (%s, the default), got %s", percent(defaultPauseAbove), percent(*abort)).Hint =
			"set guards.memory.pause_above below it too"
	}
}

// level parses a memory level: a percentage above 0% and at most 100%.
func (v *validator) level(field string, s *percentText) *float64 {
	if s == nil {
		return nil
	}
	p, err := ParsePercent(string(*s))
	if err != nil {
		v.fail(field, "%s", err)
		return nil
	}
	if p <= 0 || p > 1 {
		v.fail(field, "want a percentage above 0%% and at most 100%%, got %q", *s)
		return nil
	}
	return &p
}

// optSize parses an optional size; nil when unset or wrong.
func (v *validator) optSize(field string, s *sizeText, positive bool) *int64 {
	if s == nil {
		return nil
	}
	n := v.size(field, s, 0, positive)
	if !v.ok(field) {
		return nil
	}
	return &n
}

func (v *validator) sizeOrShare(field string, s sizeOrPercentText) *SizeOrShare {
	if p, err := ParsePercent(string(s)); err == nil {
		if p == 0 {
			v.fail(field, "want a size or percentage above zero, got %q", s)
			return nil
		}
		return &SizeOrShare{Share: p}
	}
	n, err := ParseSize(string(s))
	if err != nil {
		v.fail(field, "want %s, got %q", wantSizeOrPercent, s)
		return nil
	}
	if n == 0 {
		v.fail(field, "want a size or percentage above zero, got %q", s)
		return nil
	}
	return &SizeOrShare{Bytes: n}
}

// percent writes a share the way the job file does: 0.9 -> "90%".
func percent(share float64) string {
	return formatFloat(share*100) + "%"
}
