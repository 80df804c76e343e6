package main_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/keyjob/keyjob/internal/redistest"
	"github.com/keyjob/keyjob/planner"
)

// examples/trim-timelines.yaml from the command line: plan counts the
// members, apply killed with SIGKILL in the middle of a big set and
// resumed removes exactly the members older than the cutoff of the run's
// start, and undo puts the sets back DUMP-identical.
func TestApplyE2E_TrimTimelinesSIGKILL(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t, redistest.Options{})
	c := srv.Client(t)
	now := time.Now().UnixMilli()
	const n = 20000
	dayMs := int64(24 * time.Hour / time.Millisecond)
	score := func(j int) float64 { return float64(now - int64(j)*180*dayMs/n) } // 0 to 180 days old
	var cmds rueidis.Commands
	for i := 0; i < n; i += 1000 {
		z := c.B().Zadd().Key("timeline:big").ScoreMember()
		for j := i; j < i+1000; j++ {
			z = z.ScoreMember(score(j), fmt.Sprintf("post:%06d", j))
		}
		cmds = append(cmds, z.Build())
	}
	cmds = append(cmds, c.B().Zadd().Key("timeline:small").ScoreMember().ScoreMember(float64(now), "new").ScoreMember(float64(now-100*dayMs), "old").Build(),
		c.B().Set().Key("timeline:note").Value("not a set").Build())
	for i, r := range c.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			t.Fatalf("seed %d: %v", i, err)
		}
	}
	keys := []string{"timeline:big", "timeline:small", "timeline:note"}
	dump := func() map[string]string {
		out := map[string]string{}
		for _, k := range keys {
			d, err := c.Do(ctx, c.B().Dump().Key(k).Build()).ToString()
			if err == nil {
				out[k] = d
			}
		}
		return out
	}
	before, beforeDumps := snapshot(t, c), dump()
	card := func() int64 {
		v, err := c.Do(ctx, c.B().Zcard().Key("timeline:big").Build()).AsInt64()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	job := example("trim-timelines.yaml")

	r := keyjob(t, nil, "plan", "--redis", srv.URL, "--format", "json", job)
	wantExit(t, r, 0)
	var plan struct {
		FormatVersion int `json:"format_version"`
		Members       struct {
			Selected int64 `json:"selected"`
			Held     int64 `json:"held"`
		} `json:"members"`
	}
	stdoutJSON(t, r, &plan)
	if plan.FormatVersion != planner.FormatVersion || plan.Members.Held != n+2 || plan.Members.Selected < n/2-10 || plan.Members.Selected > n/2+10 {
		t.Errorf("plan: %+v, want about %d of %d members selected", plan, n/2+1, n+2)
	}

	// limits.rate counts members: at 2000/s the 10k old members take 5 s.
	p := start(t, nil, applyE2EArgs(srv.URL, state, "--yes", "--rate", "2000", job)...)
	p.waitFor(t, "3000 members removed", func() bool { return card() <= n-3000 })
	p.cmd.Process.Signal(syscall.SIGKILL)
	if r := p.wait(t); r.code != 128+int(syscall.SIGKILL) {
		t.Fatalf("the run was not killed (exit %d)\n%s", r.code, r)
	}
	cp := readCheckpoint(t, state, "trim-timelines")
	if cp.Completed || card() == n/2 {
		t.Fatalf("killed run: completed %v, %d members left", cp.Completed, card())
	}
	time.Sleep(1100 * time.Millisecond) // the cutoff must not move with the resume
	r = keyjob(t, nil, applyE2EArgs(srv.URL, state, "--yes", "--rate", "unlimited", "--resume", job)...)
	wantExit(t, r, 0)
	cp2 := readCheckpoint(t, state, "trim-timelines")
	if cp2.RunStartMs != cp.RunStartMs {
		t.Fatalf("the resume moved the run's start")
	}
	cutoff := float64(cp.RunStartMs - 90*dayMs)
	left, err := c.Do(ctx, c.B().Zrange().Key("timeline:big").Min("0").Max("-1").Withscores().Build()).AsZScores()
	if err != nil {
		t.Fatal(err)
	}
	var want int
	for j := range n {
		if score(j) >= cutoff {
			want++
		}
	}
	for _, z := range left {
		if z.Score < cutoff {
			t.Fatalf("member %s (%v) older than the cutoff %v is still there", z.Member, z.Score, cutoff)
		}
	}
	if len(left) != want {
		t.Errorf("%d members left, want %d", len(left), want)
	}
	// Each set and member counted once across the kill: a chunk journaled
	// by the killed invocation and again by the resume counts once.
	rep := readReport(t, state, "trim-timelines", cp2.RunID)
	if o := rep.Outcomes; o.Change != 2 || o.MembersRemoved != int64(n-want+1) || rep.Scanned != 2 {
		t.Errorf("report: %d scanned, %+v; want 2 changed, %d members removed", rep.Scanned, o, n-want+1)
	}
	small, _ := c.Do(ctx, c.B().Zrange().Key("timeline:small").Min("0").Max("-1").Build()).AsStrSlice()
	if strings.Join(small, ",") != "new" {
		t.Errorf("timeline:small = %v, want [new]", small)
	}
	after := snapshot(t, c)
	if after["timeline:note"] != before["timeline:note"] {
		t.Errorf("a string under the prefix changed")
	}

	r = keyjob(t, nil, "undo", "--redis", srv.URL, "--progress", "none", "--yes", cp.Journal)
	wantExit(t, r, 0)
	wantSame(t, "after undo", before, snapshot(t, c))
	for k, d := range dump() {
		if beforeDumps[k] != d {
			t.Errorf("%s: DUMP differs after undo", k)
		}
	}
	if _, err := os.Stat(cp.Journal); err != nil {
		t.Error(err)
	}
}
