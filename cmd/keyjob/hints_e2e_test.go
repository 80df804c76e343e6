package main_test

// The next steps keyjob prints (resume, undo, --restart, the flag a
// refusal asks for) run as printed: each test here pastes them into a
// shell, in the folder the run was started in, as an operator does.

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/keyjob/keyjob/internal/redistest"
)

// hint is the command of the line "what: keyjob ..." in out; the test
// fails when there is none.
func hint(t *testing.T, r result, what string) string {
	t.Helper()
	for _, line := range strings.Split(r.stdout+r.stderr, "\n") {
		if rest, ok := strings.CutPrefix(line, what+":"); ok && strings.HasPrefix(strings.TrimSpace(rest), "keyjob ") {
			return strings.TrimSpace(rest)
		}
	}
	t.Fatalf("no %q line with a keyjob command\n%s", what, r)
	return ""
}

// paste runs line in a POSIX shell in dir, with the keyjob binary first
// on $PATH and env added (without $REDIS_URL unless env has it).
func paste(t *testing.T, dir string, env []string, line string) result {
	t.Helper()
	sh := &proc{args: []string{"(sh -c)", line}, env: env, done: make(chan struct{})}
	sh.cmd = exec.Command("sh", "-c", line)
	sh.cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "REDIS_URL=") && !strings.HasPrefix(kv, "PATH=") {
			sh.cmd.Env = append(sh.cmd.Env, kv)
		}
	}
	sh.cmd.Env = append(sh.cmd.Env, "PATH="+filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"))
	sh.cmd.Env = append(sh.cmd.Env, env...)
	sh.cmd.Stdin = nil // /dev/null: no terminal
	sh.cmd.Stdout, sh.cmd.Stderr = &sh.stdout, &sh.stderr
	if err := sh.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		if err := sh.cmd.Wait(); err != nil {
			sh.code = sh.cmd.ProcessState.ExitCode()
		}
		close(sh.done)
	}()
	return sh.wait(t)
}

// Interrupted, an apply given a password in its URL prints a resume line
// and an undo line that keep every flag that matters and no password;
// pasted into a shell with $REDIS_URL set they run: the resume finishes
// the job, the undo puts it back, and the refusals on the way (a
// checkpoint that exists, looser guard levels) print commands that run.
func TestHintsE2E_RunAsPrinted(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	c := srv.Client(t)
	applyE2ESeed(t, 1500, c)
	before := snapshot(t, c)
	base := applyE2EExpires(t, c)
	// Set after the seed: the harness's readiness PING has no password.
	if err := c.Do(context.Background(), c.B().ConfigSet().ParameterValue().ParameterValue("requirepass", password).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	url := "redis://:" + password + "@" + srv.Addr
	env := []string{"REDIS_URL=" + url}
	dir := t.TempDir()
	writeJob(t, dir, "job.yaml", applyE2ETicketJob)
	disk := t.TempDir()
	noSecret := func(r result) {
		t.Helper()
		if strings.Contains(r.stdout+r.stderr, password) {
			t.Errorf("the password shows:\n%s", r)
		}
	}

	p := startIn(t, dir, nil, "apply", "--redis", url, "--state-dir", "state dir", "--progress", "none",
		"--rate", "300", "--disk-path", disk, "--max-pause", "10m", "--yes", "job.yaml", "--limit", "100000")
	applyE2EWaitExpires(t, p, c, base+200)
	p.cmd.Process.Signal(syscall.SIGINT)
	r := p.wait(t)
	wantExit(t, r, 130)
	noSecret(r)
	resume := hint(t, r, "resume")
	for _, want := range []string{`--redis "$REDIS_URL"`, `--state-dir 'state dir'`, "--rate 300", "--disk-path " + disk, "--max-pause 10m0s", "--yes", "--resume", "job.yaml"} {
		if !strings.Contains(resume, want) {
			t.Errorf("resume line %q lacks %q", resume, want)
		}
	}
	if strings.Contains(resume, "--limit") {
		t.Errorf("resume line %q repeats --limit", resume)
	}
	// The run report names the same resume line.
	if md, _, ok := strings.Cut(strings.TrimPrefix(r.stdout[strings.Index(r.stdout, "report: "):], "report: "), ","); !ok {
		t.Errorf("no report line\n%s", r)
	} else if b, err := os.ReadFile(filepath.Join(dir, md)); err != nil || !strings.Contains(string(b), "continue with `"+resume+"`") {
		t.Errorf("the report %s does not name the resume line %q (%v)", md, resume, err)
	}
	if !strings.Contains(r.stdout, "set REDIS_URL") {
		t.Errorf("the hints read $REDIS_URL without saying to set it\n%s", r)
	}

	// The same command again, without --resume: refused, with both ways on.
	again := startIn(t, dir, nil, "apply", "--redis", url, "--state-dir", "state dir", "--progress", "none",
		"--rate", "300", "--disk-path", disk, "--yes", "job.yaml").wait(t)
	wantExit(t, again, 4)
	noSecret(again)
	hint(t, again, "start over")
	if cont := hint(t, again, "continue"); !strings.Contains(cont, "--resume") {
		t.Errorf("continue line %q has no --resume", cont)
	}

	r = paste(t, dir, env, resume)
	wantExit(t, r, 0)
	noSecret(r)
	undo := hint(t, r, "undo")
	if !strings.Contains(undo, `--redis "$REDIS_URL"`) || strings.Contains(undo, "--state-dir") {
		t.Errorf("undo line %q: want --redis \"$REDIS_URL\" and no --state-dir", undo)
	}
	r = paste(t, dir, env, undo)
	wantExit(t, r, 0)
	noSecret(r)
	wantSame(t, "after the undo", before, snapshot(t, c))

	// A completed run: the refusal's --restart line runs.
	r = paste(t, dir, env, resume)
	wantExit(t, r, 1)
	r = paste(t, dir, env, hint(t, r, "run it again"))
	wantExit(t, r, 0)

	// Looser guard levels: the refusal prints the command that accepts
	// them, and it runs.
	writeJob(t, dir, "loose.yaml", strings.Replace(ticketTTLJob("loose", "  rate: 5000\n"), "limits:", "guards:\n  latency:\n    pause_above: 5s\nlimits:", 1))
	r = paste(t, dir, env, `keyjob apply --redis "$REDIS_URL" --progress none --yes loose.yaml`)
	wantExit(t, r, 4)
	accept := hint(t, r, "to accept the looser levels")
	// A new state dir: loose.yaml has not run in it.
	if !strings.Contains(accept, "--allow-looser-guards") {
		t.Errorf("%q lacks --allow-looser-guards", accept)
	}
	wantExit(t, paste(t, dir, env, accept), 0)

	// Without a terminal and without --yes: the line with --yes runs.
	r = paste(t, dir, env, `keyjob apply --redis "$REDIS_URL" --progress none --restart loose.yaml --allow-looser-guards`)
	wantExit(t, r, 4)
	wantExit(t, paste(t, dir, env, hint(t, r, "to run without confirmation")), 0)
}

// The apply summary agrees with the flags given: with --disk-path on a
// server with AOF, the disk guard line shows the free disk it reads and
// the summary does not ask for --disk-path; without it, it does.
func TestApplyE2E_SummaryDiskPath(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{AOF: true})
	applyE2ESeed(t, 200, srv.Client(t))
	dir := t.TempDir()
	job := writeJob(t, dir, "job.yaml", applyE2ETicketJob)

	r := keyjob(t, nil, applyE2EArgs(srv.URL, filepath.Join(dir, "a"), "--yes", "--disk-path", dir, job)...)
	wantExit(t, r, 0)
	for _, bad := range []string{"apply needs --disk-path", "--disk-path DIR", "aof_without_disk_probe", "unknown"} {
		if strings.Contains(r.stdout, bad) {
			t.Errorf("with --disk-path the summary says %q\n%s", bad, r)
		}
	}
	if !strings.Contains(r.stdout, "read with --disk-path "+dir) {
		t.Errorf("the summary's disk line does not show the --disk-path reading\n%s", r)
	}

	r = keyjob(t, nil, applyE2EArgs(srv.URL, filepath.Join(dir, "b"), "--yes", job)...)
	wantExit(t, r, 0)
	if !strings.Contains(r.stdout, "apply needs --disk-path") {
		t.Errorf("without --disk-path the summary does not ask for it\n%s", r)
	}
}
