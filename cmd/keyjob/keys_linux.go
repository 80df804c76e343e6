package main

import (
	"context"
	"os"

	"golang.org/x/sys/unix"

	"github.com/keyjob/keyjob/apply"
)

// operatorKeys reads single keys from the terminal while a run goes on:
// p pauses and resumes, + and - change the rate by 25%. Only canonical
// mode and echo are turned off, so Ctrl-C still sends SIGINT.
func operatorKeys(ctx context.Context, ctl *apply.Control) (restore func()) {
	fd := int(os.Stdin.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return func() {}
	}
	t := *old
	t.Lflag &^= unix.ICANON | unix.ECHO
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &t); err != nil {
		return func() {}
	}
	go func() {
		buf := make([]byte, 1)
		for ctx.Err() == nil {
			if n, err := os.Stdin.Read(buf); err != nil || n == 0 {
				return
			}
			switch buf[0] {
			case 'p', 'P', ' ':
				ctl.TogglePause()
			case '+', '=':
				ctl.ScaleRate(1.25)
			case '-', '_':
				ctl.ScaleRate(0.8)
			}
		}
	}()
	return func() { unix.IoctlSetTermios(fd, unix.TCSETS, old) }
}
