package planner_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/keyjob/keyjob/internal/redistest"
	"github.com/keyjob/keyjob/planner"
)

// The plan judges a run at the rate it will run: a second of the run's
// writes to each replica against the replication guard's pause level,
// at the job's limits.rate, or at --rate when the operator gives one.
func TestBuild_ReplicaLagAtTheRunsRate(t *testing.T) {
	srv, c := startServer(t, redistest.Options{Args: []string{"--repl-backlog-size", "128kb"}})
	redistest.StartReplica(t, srv)
	ctx := context.Background()
	cmds := make(rueidis.Commands, 0, 2000)
	for i := range 2000 {
		cmds = append(cmds, c.B().Set().Key("g:"+strconv.Itoa(i)).Value("v").Build())
	}
	for _, r := range c.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			t.Fatal(err)
		}
	}
	// The plan sees the replica once it is online.
	deadline := time.Now().Add(20 * time.Second)
	for {
		info, _ := c.Do(ctx, c.B().Info().Section("replication").Build()).ToString()
		if strings.Contains(info, "connected_slaves:1") && strings.Contains(info, "state=online") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica never came online:\n%s", info)
		}
		time.Sleep(50 * time.Millisecond)
	}
	job := parseJob(t, "slow.yaml", `
version: 1
name: slow
select: {match: "g:*", ttl: none}
action: {expire: {ttl: 1d}}
limits: {rate: 100}
`)
	conn := dial(t, srv.URL, nil)
	// 100 changes/s of about 90 bytes: far below half of 64 KiB.
	if p := build(t, conn, job, planner.Options{}); slices.Contains(warningCodes(p), planner.WarnReplicaLag) {
		t.Errorf("at the file's 100/s: warnings %v, want no %s", warningCodes(p), planner.WarnReplicaLag)
	}
	// --rate 5000: about 450 KiB a second to the replica.
	p := build(t, conn, job, planner.Options{Rate: 5000})
	if !slices.Contains(warningCodes(p), planner.WarnReplicaLag) {
		t.Errorf("at --rate 5000: warnings %v, want %s", warningCodes(p), planner.WarnReplicaLag)
	}
	if p.Job.Rate != "5000" {
		t.Errorf("the plan's job.rate = %q, want the operator's 5000", p.Job.Rate)
	}
}
