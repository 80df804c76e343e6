package jobs

import (
	"slices"
	"testing"
	"time"
)

func TestParse_Guards(t *testing.T) {
	j := mustParse(t, `version: 1
name: x
select:
  match: "k:*"
action:
  delete: {}
backup: none
guards:
  memory:
    pause_above: 80%
    abort_above: 85%
    limit: 4GiB
    abort_on_evictions: false
  persistence:
    pause_during_fork: true
    abort_on_write_error: false
  aof:
    max_growth: 256MiB
  disk:
    abort_below: 2GB
  replication:
    pause_lag_above: 256KiB
    abort_on_replica_loss: true
  latency:
    pause_above: 5ms
`)
	g := j.Guards
	checks := []struct {
		field     string
		got, want any
	}{
		{"memory.pause_above", *g.Memory.PauseAbove, 0.8},
		{"memory.abort_above", *g.Memory.AbortAbove, 0.85},
		{"memory.limit", *g.Memory.Limit, int64(4 << 30)},
		{"memory.abort_on_evictions", *g.Memory.AbortOnEvictions, false},
		{"persistence.pause_during_fork", *g.Persistence.PauseDuringFork, true},
		{"persistence.abort_on_write_error", *g.Persistence.AbortOnWriteError, false},
		{"aof.max_growth", *g.AOF.MaxGrowth, SizeOrShare{Bytes: 256 << 20}},
		{"disk.abort_below", *g.Disk.AbortBelow, int64(2e9)},
		{"replication.pause_lag_above", *g.Replication.PauseLagAbove, int64(256 << 10)},
		{"replication.abort_on_replica_loss", *g.Replication.AbortOnReplicaLoss, true},
		{"latency.pause_above", *g.Latency.PauseAbove, 5 * time.Millisecond},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.field, c.got, c.want)
		}
	}
	var want []string
	for _, c := range checks {
		want = append(want, c.field)
	}
	if got := g.Set(); !slices.Equal(got, want) {
		t.Errorf("Set() = %v, want %v", got, want)
	}
}

func TestGuards_Set(t *testing.T) {
	for _, tc := range []struct {
		guards string
		want   []string
	}{
		{"{}", nil},
		{"{aof: {max_growth: 25%}}", []string{"aof.max_growth"}},
		{"{memory: {abort_above: 97%}, latency: {pause_above: 20ms}}", []string{"memory.abort_above", "latency.pause_above"}},
		{"{disk: {abort_below: 0}}", []string{"disk.abort_below"}},
		{"{memory: {}, disk: null}", nil},
	} {
		j := mustParse(t, "version: 1\nname: x\nselect: {match: \"k:*\"}\naction: {persist: {}}\nguards: "+tc.guards+"\n")
		if got := j.Guards.Set(); !slices.Equal(got, tc.want) {
			t.Errorf("guards: %s: Set() = %v, want %v", tc.guards, got, tc.want)
		}
	}
	j := mustParse(t, "version: 1\nname: x\nselect: {match: \"k:*\"}\naction: {persist: {}}\nguards: {aof: {max_growth: 25%}}\n")
	if got := *j.Guards.AOF.MaxGrowth; got != (SizeOrShare{Share: 0.25}) {
		t.Errorf("max_growth 25%% = %+v", got)
	}
}

func TestParse_GuardErrors(t *testing.T) {
	checkErrors(t, []errCase{{
		name: "bad percentages and sizes",
		src: `version: 1
name: x
select:
  match: "k:*"
action:
  delete: {}
backup: none
guards:
  memory:
    pause_above: 0.9
    abort_above: 120%
    limit: 0
  aof:
    max_growth: lots
  disk:
    abort_below: 1 GB
  replication:
    pause_lag_above: 0
  latency:
    pause_above: 0s
`,
		want: `job.yaml:10:18: guards.memory.pause_above: want a percentage such as 5%, got "0.9"
job.yaml:11:18: guards.memory.abort_above: want a percentage above 0% and at most 100%, got "120%"
job.yaml:12:12: guards.memory.limit: want a size above zero, got "0"
job.yaml:14:17: guards.aof.max_growth: want a size such as 256MiB or a percentage of used_memory such as 25%, got "lots"
job.yaml:18:22: guards.replication.pause_lag_above: want a size above zero, got "0"
job.yaml:20:18: guards.latency.pause_above: want a duration above zero, got "0s"`,
	}, {
		name: "pause not below abort",
		src: `version: 1
name: x
select:
  match: "k:*"
action:
  delete: {}
backup: none
guards:
  memory:
    pause_above: 90%
    abort_above: 90%
`,
		want: `job.yaml:10:18: guards.memory.pause_above: want a level below abort_above (90%), got 90%`,
	}, {
		name: "pause above the default abort",
		src: `version: 1
name: x
select:
  match: "k:*"
action:
  delete: {}
backup: none
guards:
  memory:
    pause_above: 96%
`,
		want: `job.yaml:10:18: guards.memory.pause_above: want a level below abort_above (95%, the default), got 96% (set guards.memory.abort_above above it too)`,
	}, {
		name: "abort below the default pause",
		src: `version: 1
name: x
select:
  match: "k:*"
action:
  delete: {}
backup: none
guards:
  memory:
    abort_above: 85%
`,
		want: `job.yaml:10:18: guards.memory.abort_above: want a level above pause_above (90%, the default), got 85% (set guards.memory.pause_above below it too)`,
	}, {
		name: "zero growth, zero percent level",
		src: `version: 1
name: x
select:
  match: "k:*"
action:
  delete: {}
backup: none
guards:
  memory:
    pause_above: 0%
  aof:
    max_growth: 0%
  latency:
    pause_above: 10 ms
`,
		want: `job.yaml:10:18: guards.memory.pause_above: want a percentage above 0% and at most 100%, got "0%"
job.yaml:12:17: guards.aof.max_growth: want a size or percentage above zero, got "0%"
job.yaml:14:18: guards.latency.pause_above: want a duration such as 365d or 1h30m, got "10 ms"`,
	}})
}
