package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/keyjob/keyjob/apply"
	"github.com/keyjob/keyjob/guard"
)

// Each kind of pause says, on the state lines and in the log line, who
// paused the run, since when, why and how it resumes; the lines are cut
// to the terminal's width, and log lines longer than it are wrapped.
func TestProgress_PauseWords(t *testing.T) {
	var log bytes.Buffer
	p := newProgress(context.Background(), "log", &log, "text", "h", nil)
	p.width = 80
	since := time.Now().Add(-42 * time.Second)
	p.setGuardPause(func() (guard.PauseState, bool) {
		return guard.PauseState{Guard: "latency", Reason: "PING p99 11ms over the last 10 s, pause level 10ms", Since: since, Resume: "resumes by itself once latency is ok again"}, true
	})
	for _, tc := range []struct {
		paused string
		want   []string
	}{
		{"", []string{"PAUSED by the latency guard since " + since.Format("15:04:05") + " (42s): PING p99 11ms over the last 10 s, pause level 10ms.", "It resumes by itself once latency is ok again."}},
		{"pause file /run/keyjob.pause exists", []string{"PAUSED by the pause file /run/keyjob.pause since", "To resume: remove /run/keyjob.pause;"}},
		{"paused by the operator (p)", []string{"PAUSED by the operator (p) since", "To resume: press p;"}},
	} {
		p.Update(apply.Progress{Paused: tc.paused})
		lines := p.stateLine(0) + " " + p.stateLine(1)
		words := strings.Join(strings.Fields(lines), " ")
		for _, w := range tc.want {
			if !strings.Contains(words, w) {
				t.Errorf("paused %q: the state lines %q lack %q", tc.paused, lines, w)
			}
		}
		for i := range 2 {
			if n := len([]rune(p.stateLine(i))); n > 79 {
				t.Errorf("state line %d is %d wide, more than the terminal's 80 less one", i, n)
			}
		}
		log.Reset()
		p.logLine()
		if !strings.Contains(log.String(), "paused=") || !strings.Contains(log.String(), tc.want[0][len("PAUSED "):len("PAUSED ")+10]) {
			t.Errorf("paused %q: the log line does not say it: %s", tc.paused, log.String())
		}
	}
	p.Finish()

	var out bytes.Buffer
	w := &wrapWriter{w: &out, width: 10}
	w.Write([]byte("0123456789abcdef\nshort\n"))
	if got := out.String(); got != "0123456789\nabcdef\nshort\n" {
		t.Errorf("wrapped: %q", got)
	}
}
