package redistest

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

func TestStart_Snapshot(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := Start(t, Options{})
	c := srv.Client(t)

	mustDo(t, c, c.B().Set().Key("plain").Value("v1").Build())
	mustDo(t, c, c.B().Set().Key("ttl").Value("v2").ExSeconds(3600).Build())
	mustDo(t, c, c.B().Hset().Key("hash").FieldValue().FieldValue("f", "1").Build())

	before, err := Snapshot(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(before), 3; got != want {
		t.Fatalf("snapshot has %d keys, want %d: %v", got, want, before)
	}
	if got := before["plain"]; got.Type != "string" || got.ExpireAt != -1 || got.Digest == "" {
		t.Errorf("plain = %v, want a string without TTL", got)
	}
	if got := before["hash"].Type; got != "hash" {
		t.Errorf("hash type = %q, want hash", got)
	}
	if at := before["ttl"].ExpireAt; at < time.Now().Add(59*time.Minute).UnixMilli() {
		t.Errorf("ttl expires at %d, want about an hour from now", at)
	}

	if d := Diff(before, before); !d.Empty() {
		t.Errorf("Diff of a snapshot with itself:\n%s", d)
	}

	mustDo(t, c, c.B().Set().Key("plain").Value("changed").Build())
	mustDo(t, c, c.B().Persist().Key("ttl").Build())
	mustDo(t, c, c.B().Del().Key("hash").Build())
	mustDo(t, c, c.B().Set().Key("new").Value("x").Build())
	after, err := Snapshot(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	d := Diff(before, after)
	if got, want := strings.Join(d.Added, ","), "new"; got != want {
		t.Errorf("added = %q, want %q", got, want)
	}
	if got, want := strings.Join(d.Removed, ","), "hash"; got != want {
		t.Errorf("removed = %q, want %q", got, want)
	}
	if got, want := strings.Join(d.Changed, ","), "plain,ttl"; got != want {
		t.Errorf("changed = %q, want %q\n%s", got, want, d)
	}
}

// Reading a snapshot must not reset idle times: jobs select keys by them.
func TestSnapshot_KeepsIdleTimes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := Start(t, Options{})
	c := srv.Client(t)
	mustDo(t, c, c.B().Set().Key("k").Value("v").Build())
	// The LRU clock counts whole seconds: let the key age two, so that a
	// reset reads 0 or 1 however the clock ticks between the calls below.
	waitIdle(t, ctx, c, "k", 2)

	if _, err := Snapshot(ctx, c); err != nil {
		t.Fatal(err)
	}
	idle, err := IdleTimes(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if idle["k"] < 2 {
		t.Errorf("idle time after Snapshot = %d, want >= 2 (Snapshot touched the key)", idle["k"])
	}
	// The control: a GET does reset it.
	mustDo(t, c, c.B().Get().Key("k").Build())
	if idle, _ = IdleTimes(ctx, c); idle["k"] > 1 {
		t.Errorf("idle time after GET = %d, want 0 or 1", idle["k"])
	}
}

func TestServer_RestartAOF(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := Start(t, Options{AOF: true})
	c := srv.Client(t)
	mustDo(t, c, c.B().Set().Key("survivor").Value("yes").Build())
	oldAddr := srv.Addr

	if err := srv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("address %s -> %s", oldAddr, srv.Addr)
	c = srv.Client(t)
	got, err := c.Do(ctx, c.B().Get().Key("survivor").Build()).ToString()
	if err != nil || got != "yes" {
		t.Fatalf("GET survivor after restart = %q, %v; want yes", got, err)
	}
}

func TestServer_KillRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := Start(t, Options{AOF: true})
	c := srv.Client(t)
	mustDo(t, c, c.B().Set().Key("k").Value("v").Build())
	// appendfsync everysec: the write reaches the file within a second.
	waitFor(t, ctx, func() bool {
		out, err := srv.Exec(ctx, "sh", "-c", "cat /data/appendonlydir/*.incr.aof")
		return err == nil && strings.Contains(out, "\r\nk\r\n")
	})

	if err := srv.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	if err := srv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	c = srv.Client(t)
	if got, err := c.Do(ctx, c.B().Get().Key("k").Build()).ToString(); err != nil || got != "v" {
		t.Fatalf("GET k after kill and restart = %q, %v; want v", got, err)
	}
}

func TestServer_PauseUnpause(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := Start(t, Options{})
	c := srv.Client(t)

	if err := srv.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	err := c.Do(short, c.B().Ping().Build()).Error()
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("PING to a paused server: %v, want a deadline error", err)
	}

	if err := srv.Unpause(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Do(ctx, c.B().Ping().Build()).Error(); err != nil {
		t.Errorf("PING after unpause: %v", err)
	}
}

func TestServer_ExecTmpfs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := Start(t, Options{Tmpfs: "16m", MaxMemory: "32mb", Policy: "allkeys-lru"})

	out, err := srv.Exec(ctx, "df", "-B1", "/data")
	if err != nil {
		t.Fatal(err)
	}
	// Filesystem 1-blocks Used Available Use% Mounted on
	lines := strings.Split(strings.TrimSpace(out), "\n")
	fields := strings.Fields(lines[len(lines)-1])
	if len(fields) < 2 || fields[0] != "tmpfs" || fields[1] != strconv.Itoa(16<<20) {
		t.Errorf("df /data:\n%s\nwant a 16 MiB tmpfs", out)
	}

	c := srv.Client(t)
	cfg, err := c.Do(ctx, c.B().ConfigGet().Parameter("maxmemory", "maxmemory-policy", "save", "appendonly").Build()).AsStrMap()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"maxmemory": strconv.Itoa(32 << 20), "maxmemory-policy": "allkeys-lru", "save": "", "appendonly": "no"}
	for k, v := range want {
		if cfg[k] != v {
			t.Errorf("CONFIG GET %s = %q, want %q", k, cfg[k], v)
		}
	}

	if _, err := srv.Exec(ctx, "false"); err == nil {
		t.Error("Exec of a failing command returned no error")
	}
}

func TestStartReplica(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	primary := Start(t, Options{})
	replica := StartReplica(t, primary)

	pc, rc := primary.Client(t), replica.Client(t)
	mustDo(t, pc, pc.B().Set().Key("replicated").Value("yes").Build())
	waitFor(t, ctx, func() bool {
		got, _ := rc.Do(ctx, rc.B().Get().Key("replicated").Build()).ToString()
		return got == "yes"
	})

	// The replica finds the primary by name, so a primary restart (new IP,
	// new published port) does not lose it.
	if err := primary.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	pc = primary.Client(t)
	mustDo(t, pc, pc.B().Set().Key("after-restart").Value("yes").Build())
	waitFor(t, ctx, func() bool {
		got, _ := rc.Do(ctx, rc.B().Get().Key("after-restart").Build()).ToString()
		return got == "yes"
	})

	ps, err := Snapshot(ctx, pc)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := Snapshot(ctx, rc)
	if err != nil {
		t.Fatal(err)
	}
	if d := Diff(ps, rs); !d.Empty() {
		t.Errorf("replica differs from primary:\n%s", d)
	}
}

func mustDo(t *testing.T, c rueidis.Client, cmd rueidis.Completed) {
	t.Helper()
	if err := c.Do(context.Background(), cmd).Error(); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond for up to 10 seconds.
func waitFor(t *testing.T, ctx context.Context, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatal("condition not met within 10s")
		case <-tick.C:
		}
	}
}

func waitIdle(t *testing.T, ctx context.Context, c rueidis.Client, key string, secs int64) {
	t.Helper()
	waitFor(t, ctx, func() bool {
		idle, err := IdleTimes(ctx, c)
		return err == nil && idle[key] >= secs
	})
}
