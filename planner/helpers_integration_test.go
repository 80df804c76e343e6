package planner_test

// Helpers of the planner's tests against real Redis (the *_integration_test.go
// files): servers, job files, hand-made keyspaces whose every key carries the
// outcome the test expects of it, and the checks that compare a plan with
// those expectations.

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/keyjob/keyjob/internal/redistest"
	"github.com/keyjob/keyjob/internal/redisx"
	"github.com/keyjob/keyjob/jobs"
	"github.com/keyjob/keyjob/planner"
)

// Outcome labels a seeded key expects. They are the plan's sample labels:
// a change that gets the grace TTL is "change_grace"; notScanned is a key
// SCAN MATCH/TYPE filters out (it counts in dbsize only).
const (
	wantChange      = "change"
	wantGrace       = "change_grace"
	wantRegex       = "regex"
	wantTTL         = "ttl"
	wantIdle        = "idle"
	wantBadTime     = "bad_timestamp"
	wantTooBig      = "too_big_to_backup"
	notScanned      = ""
	day             = 24 * time.Hour
	examplesDir     = "../examples"
	testCtxDeadline = 2 * time.Minute
)

// seedKey is one key to write and what the test expects the plan to do
// with it.
type seedKey struct {
	Name string
	Type string        // "string" (default) or "hash"
	TTL  time.Duration // 0: no TTL
	Size int           // value bytes; 0: a short value
	Idle int64         // seconds of OBJECT IDLETIME to give it (RESTORE IDLETIME); 0: fresh
	Want string        // the expected outcome label
	// NewExpire is the expected new expiry of a change that does not get
	// grace; zero when the test does not pin it.
	NewExpire time.Time
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testCtxDeadline)
	t.Cleanup(cancel)
	return ctx
}

// startServer starts a fresh server and returns it with a client.
func startServer(t *testing.T, opts redistest.Options) (*redistest.Server, rueidis.Client) {
	t.Helper()
	srv := redistest.Start(t, opts)
	return srv, srv.Client(t)
}

// dial connects keyjob's way (redisx.Dial) to url, for planner.Build.
func dial(t *testing.T, url string, db *int) *redisx.Conn {
	t.Helper()
	conn, err := redisx.Dial(testContext(t), redisx.Options{URL: url, DB: db})
	if err != nil {
		t.Fatalf("dial %s: %v", redisx.Redact(url), err)
	}
	t.Cleanup(conn.Close)
	return conn
}

// redisClientDB is a client of srv's database db, for seeding it.
func redisClientDB(t *testing.T, srv *redistest.Server, db int) rueidis.Client {
	t.Helper()
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr}, SelectDB: db, DisableCache: true})
	if err != nil {
		t.Fatalf("connect %s/%d: %v", srv.Addr, db, err)
	}
	t.Cleanup(c.Close)
	return c
}

// parseJob parses a job file written in the test.
func parseJob(t *testing.T, name, yaml string) *jobs.Job {
	t.Helper()
	j, err := jobs.Parse(name, []byte(strings.TrimLeft(yaml, "\n")))
	if err != nil {
		t.Fatalf("job %s does not parse:\n%v", name, err)
	}
	return j
}

// loadExample loads examples/NAME.
func loadExample(t *testing.T, name string) *jobs.Job {
	t.Helper()
	j, err := jobs.Load(filepath.Join(examplesDir, name))
	if err != nil {
		t.Fatalf("examples/%s: %v", name, err)
	}
	return j
}

// build makes the plan and fails the test when it cannot be made.
func build(t *testing.T, conn *redisx.Conn, job *jobs.Job, o planner.Options) *planner.Plan {
	t.Helper()
	p, err := planner.Build(testContext(t), conn, job, o)
	if err != nil {
		t.Fatalf("planner.Build(%s): %v", job.Name, err)
	}
	return p
}

// load writes keys (pipelined), then gives the keys with an Idle their idle
// time: DUMP and RESTORE ... REPLACE IDLETIME, keeping their TTL.
func load(t *testing.T, c rueidis.Client, keys []seedKey) {
	t.Helper()
	ctx := testContext(t)
	cmds := make(rueidis.Commands, 0, len(keys))
	for _, k := range keys {
		value := "v"
		if k.Size > 0 {
			value = strings.Repeat("x", k.Size)
		}
		switch k.Type {
		case "", "string":
			if k.TTL > 0 {
				cmds = append(cmds, c.B().Set().Key(k.Name).Value(value).Px(k.TTL).Build())
			} else {
				cmds = append(cmds, c.B().Set().Key(k.Name).Value(value).Build())
			}
		case "hash":
			cmds = append(cmds, c.B().Hset().Key(k.Name).FieldValue().FieldValue("f", value).Build())
			if k.TTL > 0 {
				cmds = append(cmds, c.B().Pexpire().Key(k.Name).Milliseconds(k.TTL.Milliseconds()).Build())
			}
		default:
			t.Fatalf("seed %s: type %q not supported by load", k.Name, k.Type)
		}
	}
	doAll(t, ctx, c, cmds)

	var idle []seedKey
	for _, k := range keys {
		if k.Idle > 0 {
			idle = append(idle, k)
		}
	}
	if len(idle) == 0 {
		return
	}
	cmds = cmds[:0]
	for _, k := range idle {
		cmds = append(cmds, c.B().Dump().Key(k.Name).Build())
	}
	payloads := c.DoMulti(ctx, cmds...)
	cmds = make(rueidis.Commands, 0, len(idle))
	for i, k := range idle {
		p, err := payloads[i].ToString()
		if err != nil {
			t.Fatalf("DUMP %s: %v", k.Name, err)
		}
		cmds = append(cmds, c.B().Restore().Key(k.Name).Ttl(k.TTL.Milliseconds()).SerializedValue(p).Replace().Idletime(k.Idle).Build())
	}
	doAll(t, ctx, c, cmds)
}

func doAll(t *testing.T, ctx context.Context, c rueidis.Client, cmds rueidis.Commands) {
	t.Helper()
	for i, r := range c.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			t.Fatalf("seed: %v: %v", cmds[i].Commands(), err)
		}
	}
}

// counts tallies the expected outcome labels of keys.
func counts(keys []seedKey) map[string]int64 {
	m := map[string]int64{}
	for _, k := range keys {
		m[k.Want]++
	}
	return m
}

// checkOutcomes compares every bucket of p with the expectations of keys:
// change (and its grace part), each skip bucket, scanned = their sum, and
// dbsize = every key written (plus extra keys the caller wrote).
func checkOutcomes(t *testing.T, p *planner.Plan, keys []seedKey, extraDBKeys int64) {
	t.Helper()
	want := counts(keys)
	if got, want := p.Outcomes.Change, want[wantChange]+want[wantGrace]; got != want {
		t.Errorf("outcomes.change = %d, want %d", got, want)
	}
	if got, want := p.Outcomes.ChangeGrace, want[wantGrace]; got != want {
		t.Errorf("outcomes.change_grace = %d, want %d", got, want)
	}
	for _, b := range planner.SkipOrder {
		if got, want := p.Outcomes.Skip[b], want[b]; got != want {
			t.Errorf("outcomes.skip.%s = %d, want %d", b, got, want)
		}
	}
	for b := range p.Outcomes.Skip {
		if !slices.Contains(planner.SkipOrder, b) {
			t.Errorf("outcomes.skip has an unknown bucket %q", b)
		}
	}
	var scanned int64
	for label, n := range want {
		if label != notScanned {
			scanned += n
		}
	}
	if got := p.Scanned; got != scanned {
		t.Errorf("scanned = %d, want %d", got, scanned)
	}
	sum := p.Outcomes.Change
	for _, n := range p.Outcomes.Skip {
		sum += n
	}
	if sum != p.Scanned {
		t.Errorf("change + skips = %d, but scanned = %d: the buckets must add up", sum, p.Scanned)
	}
	if got, want := p.DBSize, int64(len(keys))+extraDBKeys; got != want {
		t.Errorf("dbsize = %d, want %d", got, want)
	}
}

// checkSamples checks that every sample is a key of its outcome, that an
// outcome keeps min(count, SamplesPer) of them, and that a change sample
// shows the expiry the test expects.
func checkSamples(t *testing.T, p *planner.Plan, keys []seedKey) {
	t.Helper()
	byName := make(map[string]seedKey, len(keys))
	for _, k := range keys {
		byName[k.Name] = k
	}
	want := counts(keys)
	for _, label := range slices.Sorted(maps.Keys(p.Samples)) {
		samples := p.Samples[label]
		if len(samples) > planner.SamplesPer {
			t.Errorf("samples[%s] has %d keys, want at most %d", label, len(samples), planner.SamplesPer)
		}
		for _, s := range samples {
			k, ok := byName[s.Name]
			switch {
			case !ok:
				t.Errorf("samples[%s] holds %q, which the test never wrote", label, s.Name)
			case k.Want != label:
				t.Errorf("samples[%s] holds %q, whose outcome is %q", label, s.Name, k.Want)
			}
			checkSample(t, p, label, s, k)
		}
	}
	for label, n := range want {
		if label == notScanned {
			continue
		}
		if got, want := int64(len(p.Samples[label])), min(n, planner.SamplesPer); got != want {
			t.Errorf("samples[%s] has %d keys, want %d (of %d with that outcome)", label, got, want, n)
		}
	}
}

func checkSample(t *testing.T, p *planner.Plan, label string, s planner.Key, k seedKey) {
	t.Helper()
	switch label {
	case wantChange:
		if p.Job.Action != "expire" {
			if s.NewExpire != nil {
				t.Errorf("%s sample %s has a new expiry %v", p.Job.Action, s.Name, s.NewExpire)
			}
			break
		}
		if s.NewExpire == nil {
			t.Errorf("change sample %s has no new expiry", s.Name)
		} else if !k.NewExpire.IsZero() && !s.NewExpire.Equal(k.NewExpire) {
			t.Errorf("change sample %s expires at %v, want %v", s.Name, s.NewExpire.UTC(), k.NewExpire.UTC())
		}
		if s.Grace {
			t.Errorf("change sample %s is marked grace", s.Name)
		}
	case wantGrace:
		if !s.Grace || s.NewExpire == nil {
			t.Errorf("grace sample %s: grace %v, new expiry %v", s.Name, s.Grace, s.NewExpire)
		}
	case wantBadTime:
		if s.Why == "" {
			t.Errorf("bad_timestamp sample %s does not say why", s.Name)
		}
		if s.NewExpire != nil {
			t.Errorf("bad_timestamp sample %s has a new expiry %v", s.Name, s.NewExpire)
		}
	default:
		if s.NewExpire != nil {
			t.Errorf("%s sample %s has a new expiry %v", label, s.Name, s.NewExpire)
		}
	}
}

// errorCodes and warningCodes list a plan's message codes.
func errorCodes(p *planner.Plan) []string   { return codes(p.Errors) }
func warningCodes(p *planner.Plan) []string { return codes(p.Warnings) }

func codes(ms []planner.Message) []string {
	out := []string{}
	for _, m := range ms {
		out = append(out, m.Code)
	}
	return out
}

// token is a deterministic 8-character alphanumeric token for key i.
func token(prefix string, i int) string {
	s := prefix + strconv.Itoa(i)
	for len(s) < 8 {
		s += "Q"
	}
	return s
}

func ticketName(issued int64, customer int, tok string) string {
	return fmt.Sprintf("ticket:%d:%d:%s", issued, customer, tok)
}
