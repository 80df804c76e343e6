package apply

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/keyjob/keyjob/examples"
	"github.com/keyjob/keyjob/internal/checkpoint"
	"github.com/keyjob/keyjob/internal/redistest"
	"github.com/keyjob/keyjob/internal/redisx"
	"github.com/keyjob/keyjob/jobs"
)

// ticketJob is examples/ticket-ttl-backfill.yaml with a small SCAN COUNT,
// so that a few hundred keys make several batches. limits stays the last
// block, so a test may append to it.
var ticketJob = examples.MustJob("ticket-ttl-backfill.yaml", "limits:\n  rate: unlimited\n  scan_count: 50\n")

// dealJob is examples/drop-deal-clicks.yaml, with a small SCAN COUNT.
var dealJob = examples.MustJob("drop-deal-clicks.yaml",
	"guards:\n  aof:\n    max_growth: 1MiB\n", "limits:\n  rate: unlimited\n  scan_count: 50\n")

const year = 365 * 24 * time.Hour

// startRedis starts a fresh server and returns it with a client.
func startRedis(t *testing.T, o redistest.Options) (*redistest.Server, rueidis.Client) {
	t.Helper()
	srv := redistest.Start(t, o)
	return srv, srv.Client(t)
}

// dial connects keyjob's way to url.
func dial(t *testing.T, url string) *redisx.Conn {
	t.Helper()
	conn, err := redisx.Dial(context.Background(), redisx.Options{URL: url})
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(conn.Close)
	return conn
}

// loadJob writes text to a job file in a temp dir and loads it.
func loadJob(t *testing.T, text string) *jobs.Job {
	t.Helper()
	path := filepath.Join(t.TempDir(), "job.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	j, err := jobs.Load(path)
	if err != nil {
		t.Fatalf("job file: %v", err)
	}
	return j
}

// runJob prepares and executes a run to its end.
func runJob(t *testing.T, conn *redisx.Conn, job *jobs.Job, o Options) (*Report, error) {
	t.Helper()
	ctx := context.Background()
	r, err := Prepare(ctx, conn, job, o)
	if err != nil {
		return nil, err
	}
	return r.Execute(ctx, Exec{})
}

// mustRun is runJob that fails the test on an error.
func mustRun(t *testing.T, conn *redisx.Conn, job *jobs.Job, o Options) *Report {
	t.Helper()
	rep, err := runJob(t, conn, job, o)
	if err != nil {
		t.Fatalf("run %s: %v", job.Name, err)
	}
	return rep
}

func snapshot(t *testing.T, c rueidis.Client) map[string]redistest.KeyState {
	t.Helper()
	s, err := redistest.Snapshot(context.Background(), c)
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	return s
}

// assertSame fails when two snapshots differ.
func assertSame(t *testing.T, what string, want, got map[string]redistest.KeyState) {
	t.Helper()
	if d := redistest.Diff(want, got); !d.Empty() {
		t.Fatalf("%s: the keyspace differs from the expected one (%d added, %d removed, %d changed):\n%s",
			what, len(d.Added), len(d.Removed), len(d.Changed), head(d.String(), 40))
	}
}

func head(s string, lines int) string {
	l := strings.SplitAfter(s, "\n")
	if len(l) <= lines {
		return s
	}
	return strings.Join(l[:lines], "") + "…\n"
}

func loadCheckpoint(t *testing.T, stateDir, job string) *checkpoint.Checkpoint {
	t.Helper()
	cp, err := checkpoint.Load(checkpoint.Path(stateDir, job))
	if err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	return cp
}

func do(t *testing.T, c rueidis.Client, cmds ...rueidis.Completed) {
	t.Helper()
	for i, r := range c.DoMulti(context.Background(), cmds...) {
		if err := r.Error(); err != nil {
			t.Fatalf("%v: %v", cmds[i].Commands(), err)
		}
	}
}

func serverNowMs(t *testing.T, c rueidis.Client) int64 {
	t.Helper()
	now, err := redisx.ServerTime(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return now.UnixMilli()
}

// ticketSet is a deterministic ticket keyspace and the other keys around
// it, with what the ticket job must do to each key.
type ticketSet struct {
	future  []string // no TTL, expiry (issued + 365d) still ahead
	expired []string // no TTL, expiry passed: the grace TTL
	withTTL []string // a TTL already: left alone
	skipped []string // regex mismatch or bad timestamp: left alone
	other   []string // other namespaces and types: left alone
}

// seedTickets writes n tickets (about a fifth expired, a tenth with a TTL)
// plus keys the job must not touch. Issue times stay at least a day away
// from their expiry's boundary, so whether a ticket is expired does not
// depend on how long the test takes.
func seedTickets(t *testing.T, c rueidis.Client, n int) ticketSet {
	t.Helper()
	now := time.Now().Unix()
	var s ticketSet
	var cmds rueidis.Commands
	for i := range n {
		var issued int64
		switch {
		case i%5 == 0: // 2 to 300 days past its year
			issued = now - int64(year/time.Second) - int64(2+i%298)*86400 - int64(i)
		default: // 1 to 300 days left
			issued = now - int64(year/time.Second) + int64(1+i%300)*86400 + int64(i)
		}
		key := "ticket:" + strconv.FormatInt(issued, 10) + ":" + strconv.Itoa(1+i%97) + ":T" + strconv.Itoa(i)
		cmd := c.B().Set().Key(key).Value("ticket-value-" + strconv.Itoa(i))
		switch {
		case i%10 == 3:
			cmds = append(cmds, cmd.ExSeconds(int64(3600+i)).Build())
			s.withTTL = append(s.withTTL, key)
		case i%5 == 0:
			cmds = append(cmds, cmd.Build())
			s.expired = append(s.expired, key)
		default:
			cmds = append(cmds, cmd.Build())
			s.future = append(s.future, key)
		}
	}
	for _, k := range []string{"ticket:garbage", "ticket:123456789012:1:abc", "ticket:9999999999:1:far", "ticket:9999999998:2:far", "ticket:1700000000:1:bad-token"} {
		cmds = append(cmds, c.B().Set().Key(k).Value("x").Build())
		s.skipped = append(s.skipped, k)
	}
	for i := range n / 10 {
		k := "ticket:" + strconv.FormatInt(now-86400*10, 10) + ":1:H" + strconv.Itoa(i) // a hash: SCAN TYPE string leaves it out
		cmds = append(cmds, c.B().Hset().Key(k).FieldValue().FieldValue("f", "v").Build())
		s.other = append(s.other, k)
	}
	for i := range n / 5 {
		k := "session:" + strconv.Itoa(i)
		cmd := c.B().Set().Key(k).Value("s")
		if i%2 == 0 {
			cmds = append(cmds, cmd.ExSeconds(int64(600+i*60)).Build())
		} else {
			cmds = append(cmds, cmd.Build())
		}
		s.other = append(s.other, k)
	}
	cmds = append(cmds, c.B().Set().Key("tickets").Value("not a ticket").Build(), c.B().Rpush().Key("ticket:list").Element("a").Build())
	s.other = append(s.other, "tickets", "ticket:list")
	do(t, c, cmds...)
	return s
}

// selected are the tickets the job changes.
func (s ticketSet) selected() []string {
	return append(append([]string(nil), s.future...), s.expired...)
}

// issuedOf reads the issue time out of a ticket's name.
func issuedOf(t *testing.T, key string) time.Time {
	t.Helper()
	parts := strings.Split(key, ":")
	sec, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	return time.Unix(sec, 0)
}

// expectTickets is what the ticket job must do: every ticket without a
// TTL gets issued + 365d, or runStart + 1h when that is past.
func expectTickets(t *testing.T, s ticketSet, runStartMs int64) map[string]int64 {
	t.Helper()
	want := map[string]int64{}
	for _, k := range s.future {
		want[k] = issuedOf(t, k).Add(year).UnixMilli()
	}
	for _, k := range s.expired {
		want[k] = runStartMs + time.Hour.Milliseconds()
	}
	return want
}

// values reads the DUMP payload of keys: the value alone, without the
// expiry (DEBUG DIGEST-VALUE, which snapshots hold, also changes when a
// key gains or loses a TTL).
func values(t *testing.T, c rueidis.Client, keys []string) map[string]string {
	t.Helper()
	out := make(map[string]string, len(keys))
	cmds := make(rueidis.Commands, len(keys))
	for i, k := range keys {
		cmds[i] = c.B().Dump().Key(k).Build()
	}
	for i, r := range c.DoMulti(context.Background(), cmds...) {
		v, err := r.ToString()
		if err != nil && !rueidis.IsRedisNil(err) {
			t.Fatalf("DUMP %s: %v", keys[i], err)
		}
		out[keys[i]] = v
	}
	return out
}

// assertChanges fails unless after is before with exactly the expiries of
// changes (key → PEXPIRETIME, or -2 for deleted) applied: every other key
// the same type, value and expiry, and the changed keys' values as they
// were.
func assertChanges(t *testing.T, what string, c rueidis.Client, before, after map[string]redistest.KeyState, beforeValues map[string]string, changes map[string]int64) {
	t.Helper()
	want := make(map[string]redistest.KeyState, len(before))
	for k, v := range before {
		want[k] = v
	}
	var keys []string
	for k, at := range changes {
		st, ok := want[k]
		if !ok {
			t.Fatalf("%s: %s is expected to change but was not there before", what, k)
		}
		if at == -2 {
			delete(want, k)
			continue
		}
		st.ExpireAt = at
		if a, ok := after[k]; ok && (before[k].ExpireAt == -1) != (at == -1) {
			st.Digest = a.Digest // checked below, with the value alone
		}
		want[k] = st
		keys = append(keys, k)
	}
	assertSame(t, what, want, after)
	now := values(t, c, keys)
	for _, k := range keys {
		if now[k] != beforeValues[k] {
			t.Fatalf("%s: the value of %s changed", what, k)
		}
	}
}

// logBuffer is a slog logger whose lines a test can read.
type logBuffer struct{ redistest.Buffer }

func (b *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(b, nil)) }

// setHook installs testHookBeforeSend for the test.
func setHook(t *testing.T, fn func(keys []string)) {
	t.Helper()
	testHookBeforeSend = fn
	t.Cleanup(func() { testHookBeforeSend = nil })
}

// proxy is a TCP forwarder with a stable address in front of a server
// whose address changes when its container restarts, so that a run sees
// the same target (host:port) before and after the restart.
type proxy struct {
	ln      net.Listener
	mu      sync.Mutex
	backend string
	conns   map[net.Conn]struct{}
}

func newProxy(t *testing.T, backend string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, backend: backend, conns: map[net.Conn]struct{}{}}
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.closeAll() })
	return p
}

func (p *proxy) URL() string { return "redis://" + p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		backend := p.backend
		p.mu.Unlock()
		b, err := net.DialTimeout("tcp", backend, 2*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		p.track(c, b)
		go p.pipe(c, b)
		go p.pipe(b, c)
	}
}

func (p *proxy) track(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
}

func (p *proxy) pipe(dst, src net.Conn) {
	io.Copy(dst, src)
	dst.Close()
	src.Close()
}

// switchTo points new connections at backend and cuts the old ones.
func (p *proxy) switchTo(backend string) {
	p.mu.Lock()
	p.backend = backend
	p.mu.Unlock()
	p.closeAll()
}

func (p *proxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}
