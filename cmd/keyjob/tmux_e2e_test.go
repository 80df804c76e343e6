package main_test

// The operator's path in a real terminal (tmux): apply with its bars,
// a pause by `p`, Ctrl-C, the printed resume line typed in as printed,
// and the run's end. tmux capture-pane reads the screen as the operator
// sees it.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// terminal is a tmux server of the test's own (its own socket) running a
// shell in one window.
type terminal struct {
	t      *testing.T
	socket string
}

// newTerminal starts a shell in dir in a w×h tmux window, with the keyjob
// binary first on $PATH and the prompt "PROMPT> ". The test is skipped
// without tmux.
func newTerminal(t *testing.T, dir string, w, h int) *terminal {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tmux is not installed: .ci/run installs it")
		}
		t.Skip("tmux is not installed (apt-get install tmux)")
	}
	term := &terminal{t: t, socket: fmt.Sprintf("keyjob-test-%d-%d", os.Getpid(), time.Now().UnixNano())}
	shell := "env -u REDIS_URL PATH=" + filepath.Dir(bin) + ":" + os.Getenv("PATH") + " PS1='PROMPT> ' TERM=xterm-256color sh"
	term.tmux("new-session", "-d", "-x", fmt.Sprint(w), "-y", fmt.Sprint(h), "-c", dir, shell)
	t.Cleanup(func() { exec.Command("tmux", "-L", term.socket, "kill-server").Run() })
	term.waitFor("the prompt", func(s string) bool { return strings.Contains(s, "PROMPT> ") })
	return term
}

func (term *terminal) tmux(args ...string) string {
	term.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-L", term.socket}, args...)...).CombinedOutput()
	if err != nil {
		term.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// typeLine types line as it is and presses Enter.
func (term *terminal) typeLine(line string) {
	term.tmux("send-keys", "-l", line)
	term.tmux("send-keys", "Enter")
}

// key sends one key, in tmux's names: "p", "C-c".
func (term *terminal) key(k string) { term.tmux("send-keys", k) }

// screen is the window's history and visible lines, wrapped lines joined.
func (term *terminal) screen() string {
	return term.tmux("capture-pane", "-p", "-J", "-S", "-")
}

// visible is what the window shows now.
func (term *terminal) visible() string { return term.tmux("capture-pane", "-p", "-J") }

// waitFor polls the screen until cond holds; two minutes pass fail the
// test with the screen.
func (term *terminal) waitFor(what string, cond func(screen string) bool) string {
	term.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		s := term.screen()
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			term.t.Fatalf("waited 2m for %s; the screen:\n%s", what, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// prompts counts the shell's prompts on screen: one more than the
// commands that ended.
func prompts(s string) int { return strings.Count(s, "PROMPT> ") }

var (
	scannedLine = regexp.MustCompile(`(?m)^scanned +\[[^\]]*\] +([\d,]+) / ([\d,]+) +\d+% +[\d,]+/s +ETA (\S+)`)
	resumeLine  = regexp.MustCompile(`(?m)^resume: (keyjob .*)$`)
)

// The acceptance test of issue 16: apply in a terminal, pause with p
// (the screen says who paused, since when and how to resume, in full),
// resume with p, Ctrl-C, then the printed resume line typed in verbatim
// finishes the job; the screen never holds a stale bar, and after the
// resume the bar counts against the total with an ETA.
func TestTmuxE2E_OperatorPath(t *testing.T) {
	srv, c, _, _ := applyE2ETicketServer(t, 2000)
	dir := t.TempDir()
	writeJob(t, dir, "job.yaml", applyE2ETicketJob)
	base := applyE2EExpires(t, c)
	// 100 columns: the log lines (a journal path) are longer and wrap.
	term := newTerminal(t, dir, 100, 50)

	term.typeLine("keyjob apply --redis " + srv.URL + " --rate 200 --yes job.yaml")
	term.waitFor("the bars", func(s string) bool { return scannedLine.MatchString(s) })
	for applyE2EExpires(t, c) < base+200 {
		time.Sleep(50 * time.Millisecond)
	}

	term.key("p")
	// The screen and the log line are read from one capture: the log line
	// may come a moment after the status (a wrapped line is joined back).
	const pausedLog = `msg=paused by="the operator (p)" resume="press p"`
	paused := term.waitFor("the pause on screen and in the log", func(s string) bool {
		return strings.Contains(s, "PAUSED   by the operator (p) since ") && strings.Contains(strings.ReplaceAll(s, "\n", ""), pausedLog)
	})
	// The state wraps over two lines in 100 columns: read it as words.
	vis := strings.Join(strings.Fields(term.visible()), " ")
	for _, want := range []string{"To resume: press p", "Ctrl-C stops and keeps a checkpoint"} {
		if !strings.Contains(vis, want) {
			t.Errorf("the paused screen does not say %q:\n%s", want, vis)
		}
	}
	if !strings.Contains(strings.ReplaceAll(paused, "\n", ""), pausedLog) {
		t.Errorf("the log above the bars does not say who paused and how to resume:\n%s", paused)
	}
	term.key("p")
	term.waitFor("the run going on", func(s string) bool { return strings.Contains(term.visible(), "state    running") })

	term.key("C-c")
	first := term.waitFor("the resume line", func(s string) bool { return resumeLine.MatchString(s) && prompts(s) >= 2 })
	if n := len(scannedLine.FindAllString(first, -1)); n != 1 {
		t.Errorf("the interrupted run left %d scanned lines on screen, want 1 (a stale bar):\n%s", n, first)
	}
	resume := resumeLine.FindStringSubmatch(first)[1]
	if !strings.Contains(resume, "--redis "+srv.URL) || !strings.Contains(resume, "--rate 200") {
		t.Errorf("resume line %q lacks the run's --redis or --rate", resume)
	}

	term.typeLine("clear")
	term.waitFor("a clear screen", func(s string) bool { return !strings.Contains(term.visible(), "resume:") })
	term.typeLine(resume)
	during := term.waitFor("the resumed run's bar", func(s string) bool {
		m := scannedLine.FindStringSubmatch(term.visible())
		return m != nil && m[3] != "0s" || prompts(term.visible()) >= 2
	})
	if m := scannedLine.FindStringSubmatch(term.visible()); m == nil || m[2] == "0" || m[3] == "0s" {
		t.Errorf("after the resume the bar has no total or no ETA (want N / total and an ETA):\n%s", during)
	}
	term.waitFor("the resumed run's end", func(s string) bool { return prompts(term.visible()) >= 2 })
	term.typeLine("echo EXIT=$?")
	end := term.waitFor("the exit code", func(s string) bool { return strings.Contains(term.visible(), "EXIT=") })
	vis = term.visible()
	if !strings.Contains(vis, "EXIT=0") {
		t.Errorf("the resume line did not finish the job:\n%s", end)
	}
	if n := len(scannedLine.FindAllString(vis, -1)); n != 1 {
		t.Errorf("the resumed run left %d scanned lines on screen, want 1:\n%s", n, vis)
	}
	if regexp.MustCompile(`\b0 / 0\b`).MatchString(vis) {
		t.Errorf("a 0 / 0 line on screen:\n%s", vis)
	}
	cp := readCheckpoint(t, filepath.Join(dir, ".keyjob"), "ticket-ttl-backfill")
	if !cp.Completed || cp.Expected == 0 {
		t.Errorf("checkpoint: completed %v, expected %d", cp.Completed, cp.Expected)
	}
}
