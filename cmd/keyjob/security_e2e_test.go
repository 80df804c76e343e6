package main_test

// TLS, ACL users and secrets end to end: the built binary, run as an
// operator runs it, against real servers that speak TLS only, that hold
// least-privilege ACL users, or that want a password which must never show
// (docs/safety.md, promise 5).

import (
	"context"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/keyjob/keyjob/examples"
	"github.com/keyjob/keyjob/internal/checkpoint"
	"github.com/keyjob/keyjob/internal/redistest"
	"github.com/keyjob/keyjob/internal/seed"
)

// The least-privilege users the README documents: plan reads, apply and
// undo also write, dump and restore, and run keyjob's scripts.
const (
	secE2EPlanRules  = "resetkeys ~* resetchannels -@all +scan +pttl +pexpiretime +object|idletime +object|freq +memory|usage +type +info +time +config|get +ping +client|setname +hello +select +cluster|myid +cluster|slots"
	secE2EApplyRules = secE2EPlanRules + " +pexpireat +unlink +persist +exists +dump +restore +evalsha +eval +script|load"
)

// secE2EApplyOnly are the commands the apply user has and the plan user
// has not.
var secE2EApplyOnly = []string{"pexpireat", "unlink", "persist", "exists", "dump", "restore", "evalsha", "eval", "script|load"}

// secE2ETTLJob gives every ticket without a TTL one; a small SCAN COUNT
// makes a few thousand keys many batches.
var secE2ETTLJob = ticketTTLJob("ticket-ttl", "  rate: unlimited\n  scan_count: 100\n")

// secE2EDumpJob is examples/drop-deal-clicks.yaml (it deletes the deal
// click hashes and keeps their DUMP payloads: the script path on apply,
// RESTORE on undo) with the default guards, looser ones being the
// operator's call.
var secE2EDumpJob = examples.MustJob("drop-deal-clicks.yaml", "guards: {}\n")

// secE2EShell runs the binary as an operator would, in one working
// folder, without a terminal, and keeps every run's output so a test can
// search all of it afterwards.
type secE2EShell struct {
	dir  string // working folder: the default state dir .keyjob lands here
	runs []*proc
}

func secE2ENewShell(t *testing.T) *secE2EShell {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "work")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return &secE2EShell{dir: dir}
}

// start starts the binary with args in the shell's working folder; env
// is added to the environment, from which $REDIS_URL is removed.
func (sh *secE2EShell) start(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	p := startIn(t, sh.dir, env, args...)
	sh.runs = append(sh.runs, p)
	return p
}

// run runs the binary to its end and checks its exit code.
func (sh *secE2EShell) run(t *testing.T, code int, env []string, args ...string) result {
	t.Helper()
	r := sh.start(t, env, args...).wait(t)
	wantExit(t, r, code)
	return r
}

// secE2EOneLineError checks the stderr of a failed run: its last line
// starts with "keyjob: " and holds each of want (any case), and there is
// no stack trace.
func secE2EOneLineError(t *testing.T, r result, want ...string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "keyjob: ") {
		t.Errorf("the last line of stderr does not start with \"keyjob: \"\n%s", r)
	}
	wantNoStackTrace(t, r)
	for _, w := range want {
		if !strings.Contains(strings.ToLower(last), strings.ToLower(w)) {
			t.Errorf("the error %q does not mention %q\n%s", last, w, r)
		}
	}
}

// secE2EClient connects to addr as user with password ("" for none).
func secE2EClient(t *testing.T, addr, user, password string) rueidis.Client {
	t.Helper()
	c, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress: []string{addr}, Username: user, Password: password, DisableCache: true,
	})
	if err != nil {
		t.Fatalf("connect %s as %q: %v", addr, user, err)
	}
	t.Cleanup(c.Close)
	return c
}

// secE2ENodeClient connects to one node only, also of a cluster.
func secE2ENodeClient(t *testing.T, addr string) rueidis.Client {
	t.Helper()
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true, ForceSingleClient: true})
	if err != nil {
		t.Fatalf("connect %s: %v", addr, err)
	}
	t.Cleanup(c.Close)
	return c
}

func secE2EDo(t *testing.T, c rueidis.Client, args ...string) {
	t.Helper()
	if err := c.Do(context.Background(), c.B().Arbitrary(args[0]).Args(args[1:]...).Build()).Error(); err != nil {
		t.Fatalf("%s: %v", args[0], err)
	}
}

// secE2EACLUser creates (or resets) an ACL user with a password and rules.
func secE2EACLUser(t *testing.T, c rueidis.Client, name, password, rules string) {
	t.Helper()
	secE2EDo(t, c, append([]string{"ACL", "SETUSER", name, "reset", "on", ">" + password}, strings.Fields(rules)...)...)
}

// secE2EACLLog returns the server's ACL denials, "user reason object"
// each, and clears them.
func secE2EACLLog(t *testing.T, c rueidis.Client) []string {
	t.Helper()
	ctx := context.Background()
	entries, err := c.Do(ctx, c.B().AclLog().Count(1000).Build()).ToArray()
	if err != nil {
		t.Fatalf("ACL LOG: %v", err)
	}
	var out []string
	for _, e := range entries {
		m, err := e.AsMap()
		if err != nil {
			t.Fatalf("ACL LOG entry: %v", err)
		}
		field := func(name string) string {
			v := m[name]
			s, _ := v.ToString()
			return s
		}
		out = append(out, field("username")+" "+field("reason")+" "+field("object"))
	}
	secE2EDo(t, c, "ACL", "LOG", "RESET")
	return out
}

// secE2ESeed loads tickets (some with a TTL), deal click hashes and
// sessions, and returns the number of tickets without a TTL: the TTL
// job's changes.
func secE2ESeed(t *testing.T, c rueidis.Client, tickets, clicks int) int {
	t.Helper()
	ctx := context.Background()
	st, err := seed.Tickets(ctx, c, seed.TicketSpec{Count: tickets, Span: 300 * 24 * time.Hour, WithTTLShare: 0.1, Seed: 23})
	if err != nil {
		t.Fatal(err)
	}
	if err := seed.DealClicks(ctx, c, clicks); err != nil {
		t.Fatal(err)
	}
	if err := seed.Sessions(ctx, c, tickets/10); err != nil {
		t.Fatal(err)
	}
	return st.WithoutTTL
}

// secE2EExpectTTLJob checks that the TTL job gave a TTL to exactly the
// tickets that had none, and changed nothing else.
func secE2EExpectTTLJob(t *testing.T, before, after map[string]redistest.KeyState, changes int) {
	t.Helper()
	d := redistest.Diff(before, after)
	if len(d.Added)+len(d.Removed) != 0 || len(d.Changed) != changes {
		t.Fatalf("the TTL job added %d, removed %d and changed %d keys; want %d changed", len(d.Added), len(d.Removed), len(d.Changed), changes)
	}
	for _, k := range d.Changed {
		if !strings.HasPrefix(k, "ticket:") || before[k].ExpireAt != -1 || after[k].ExpireAt <= 0 {
			t.Fatalf("%s: %v -> %v: not a ticket that got a TTL", k, before[k], after[k])
		}
	}
}

// secE2EExpectDeleted checks that exactly the deal click hashes are gone.
func secE2EExpectDeleted(t *testing.T, before, after map[string]redistest.KeyState, clicks int) {
	t.Helper()
	d := redistest.Diff(before, after)
	if len(d.Added)+len(d.Changed) != 0 || len(d.Removed) != clicks {
		t.Fatalf("the delete job added %d, changed %d and removed %d keys; want %d removed", len(d.Added), len(d.Changed), len(d.Removed), clicks)
	}
	for _, k := range d.Removed {
		if !strings.HasPrefix(k, "deal:clicks:") {
			t.Fatalf("%s was deleted: not selected", k)
		}
	}
}

// secE2EPlanJSON is what the tests read of plan --format json.
type secE2EPlanJSON struct {
	Scanned  int64 `json:"scanned"`
	Outcomes struct {
		Change int64 `json:"change"`
	} `json:"outcomes"`
	Target struct {
		Address string `json:"address"`
	} `json:"target"`
}

func secE2EDecodePlan(t *testing.T, r result) secE2EPlanJSON {
	t.Helper()
	var plan secE2EPlanJSON
	stdoutJSON(t, r, &plan)
	return plan
}

// TestSecE2E_TLS: plan, apply and undo over rediss:// against a server
// that speaks TLS only.
func TestSecE2E_TLS(t *testing.T) {
	t.Parallel()
	srv, files := redistest.StartTLS(t, redistest.Options{})
	c := srv.TLSClient(t, files)
	changes := secE2ESeed(t, c, 400, 50)
	before := snapshot(t, c)
	sh := secE2ENewShell(t)
	job := writeJob(t, sh.dir, "ticket-ttl.yaml", secE2ETTLJob)
	plan := func(t *testing.T, code int, more ...string) result {
		t.Helper()
		return sh.run(t, code, nil, append([]string{"plan", "--redis", srv.URL, "--format", "json", job}, more...)...)
	}

	t.Run("CA", func(t *testing.T) {
		r := plan(t, 0, "--tls-ca", files.CA)
		if got := secE2EDecodePlan(t, r); got.Outcomes.Change != int64(changes) || got.Target.Address != srv.Addr {
			t.Errorf("plan over TLS: change %d on %s, want %d on %s", got.Outcomes.Change, got.Target.Address, changes, srv.Addr)
		}
	})
	t.Run("NoCA", func(t *testing.T) {
		r := plan(t, 1)
		secE2EOneLineError(t, r, srv.Addr, "--tls-ca")
	})
	t.Run("InsecureSkipVerify", func(t *testing.T) {
		r := plan(t, 0, "--tls-insecure-skip-verify")
		if got := secE2EDecodePlan(t, r); got.Outcomes.Change != int64(changes) {
			t.Errorf("plan over TLS without verification: change %d, want %d", got.Outcomes.Change, changes)
		}
	})
	t.Run("PlainURL", func(t *testing.T) {
		// redis:// to a port that speaks TLS: the server hangs up.
		r := sh.run(t, 1, nil, "plan", "--redis", "redis://"+srv.Addr, "--format", "json", job)
		secE2EOneLineError(t, r, srv.Addr, "rediss://")
	})
	t.Run("PlainServer", func(t *testing.T) {
		// rediss:// to a server without TLS: it waits for the rest of a
		// command and the handshake times out.
		plain := redistest.Start(t, redistest.Options{})
		r := sh.run(t, 1, nil, "plan", "--redis", "rediss://"+plain.Addr, "--tls-ca", files.CA, "--format", "json", job)
		secE2EOneLineError(t, r, plain.Addr, "redis://")
	})
	t.Run("CertWithoutKey", func(t *testing.T) {
		r := plan(t, 4, "--tls-ca", files.CA, "--tls-cert", files.ClientCert)
		secE2EOneLineError(t, r, "--tls-key")
	})
	t.Run("ClientCertRequired", func(t *testing.T) {
		strict, sfiles := redistest.StartTLS(t, redistest.Options{Args: []string{"--tls-auth-clients", "yes"}})
		secE2ESeed(t, strict.TLSClient(t, sfiles), 100, 10)
		args := []string{"plan", "--redis", strict.URL, "--format", "json", "--tls-ca", sfiles.CA, job}
		r := sh.run(t, 0, nil, append(args, "--tls-cert", sfiles.ClientCert, "--tls-key", sfiles.ClientKey)...)
		if got := secE2EDecodePlan(t, r); got.Scanned == 0 {
			t.Errorf("plan with a client certificate scanned nothing\n%s", r)
		}
		r = sh.run(t, 1, nil, args...)
		secE2EOneLineError(t, r, strict.Addr, "--tls-cert")
	})
	t.Run("ApplyUndo", func(t *testing.T) {
		state := filepath.Join(sh.dir, "state")
		tls := []string{"--redis", srv.URL, "--tls-ca", files.CA, "--state-dir", state, "--progress", "none", "--yes"}
		sh.run(t, 0, nil, append(append([]string{"apply"}, tls...), job)...)
		secE2EExpectTTLJob(t, before, snapshot(t, c), changes)
		cp := readCheckpoint(t, state, "ticket-ttl")
		if !cp.Completed || cp.Changes != int64(changes) {
			t.Errorf("checkpoint: completed %v, changes %d; want true, %d", cp.Completed, cp.Changes, changes)
		}
		sh.run(t, 0, nil, append(append([]string{"undo"}, tls...), cp.Journal)...)
		wantSame(t, "after undo over TLS", before, snapshot(t, c))
	})
}

// TestSecE2E_ACL: the least-privilege users the README documents are
// enough for what each command does, on a standalone server and on a
// cluster, and a user without write rights cannot apply. ACL LOG must stay
// empty where a command succeeds: a denied command that keyjob swallowed
// (a guard gone blind, an ignored handshake step) would show there.
func TestSecE2E_ACL(t *testing.T) {
	t.Parallel()
	t.Run("Standalone", func(t *testing.T) {
		t.Parallel()
		srv := redistest.Start(t, redistest.Options{})
		secE2EACLScenario(t, srv.Addr, srv.Client(t), []rueidis.Client{srv.Client(t)})
	})
	t.Run("Cluster", func(t *testing.T) {
		t.Parallel()
		// No replicas: apply asks a random node of a cluster for its role
		// and refuses when a replica answers (a bug of its own).
		cl := redistest.StartCluster(t, 3, 0)
		// ACL users are per node: a cluster does not propagate them.
		var nodes []rueidis.Client
		for _, addr := range cl.Addrs {
			nodes = append(nodes, secE2ENodeClient(t, addr))
		}
		secE2EACLScenario(t, cl.Addrs[0], cl.Client(t), nodes)
	})
}

// secE2EACLScenario creates the plan and apply users on every node and
// runs plan, apply and undo as each of them against addr. c reads and
// seeds the whole target.
func secE2EACLScenario(t *testing.T, addr string, c rueidis.Client, nodes []rueidis.Client) {
	const planPW, applyPW = "plan-Pw-41", "apply-Pw-42"
	changes := secE2ESeed(t, c, 600, 80)
	for _, n := range nodes {
		secE2EACLUser(t, n, "keyjob-plan", planPW, secE2EPlanRules)
		secE2EACLUser(t, n, "keyjob-apply", applyPW, secE2EApplyRules)
	}
	denials := func() []string {
		var out []string
		for _, n := range nodes {
			out = append(out, secE2EACLLog(t, n)...)
		}
		return out
	}
	denials()
	before := snapshot(t, c)
	sh := secE2ENewShell(t)
	ttlJob := writeJob(t, sh.dir, "ticket-ttl.yaml", secE2ETTLJob)
	dumpJob := writeJob(t, sh.dir, "drop-deal-clicks.yaml", secE2EDumpJob)
	planURL := "redis://keyjob-plan:" + planPW + "@" + addr
	applyURL := "redis://keyjob-apply:" + applyPW + "@" + addr
	run := func(url, state string, args ...string) []string {
		return append([]string{args[0], "--redis", url, "--state-dir", state, "--progress", "none", "--yes"}, args[1:]...)
	}

	t.Run("Plan", func(t *testing.T) {
		denials()
		for _, job := range []string{ttlJob, dumpJob} {
			r := sh.run(t, 0, nil, "plan", "--redis", planURL, "--format", "json", job)
			want := secE2EDecodePlan(t, sh.run(t, 0, nil, "plan", "--redis", "redis://"+addr, "--format", "json", job))
			if got := secE2EDecodePlan(t, r); got.Scanned != want.Scanned || got.Outcomes.Change != want.Outcomes.Change {
				t.Errorf("%s as keyjob-plan: scanned %d, change %d; as default: %d, %d", filepath.Base(job), got.Scanned, got.Outcomes.Change, want.Scanned, want.Outcomes.Change)
			}
		}
		if len(nodes) == 1 {
			// Another database: the client sends SELECT.
			sh.run(t, 0, nil, "plan", "--redis", planURL+"/1", "--format", "json", ttlJob)
		}
		if denied := denials(); len(denied) > 0 {
			t.Errorf("plan as keyjob-plan was denied: %q", denied)
		}
		wantSame(t, "after plan", before, snapshot(t, c))
	})
	t.Run("ApplyAsPlanUser", func(t *testing.T) {
		denials()
		for _, tt := range []struct{ job, name, command string }{
			{ttlJob, "ticket-ttl", "pexpireat"},
			{dumpJob, "drop-deal-clicks", "script|load"},
		} {
			state := filepath.Join(t.TempDir(), "state")
			// A refused write is an error, not a node that is away: the
			// timeout only bounds the test if apply took it for one.
			r := sh.start(t, nil, run(planURL, state, "apply", "--node-down-timeout", "5s", tt.job)...).wait(t)
			if r.code != 1 {
				t.Errorf("%s: exit %d, want 1\n%s", tt.name, r.code, r)
			}
			secE2EOneLineError(t, r, tt.command)
			if msg := strings.ToLower(r.stderr); !strings.Contains(msg, "noperm") && !strings.Contains(msg, "permission") {
				t.Errorf("the error does not say it is a permission\n%s", r)
			}
			wantSame(t, "after apply as keyjob-plan", before, snapshot(t, c))
			// Only the writes were refused: everything apply reads before
			// its first change was allowed.
			for _, d := range denials() {
				f := strings.Fields(d)
				if len(f) != 3 || f[0] != "keyjob-plan" || !slices.Contains(secE2EApplyOnly, f[2]) {
					t.Errorf("%s: denied %q, want only apply's own commands", tt.name, d)
				}
			}
		}
	})
	t.Run("ApplyUndoTTL", func(t *testing.T) {
		denials()
		state := filepath.Join(t.TempDir(), "state")
		sh.run(t, 0, nil, run(applyURL, state, "apply", ttlJob)...)
		secE2EExpectTTLJob(t, before, snapshot(t, c), changes)
		cp := readCheckpoint(t, state, "ticket-ttl")
		sh.run(t, 0, nil, run(applyURL, state, "undo", cp.Journal)...)
		wantSame(t, "after undo as keyjob-apply", before, snapshot(t, c))
		if denied := denials(); len(denied) > 0 {
			t.Errorf("apply or undo as keyjob-apply was denied: %q", denied)
		}
	})
	t.Run("ApplyUndoDump", func(t *testing.T) {
		denials()
		state := filepath.Join(t.TempDir(), "state")
		sh.run(t, 0, nil, run(applyURL, state, "apply", dumpJob)...)
		secE2EExpectDeleted(t, before, snapshot(t, c), 80)
		cp := readCheckpoint(t, state, "drop-deal-clicks")
		r := sh.run(t, 0, nil, run(applyURL, state, "undo", cp.Journal)...)
		if !strings.Contains(r.stdout, "recreated 80") {
			t.Errorf("undo does not say it recreated 80 keys\n%s", r)
		}
		wantSame(t, "after undo as keyjob-apply", before, snapshot(t, c))
		if denied := denials(); len(denied) > 0 {
			t.Errorf("apply or undo as keyjob-apply was denied: %q", denied)
		}
	})
}

// The secrets of TestSecE2E_Secrets: the default user's password, and an
// ACL user's with characters a URL must escape.
const (
	secE2EPassword    = "Sup3r-S3cret-PW"
	secE2EACLPassword = "Acl/S3cret@pw%41:x"
	secE2EWrongPW     = "Wr0ng-S3cret-PW"
)

// TestSecE2E_Secrets runs every command as an operator would against a
// server that wants a password, in the URL of --redis and of $REDIS_URL,
// with successes and every kind of failure, then searches stdout, stderr
// and every file the runs left (checkpoints, journals, reports, --out) for
// the passwords (docs/safety.md, promise 5).
func TestSecE2E_Secrets(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Options{})
	plain := srv.Client(t)
	changes := secE2ESeed(t, plain, 2000, 120)
	secE2EACLUser(t, plain, "keyjob-ops", secE2EACLPassword, secE2EApplyRules)
	// After the start: the harness's readiness PING sends no password.
	secE2EDo(t, plain, "CONFIG", "SET", "requirepass", secE2EPassword)
	c := secE2EClient(t, srv.Addr, "", secE2EPassword)
	before := snapshot(t, c)

	sh := secE2ENewShell(t)
	root := filepath.Dir(sh.dir) // the work folder, the state dir and the reports
	state := filepath.Join(root, "state")
	out := filepath.Join(root, "out")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	ttlJob := writeJob(t, sh.dir, "ticket-ttl.yaml", strings.Replace(secE2ETTLJob, "rate: unlimited", "rate: 400", 1))
	dumpJob := writeJob(t, sh.dir, "drop-deal-clicks.yaml", secE2EDumpJob)

	pwURL := "redis://:" + secE2EPassword + "@" + srv.Addr + "/0"
	aclURL := (&url.URL{Scheme: "redis", User: url.UserPassword("keyjob-ops", secE2EACLPassword), Host: srv.Addr}).String()
	envURL := []string{"REDIS_URL=" + pwURL}
	envACL := []string{"REDIS_URL=" + aclURL}
	runFlags := []string{"--state-dir", state, "--yes"}

	t.Run("ValidateAndHelp", func(t *testing.T) {
		sh.run(t, 0, envURL, "validate", ttlJob, dumpJob)
		// The help shows each flag's default and its environment variable.
		for _, cmd := range []string{"plan", "apply", "undo"} {
			sh.run(t, 0, envURL, cmd, "--help")
		}
	})
	t.Run("Plan", func(t *testing.T) {
		for _, format := range []string{"text", "markdown", "json"} {
			sh.run(t, 0, nil, "plan", "--redis", pwURL, "--format", format, ttlJob)
			sh.run(t, 0, envACL, "plan", "--format", format, dumpJob)
			sh.run(t, 0, envURL, "plan", "--format", format, "--out", filepath.Join(out, "plan-"+format), ttlJob)
		}
		sh.run(t, 0, nil, "plan", "--redis", aclURL, "--format", "json", "--out", filepath.Join(out, "plan-acl.json"), ttlJob)
		sh.run(t, 2, nil, "plan", "--redis", pwURL, "--detailed-exitcode", ttlJob)
		wantSame(t, "after plan", before, snapshot(t, c))
	})
	t.Run("ApplyInterruptedResumedUndone", func(t *testing.T) {
		// Bound to the reviewed plan, with a log line every 10 s (text);
		// interrupted once it has made some changes.
		p := sh.start(t, nil, append([]string{"apply", "--redis", pwURL, "--progress", "log", "--log-format", "text",
			"--plan", filepath.Join(out, "plan-json"), ttlJob}, runFlags...)...)
		cpPath := checkpoint.Path(state, "ticket-ttl")
		p.waitFor(t, "a checkpoint with 200 changes at "+cpPath, func() bool {
			cp, err := checkpoint.Load(cpPath)
			return err == nil && cp.Changes >= 200
		})
		p.cmd.Process.Signal(syscall.SIGINT)
		if r := p.wait(t); r.code != 130 {
			t.Fatalf("exit %d after SIGINT, want 130\n%s", r.code, r)
		}
		// The checkpoint exists: apply without --resume refuses, naming it.
		q := sh.run(t, 4, envURL, append([]string{"apply", ttlJob}, runFlags...)...)
		secE2EOneLineError(t, q, "--resume")
		// Resumed through $REDIS_URL, logging JSON.
		sh.run(t, 0, envURL, append([]string{"apply", "--resume", "--progress", "log", "--log-format", "json", ttlJob}, runFlags...)...)
		secE2EExpectTTLJob(t, before, snapshot(t, c), changes)
		cp := readCheckpoint(t, state, "ticket-ttl")
		// Undone as the ACL user, and refused to a wrong password first.
		q = sh.run(t, 1, nil, "undo", "--redis", "redis://:"+secE2EWrongPW+"@"+srv.Addr, "--yes", cp.Journal)
		secE2EOneLineError(t, q, "credentials")
		sh.run(t, 0, nil, "undo", "--redis", aclURL, "--yes", "--progress", "log", "--log-format", "json", cp.Journal)
		wantSame(t, "after undo", before, snapshot(t, c))
	})
	t.Run("DumpDeleteAndUndo", func(t *testing.T) {
		sh.run(t, 0, envACL, append([]string{"apply", "--progress", "log", dumpJob}, runFlags...)...)
		secE2EExpectDeleted(t, before, snapshot(t, c), 120)
		cp := readCheckpoint(t, state, "drop-deal-clicks")
		sh.run(t, 0, nil, "undo", "--redis", pwURL, "--yes", "--progress", "bar", "--log-format", "text", cp.Journal)
		wantSame(t, "after undo", before, snapshot(t, c))
	})
	t.Run("Errors", func(t *testing.T) {
		// undo reads its journal before it dials: give it a real one.
		journal := readCheckpoint(t, state, "drop-deal-clicks").Journal
		for _, tt := range []struct {
			name string
			url  string
			code int
			more []string
		}{
			{"WrongPassword", "redis://:" + secE2EWrongPW + "@" + srv.Addr, 1, nil},
			{"WrongACLPassword", "redis://keyjob-ops:" + secE2EWrongPW + "@" + srv.Addr, 1, nil},
			{"NoPassword", "redis://" + srv.Addr, 1, nil},
			{"Unreachable", "redis://:" + secE2EPassword + "@127.0.0.1:1/0", 1, nil},
			{"UnreachableACL", strings.Replace(aclURL, srv.Addr, "127.0.0.1:1", 1), 1, nil},
			{"NotAPort", "redis://:" + secE2EPassword + "@127.0.0.1:notaport", 4, nil},
			{"NotAPortACL", strings.Replace(aclURL, srv.Addr, "127.0.0.1:notaport", 1), 4, nil},
			{"Unparsable", "redis://:" + secE2EPassword + "@[::1", 4, nil},
			{"BadDB", "redis://:" + secE2EPassword + "@" + srv.Addr + "/x", 4, nil},
			{"Scheme", "http://:" + secE2EPassword + "@" + srv.Addr, 4, nil},
			{"TLSFlagWithoutRediss", pwURL, 4, []string{"--tls-insecure-skip-verify"}},
			// Times out (the dial timeout, 5 s): plan only.
			{"RedissToPlainServer", "rediss://:" + secE2EPassword + "@" + srv.Addr, 1, []string{"--tls-insecure-skip-verify"}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				commands := [][]string{
					{"plan", ttlJob},
					{"apply", "--state-dir", filepath.Join(state, "errors"), "--yes", ttlJob},
					{"undo", "--yes", journal},
				}
				if tt.name == "RedissToPlainServer" {
					commands = commands[:1]
				}
				for _, via := range []string{"flag", "env"} {
					for _, args := range commands {
						args = slices.Clone(args)
						args = append(args, tt.more...)
						var env []string
						if via == "flag" {
							args = append(args, "--redis", tt.url)
						} else {
							env = []string{"REDIS_URL=" + tt.url}
						}
						r := sh.run(t, tt.code, env, args...)
						secE2EOneLineError(t, r)
					}
				}
			})
		}
		wantSame(t, "after the failures", before, snapshot(t, c))
	})

	// Nothing vacuous: the runs wrote checkpoints, journals and reports.
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{".journal", ".report.json", ".report.md", checkpoint.FileName, "plan-json", "plan-markdown"} {
		if !slices.ContainsFunc(files, func(f string) bool { return strings.HasSuffix(f, want) }) {
			t.Errorf("no file *%s under %s: %q", want, root, files)
		}
	}
	secrets := map[string]string{}
	for _, pw := range []string{secE2EPassword, secE2EACLPassword, secE2EWrongPW} {
		secrets[pw] = pw
		secrets[url.QueryEscape(pw)] = pw
		secrets[url.PathEscape(pw)] = pw
		secrets[(&url.URL{User: url.UserPassword("u", pw)}).User.String()[2:]] = pw
	}
	leaks := 0
	look := func(where, text string) {
		for s, pw := range secrets {
			if strings.Contains(text, s) {
				leaks++
				t.Errorf("%s shows the password %q (as %q)", where, pw, s)
			}
		}
	}
	for _, p := range sh.runs {
		look(fmt.Sprintf("keyjob %s: stdout", strings.Join(p.args, " ")), p.stdout.String())
		look(fmt.Sprintf("keyjob %s: stderr", strings.Join(p.args, " ")), p.stderr.String())
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		look(f, string(b))
	}
	t.Logf("searched %d runs and %d files for %d forms of 3 passwords: %d leaks", len(sh.runs), len(files), len(secrets), leaks)
}
