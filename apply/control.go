package apply

import (
	"context"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Control lets an operator steer a running job without stopping it: pause
// and resume (a key, or a pause file that exists), and the rate.
type Control struct {
	mu        sync.Mutex
	paused    bool
	pauseFile string
	limiter   *rate.Limiter
	changed   chan struct{}
	log       func(msg string, args ...any)
}

// NewControl returns a control; pauseFile may be "".
func NewControl(pauseFile string) *Control {
	return &Control{pauseFile: pauseFile, changed: make(chan struct{}, 1), log: func(string, ...any) {}}
}

// TogglePause pauses a running job or resumes a paused one.
func (c *Control) TogglePause() {
	c.mu.Lock()
	c.paused = !c.paused
	p := c.paused
	c.mu.Unlock()
	if p {
		c.log("paused by the operator")
	} else {
		c.log("resumed by the operator")
	}
	c.poke()
}

// ScaleRate multiplies the change rate by f (1.25 for +, 0.8 for -).
func (c *Control) ScaleRate(f float64) {
	c.mu.Lock()
	lim := c.limiter
	c.mu.Unlock()
	if lim == nil || lim.Limit() == rate.Inf {
		c.log("rate is unlimited: + and - do nothing")
		return
	}
	n := max(1, float64(lim.Limit())*f)
	lim.SetLimit(rate.Limit(n))
	c.log("rate changed by the operator", "rate", int(n))
}

// Rate is the current change rate (+Inf when unlimited).
func (c *Control) Rate() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.limiter == nil {
		return 0
	}
	return float64(c.limiter.Limit())
}

func (c *Control) attach(lim *rate.Limiter, log func(string, ...any)) {
	c.mu.Lock()
	c.limiter = lim
	c.log = log
	c.mu.Unlock()
}

func (c *Control) poke() {
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// The reasons of an operator's pause.
const (
	pausedByKey   = "paused by the operator (p)"
	pauseFileWord = "pause file "
)

// pausedBy says why the run must wait, or "".
func (c *Control) pausedBy() string {
	c.mu.Lock()
	p := c.paused
	c.mu.Unlock()
	if p {
		return pausedByKey
	}
	if c.pauseFile != "" {
		if _, err := os.Stat(c.pauseFile); err == nil {
			return pauseFileWord + c.pauseFile + " exists"
		}
	}
	return ""
}

// PauseWords says, for a pause reason of the operator's (Progress.Paused),
// who paused the run and how to resume it.
func PauseWords(reason string) (by, resume string) {
	switch {
	case reason == pausedByKey:
		return "the operator (p)", "press p"
	case strings.HasPrefix(reason, pauseFileWord):
		file := strings.TrimSuffix(strings.TrimPrefix(reason, pauseFileWord), " exists")
		return "the pause file " + file, "remove " + file
	}
	return reason, ""
}

// wait blocks while the run is paused; it reports the pause's reason and
// length through onPause.
func (c *Control) wait(ctx context.Context, onPause func(reason string, paused bool)) error {
	reason := c.pausedBy()
	if reason == "" {
		return nil
	}
	onPause(reason, true)
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for c.pausedBy() != "" {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		case <-c.changed:
		}
	}
	onPause(reason, false)
	return nil
}
