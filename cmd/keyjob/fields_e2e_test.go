package main_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/keyjob/keyjob/examples"
	"github.com/keyjob/keyjob/internal/checkpoint"
	"github.com/keyjob/keyjob/internal/redistest"
	"github.com/keyjob/keyjob/planner"
)

// seedBigDevice writes one hash of n seen: fields, 1 to 20 days old, a
// field of another kind, and a string under the prefix.
func seedBigDevice(t *testing.T, c rueidis.Client, n int) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().Unix()
	var cmds rueidis.Commands
	for i := 0; i < n; i += 1000 {
		h := c.B().Hset().Key("devices:big").FieldValue()
		for j := i; j < min(i+1000, n); j++ {
			h = h.FieldValue(fmt.Sprintf("seen:%d:gw%06d", now-int64(1+j%20)*86400, j), strconv.Itoa(j))
		}
		cmds = append(cmds, h.Build())
	}
	cmds = append(cmds, c.B().Hset().Key("devices:big").FieldValue().FieldValue("name", "gateway").Build(),
		c.B().Set().Key("devices:note").Value("not a hash").Build())
	for i, r := range c.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			t.Fatalf("seed %d: %v", i, err)
		}
	}
}

// fieldsWithTTL counts the fields of a hash that have an expiry.
func fieldsWithTTL(t *testing.T, c rueidis.Client, key string) int {
	t.Helper()
	n := 0
	for _, f := range redistest.HashFields(t, c, key) {
		if f.ExpireMs >= 0 {
			n++
		}
	}
	return n
}

// looseFieldsJob is examples/device-fields-ttl.yaml with a latency guard
// a loaded test machine does not trip (apply --allow-looser-guards).
func looseFieldsJob(t *testing.T) string {
	t.Helper()
	return writeJob(t, t.TempDir(), "device-fields-ttl.yaml", examples.MustJob("device-fields-ttl.yaml", "guards:\n  latency:\n    pause_above: 1s\n"))
}

// examples/device-fields-ttl.yaml from the command line: plan counts the
// fields, apply killed with SIGKILL in the middle of a big hash and
// resumed gives every seen: field exactly its expiry (30 days after the
// time in its name), and undo gives back every field without one.
func TestApplyE2E_DeviceFieldsSIGKILL(t *testing.T) {
	img := redistest.FieldServers(t)[0].Image
	srv := redistest.Start(t, redistest.Options{Image: img})
	c := srv.Client(t)
	const n = 20000
	seedBigDevice(t, c, n)
	before := redistest.HashFields(t, c, "devices:big")
	state := t.TempDir()
	job := looseFieldsJob(t)

	r := keyjob(t, nil, "plan", "--redis", srv.URL, "--format", "json", job)
	wantExit(t, r, 0)
	var plan struct {
		FormatVersion int `json:"format_version"`
		Fields        struct {
			Walked int64 `json:"walked"`
			Change int64 `json:"change"`
		} `json:"fields"`
	}
	stdoutJSON(t, r, &plan)
	if plan.FormatVersion != planner.FormatVersion || plan.Fields.Walked != n || plan.Fields.Change != n {
		t.Errorf("plan: %+v, want %d fields walked and changed", plan, n)
	}

	// limits.rate counts fields: at 2000/s the 20k fields take 10 s.
	p := start(t, nil, applyE2EArgs(srv.URL, state, "--yes", "--allow-looser-guards", "--rate", "2000", job)...)
	p.waitFor(t, "3000 fields with a TTL", func() bool { return fieldsWithTTL(t, c, "devices:big") >= 3000 })
	p.cmd.Process.Signal(syscall.SIGKILL)
	if r := p.wait(t); r.code != 128+int(syscall.SIGKILL) {
		t.Fatalf("the run was not killed (exit %d)\n%s", r.code, r)
	}
	cp := readCheckpoint(t, state, "device-fields-ttl")
	if got := fieldsWithTTL(t, c, "devices:big"); cp.Completed || got >= n {
		t.Fatalf("killed run: completed %v, %d fields with a TTL", cp.Completed, got)
	}
	r = keyjob(t, nil, applyE2EArgs(srv.URL, state, "--yes", "--allow-looser-guards", "--rate", "unlimited", "--resume", job)...)
	wantExit(t, r, 0)
	after := redistest.HashFields(t, c, "devices:big")
	for name, f := range after {
		want := int64(-1)
		if strings.HasPrefix(name, "seen:") {
			ts, _ := strconv.ParseInt(strings.Split(name, ":")[1], 10, 64)
			want = (ts + 30*86400) * 1000
		}
		if f.ExpireMs != want || f.Value != before[name].Value {
			t.Fatalf("%s = %+v, want expiry %d, value %q", name, f, want, before[name].Value)
		}
	}
	if len(after) != len(before) {
		t.Errorf("%d fields after the run, %d before", len(after), len(before))
	}

	r = keyjob(t, nil, "undo", "--redis", srv.URL, "--progress", "none", "--yes", cp.Journal)
	wantExit(t, r, 0)
	back := redistest.HashFields(t, c, "devices:big")
	for name, f := range before {
		if back[name] != f {
			t.Fatalf("after undo %s = %+v, want %+v", name, back[name], f)
		}
	}
}

// On every server of the matrix: a fields job runs where hash-field
// expiry exists (Redis 7.4+, Valkey 9+): plan, apply and undo from the
// command line; elsewhere plan and apply refuse it naming the versions
// that have it, and change nothing.
func TestMatrix_Fields(t *testing.T) {
	for _, m := range redistest.Matrix(t) {
		t.Run(m.Name, func(t *testing.T) {
			t.Parallel()
			srv := redistest.Start(t, redistest.Options{Image: m.Image})
			c := srv.Client(t)
			seedBigDevice(t, c, 300)
			state := t.TempDir()
			job := looseFieldsJob(t)
			if !redistest.HasFieldExpiry(m.Image) {
				before := snapshot(t, c)
				for _, args := range [][]string{{"plan", "--redis", srv.URL, job}, applyE2EArgs(srv.URL, state, "--yes", job)} {
					r := keyjob(t, nil, args...)
					if r.code == 0 || !strings.Contains(r.stderr, "Redis 7.4 or later, or Valkey 9.0 or later") {
						t.Errorf("%s on %s: exit %d, want the refusal\n%s", args[0], m.Name, r.code, r)
					}
				}
				wantSame(t, "after the refusals", before, snapshot(t, c))
				return
			}
			before := redistest.HashFields(t, c, "devices:big")
			wantExit(t, keyjob(t, nil, "plan", "--redis", srv.URL, job), 0)
			wantExit(t, keyjob(t, nil, applyE2EArgs(srv.URL, state, "--yes", "--allow-looser-guards", job)...), 0)
			if got := fieldsWithTTL(t, c, "devices:big"); got != 300 {
				t.Errorf("%d fields with a TTL, want 300", got)
			}
			cp := readCheckpoint(t, state, "device-fields-ttl")
			wantExit(t, keyjob(t, nil, "undo", "--redis", srv.URL, "--progress", "none", "--yes", cp.Journal), 0)
			back := redistest.HashFields(t, c, "devices:big")
			for name, f := range before {
				if back[name] != f {
					t.Fatalf("after undo %s = %+v, want %+v", name, back[name], f)
				}
			}
		})
	}
}

// Killed with SIGKILL at random moments and resumed until it completes, a
// fields run ends in the state an uninterrupted run gives: every seen:
// field exactly its expiry, every other field and key as it was; undo of
// its journal gives every field back. KEYJOB_KILL_SEED repeats the kill
// points, as for TestApplyE2E_RandomKills.
func TestApplyE2E_FieldsRandomKills(t *testing.T) {
	rng := killPoints(t)
	img := redistest.FieldServers(t)[0].Image
	srv := redistest.Start(t, redistest.Options{Image: img})
	c := srv.Client(t)
	ctx := context.Background()
	now := time.Now().Unix()
	var keys []string
	var cmds rueidis.Commands
	for i := range 100 {
		key := fmt.Sprintf("devices:%03d", i)
		keys = append(keys, key)
		h := c.B().Hset().Key(key).FieldValue().FieldValue("name", key)
		for j := range 10 + i*4 { // 10 to 406 fields: listpacks and hashtables
			h = h.FieldValue(fmt.Sprintf("seen:%d:gw%03d", now-int64(1+j%20)*86400, j), strconv.Itoa(j))
		}
		cmds = append(cmds, h.Build())
	}
	cmds = append(cmds, c.B().Set().Key("devices:note").Value("x").Build())
	for i, r := range c.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			t.Fatalf("seed %d: %v", i, err)
		}
	}
	before := map[string]map[string]redistest.Field{}
	for _, k := range keys {
		before[k] = redistest.HashFields(t, c, k)
	}
	beforeKeys := snapshot(t, c)
	state := t.TempDir()
	job := looseFieldsJob(t)
	args := func(more ...string) []string {
		return applyE2EArgs(srv.URL, state, append(append([]string{"--yes", "--allow-looser-guards"}, more...), job)...)
	}
	killed := 0
	for range 2 + rng.IntN(3) {
		d := time.Duration(150+rng.IntN(1500)) * time.Millisecond
		more := []string{"--rate", "3000"}
		if _, err := os.Stat(checkpoint.Path(state, "device-fields-ttl")); err == nil {
			more = append(more, "--resume")
		}
		p := start(t, nil, args(more...)...)
		time.Sleep(d)
		p.cmd.Process.Signal(syscall.SIGKILL)
		if r := p.wait(t); r.code == 0 {
			break
		} else if r.code != 128+int(syscall.SIGKILL) {
			t.Fatalf("invocation %d: exit %d, want killed\n%s", killed+1, r.code, r)
		}
		killed++
		t.Logf("killed after %v", d)
	}
	if killed == 0 {
		t.Fatal("no invocation was killed: the job ran too fast to be interrupted")
	}
	if cp, err := checkpoint.Load(checkpoint.Path(state, "device-fields-ttl")); err != nil || !cp.Completed {
		wantExit(t, keyjob(t, nil, args("--rate", "unlimited", "--resume")...), 0)
	}
	for _, k := range keys {
		got := redistest.HashFields(t, c, k)
		for name, f := range before[k] {
			want := f
			if strings.HasPrefix(name, "seen:") {
				ts, _ := strconv.ParseInt(strings.Split(name, ":")[1], 10, 64)
				want.ExpireMs = (ts + 30*86400) * 1000
			}
			if got[name] != want {
				t.Fatalf("killed %d times: %s %s = %+v, want %+v", killed, k, name, got[name], want)
			}
		}
	}
	after := snapshot(t, c)
	if after["devices:note"] != beforeKeys["devices:note"] {
		t.Error("a string under the prefix changed")
	}
	cp := readCheckpoint(t, state, "device-fields-ttl")
	wantExit(t, keyjob(t, nil, "undo", "--redis", srv.URL, "--progress", "none", "--yes", cp.Journal), 0)
	for _, k := range keys {
		got := redistest.HashFields(t, c, k)
		for name, f := range before[k] {
			if got[name] != f {
				t.Fatalf("after undo %s %s = %+v, want %+v", k, name, got[name], f)
			}
		}
	}
}
