package main_test

// What every end-to-end test of the command line shares: TestMain builds
// the binary once, start and keyjob run it as an operator runs it (no
// terminal, no $REDIS_URL unless the test sets one, exit codes as a shell
// sees them), and the readers below load what a run leaves behind: job
// files, checkpoints, run reports, the keyspace. Tests that need a server
// start real Redis (internal/redistest).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/keyjob/keyjob/internal/checkpoint"
	"github.com/keyjob/keyjob/internal/redistest"
)

var (
	// bin is the keyjob binary TestMain builds.
	bin string
	// root is the module's root folder.
	root string
)

func TestMain(m *testing.M) {
	if args := os.Getenv(peakRSSEnv); args != "" {
		os.Exit(peakRSSLauncher(strings.Split(args, "\x1f")))
	}
	os.Exit(buildAndRun(m))
}

// peakRSSEnv makes the test binary a small launcher: it runs the command
// the variable holds (arguments split by a unit separator, \x1f) and prints its peak RSS.
// A child's peak RSS counts its parent's memory until exec (Go starts
// children with CLONE_VM), so measured from a test binary that has run
// other tests it is the test's memory; from this fresh launcher it is
// keyjob's, within the launcher's few MiB.
const peakRSSEnv = "KEYJOB_TEST_PEAK_RSS_RUN"

func peakRSSLauncher(args []string) int {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.Run()
	ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if ru != nil {
		fmt.Fprintf(os.Stdout, "\npeak-rss-kib=%d\n", ru.Maxrss)
	}
	return cmd.ProcessState.ExitCode()
}

// buildAndRun builds the binary once for every test of the package, then
// runs them.
func buildAndRun(m *testing.M) int {
	var err error
	if root, err = moduleRoot(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	dir, err := os.MkdirTemp("", "keyjob-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin = filepath.Join(dir, "keyjob")
	build := exec.Command("go", "build", "-o", bin, "./cmd/keyjob")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build ./cmd/keyjob: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// moduleRoot walks up from the test's folder to the one holding go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the test's folder")
		}
		dir = parent
	}
}

// example is the path of examples/NAME.
func example(name string) string { return filepath.Join(root, "examples", name) }

// runTimeout bounds every wait for a run: a command that hangs (an
// unreachable server never given up on) fails its test instead of the
// suite's timeout.
const runTimeout = 2 * time.Minute

// result is what one run of the binary gave.
type result struct {
	args, env      []string
	code           int
	stdout, stderr string
	running        bool // a look at a run that has not ended: no code yet
}

func (r result) String() string {
	var env, status string
	if len(r.env) > 0 {
		env = strings.Join(r.env, " ") + " "
	}
	if r.running {
		status = "still running"
	} else {
		status = fmt.Sprintf("exit %d", r.code)
	}
	return fmt.Sprintf("%skeyjob %s: %s\n--- stdout:\n%s--- stderr:\n%s", env, strings.Join(r.args, " "), status, r.stdout, r.stderr)
}

// proc is a run of the binary that may still be going on: a test can
// read its output, signal it and wait for what it logs.
type proc struct {
	cmd            *exec.Cmd
	args, env      []string
	stdout, stderr syncBuffer
	done           chan struct{}
	code           int // set before done is closed
}

// syncBuffer is written by the process's output copier while the test
// reads it.
type syncBuffer = redistest.Buffer

// keyjob runs the binary with args to its end, in a fresh temp folder.
// env is added to the environment, from which $REDIS_URL is removed.
func keyjob(t *testing.T, env []string, args ...string) result {
	t.Helper()
	return start(t, env, args...).wait(t)
}

// start starts the binary with args in a fresh temp folder; see keyjob.
func start(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	return startIn(t, t.TempDir(), env, args...)
}

// startIn starts the binary with args in dir (where the default state dir
// .keyjob lands), without a terminal: stdin is /dev/null. The run is
// killed when the test ends, if it has not ended by itself.
func startIn(t *testing.T, dir string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{args: args, env: env, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "REDIS_URL=") {
			p.cmd.Env = append(p.cmd.Env, kv)
		}
	}
	p.cmd.Env = append(p.cmd.Env, env...)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("run keyjob: %v", err)
	}
	go func() {
		err := p.cmd.Wait()
		var exit *exec.ExitError
		switch {
		case errors.As(err, &exit):
			// Killed by a signal: 128+n, as a shell reports it.
			if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				p.code = 128 + int(ws.Signal())
			} else {
				p.code = exit.ExitCode()
			}
		case err != nil:
			p.code = -1
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// result is what the run printed so far, and its exit code once it ended.
func (p *proc) result() result {
	r := result{args: p.args, env: p.env, running: !p.exited()}
	if !r.running {
		r.code = p.code
	}
	r.stdout, r.stderr = p.stdout.String(), p.stderr.String()
	return r
}

func (p *proc) String() string { return p.result().String() }

// wait waits for the run to end, runTimeout at most (then it kills the
// run and fails the test), and returns what it gave.
func (p *proc) wait(t *testing.T) result {
	t.Helper()
	return p.waitUpTo(t, runTimeout)
}

// waitUpTo is wait with a limit of its own (a cluster run waits out a
// failover's cluster-node-timeout).
func (p *proc) waitUpTo(t *testing.T, limit time.Duration) result {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(limit):
		p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("keyjob %s did not end within %v\n%s", strings.Join(p.args, " "), limit, p)
	}
	return p.result()
}

// waitFor polls cond while the run goes on; the run ending first, or a
// minute passing, fails the test. what names what cond waits for.
func (p *proc) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	const limit = 60 * time.Second
	deadline := time.Now().Add(limit)
	for !cond() {
		if p.exited() {
			t.Fatalf("the run ended before %s\n%s", what, p)
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s\n%s", limit, what, p)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wantExit fails the test when r did not exit with code.
func wantExit(t *testing.T, r result, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\n%s", r.code, code, r)
	}
}

// wantOneLineError checks the stderr of a failed run: one line that starts
// with "keyjob: " and says why, no stack trace, and each of want in it.
func wantOneLineError(t *testing.T, r result, want ...string) {
	t.Helper()
	msg := strings.TrimRight(r.stderr, "\n")
	if msg == "" || strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "keyjob: ") {
		t.Errorf("stderr = %q, want one line starting with \"keyjob: \"", r.stderr)
	}
	wantNoStackTrace(t, r)
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("stderr %q does not mention %q", msg, w)
		}
	}
}

// wantNoStackTrace fails the test when stderr holds a stack trace or a
// source position: an error a user reads says why, not where.
func wantNoStackTrace(t *testing.T, r result) {
	t.Helper()
	for _, bad := range []string{"goroutine ", "panic", ".go:"} {
		if strings.Contains(r.stderr, bad) {
			t.Errorf("stderr holds %q, a stack trace or source position\n%s", bad, r)
		}
	}
}

// writeJob writes a job file (or any file) named name into dir and
// returns its path. Leading newlines are dropped, so that a job can start
// on the line after its opening backquote.
func writeJob(t *testing.T, dir, name, text string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(strings.TrimLeft(text, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// ticketTTLJob is examples/ticket-ttl-backfill.yaml under another name
// and with other limits (the lines of its limits: block): every ticket
// without a TTL expires a year after the issue time in its name, or in an
// hour when that year is over.
func ticketTTLJob(name, limits string) string {
	return `version: 1
name: ` + name + `
select:
  match: "ticket:*"
  type: string
  regex: '^ticket:(?P<issued>\d{10}):(?P<customer>\d+):[A-Za-z0-9]+$'
  ttl: none
action:
  expire:
    from: { capture: issued, format: unix }
    after: 365d
    grace: 1h
limits:
` + limits
}

// readJSON decodes the JSON file at path into v.
func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// stdoutJSON decodes what the run printed (plan --format json) into v.
func stdoutJSON(t *testing.T, r result, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, r)
	}
}

// readCheckpoint loads the checkpoint of job under the state dir.
func readCheckpoint(t *testing.T, state, job string) *checkpoint.Checkpoint {
	t.Helper()
	cp, err := checkpoint.Load(checkpoint.Path(state, job))
	if err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	return cp
}

// runReport is the part of a run report (RUN.report.json in the job's
// state folder) the tests read.
type runReport struct {
	Completed bool   `json:"completed"`
	Stopped   string `json:"stopped"`
	Resumed   bool   `json:"resumed"`
	Changes   int64  `json:"changes_this_invocation"`
	Journal   string `json:"journal"`
	Scanned   int64  `json:"scanned"`
	Target    struct {
		Mode string `json:"mode"`
	} `json:"target"`
	Outcomes struct {
		Change         int64            `json:"change"`
		ChangeGrace    int64            `json:"change_grace"`
		Skip           map[string]int64 `json:"skip"`
		MembersRemoved int64            `json:"members_removed"`
		FieldsChanged  int64            `json:"fields_changed"`
		FieldsGrace    int64            `json:"fields_grace"`
	} `json:"outcomes"`
	Nodes []struct {
		ID       string `json:"id"`
		Addr     string `json:"addr"`
		Done     bool   `json:"done"`
		Restarts int    `json:"restarts"`
	} `json:"nodes"`
	GuardEvents []struct {
		Action string `json:"action"`
		Guard  string `json:"guard"`
		Reason string `json:"reason"`
	} `json:"guard_events"`
}

// events lists the report's guard events as "pause fork", "resume fork".
func (r runReport) events() []string {
	var out []string
	for _, e := range r.GuardEvents {
		out = append(out, e.Action+" "+e.Guard)
	}
	return out
}

func (r runReport) has(event string) bool {
	for _, e := range r.events() {
		if e == event {
			return true
		}
	}
	return false
}

// readReport reads the report of the run runID of job from the state dir.
func readReport(t *testing.T, state, job, runID string) runReport {
	t.Helper()
	var r runReport
	readJSON(t, filepath.Join(state, job, runID+".report.json"), &r)
	return r
}

// onlyReport reads the one run report of job in the state dir: each
// invocation of a run rewrites its run's report.
func onlyReport(t *testing.T, state, job string) runReport {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(state, job, "*.report.json"))
	if err != nil || len(paths) != 1 {
		t.Fatalf("run reports in %s: %v, %v; want one", state, paths, err)
	}
	var r runReport
	readJSON(t, paths[0], &r)
	return r
}

// snapshot reads every key's state (type, expiry, digest) from c.
func snapshot(t *testing.T, c rueidis.Client) map[string]redistest.KeyState {
	t.Helper()
	s, err := redistest.Snapshot(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// wantSame fails the test when got is not the keyspace want, showing the
// first 30 lines of the difference.
func wantSame(t *testing.T, what string, want, got map[string]redistest.KeyState) {
	t.Helper()
	if d := redistest.Diff(want, got); !d.Empty() {
		s := d.String()
		if lines := strings.SplitAfter(s, "\n"); len(lines) > 30 {
			s = strings.Join(lines[:30], "") + "…\n"
		}
		t.Fatalf("%s: %d added, %d removed, %d changed:\n%s", what, len(d.Added), len(d.Removed), len(d.Changed), s)
	}
}
