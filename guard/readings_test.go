package guard

import (
	"math"
	"testing"
	"time"
)

// NodeReadings puts numbers on Lines: each guard's figure and levels in
// its unit, NaN where the server gives no figure or the guard has no
// level, and the same state as the operator's line.
func TestNodeReadings(t *testing.T) {
	f := healthy()
	f.AOFSize = 30 * mib
	f.LatencyP99 = 20 * time.Millisecond
	f.BgsaveRunning = true
	f.DiskFree = -1
	base := Baseline{Start: healthy()}
	got := map[string]Reading{}
	for _, r := range NodeReadings(f.Node, f, base, defaults()) {
		if r.Node != f.Node {
			t.Errorf("%s: node %q, want %q", r.Guard, r.Node, f.Node)
		}
		got[r.Guard] = r
	}
	nan := math.NaN()
	cases := []struct {
		guard, state, unit  string
		value, pause, abort float64
	}{
		{"memory", "ok", "ratio", 0.5, DefaultMemoryPause, DefaultMemoryAbort},
		{"evictions", "ok", "keys", 1000, nan, nan},
		{"fork", "pause", "running", 1, 1, nan},
		{"aof", "ok", "bytes", float64(20 * mib), nan, float64(64 * mib)},
		{"disk", "blind", "bytes", nan, nan, float64(1 * gib)},
		{"replication", "ok", "bytes", 0, 512 << 10, nan},
		{"latency", "pause", "seconds", 0.020, 0.010, nan},
	}
	same := func(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }
	for _, c := range cases {
		r, ok := got[c.guard]
		if !ok {
			t.Errorf("no reading of %s", c.guard)
			continue
		}
		if r.State != c.state || r.Unit != c.unit || !same(r.Value, c.value) || !same(r.Pause, c.pause) || !same(r.Abort, c.abort) {
			t.Errorf("%s: state %s unit %s value %v pause %v abort %v; want %s %s %v %v %v",
				c.guard, r.State, r.Unit, r.Value, r.Pause, r.Abort, c.state, c.unit, c.value, c.pause, c.abort)
		}
	}
	if len(got) != len(cases) {
		t.Errorf("readings of %d guards, want %d", len(got), len(cases))
	}
}

// A delete never pauses on memory: its reading has no memory levels.
func TestNodeReadings_DeleteHasNoMemoryLevels(t *testing.T) {
	l := defaults()
	l.MemoryNeverPauses = true
	for _, r := range NodeReadings("n", healthy(), Baseline{Start: healthy()}, l) {
		if r.Guard == "memory" && (!math.IsNaN(r.Pause) || !math.IsNaN(r.Abort)) {
			t.Errorf("memory levels %v/%v for a delete, want none", r.Pause, r.Abort)
		}
	}
}
