package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// launchEnv makes the bench binary a small launcher: it runs the command
// of its arguments, waits for it, and writes the child's rusage (peak RSS
// in KiB, user and system CPU in µs) to the file the variable names.
//
// A child's peak RSS counts its parent's resident memory until its exec:
// Go starts a child with CLONE_VM, sharing the parent's memory, and at
// exec the kernel records that memory's high-water mark as the child's
// own. Started from the bench, which has seeded a keyspace and holds a
// client per server, keyjob's peak would read as the bench's. The
// launcher is a fresh exec of the bench's binary that does nothing
// else: its high-water mark, which is then the floor of what it reads of
// its child, is about 12 MiB (/bin/true reads as that), below any keyjob
// run's 25 MiB or more.
const launchEnv = "KEYJOB_BENCH_LAUNCH_RUSAGE"

// launch is the launcher's whole life; it returns the exit code.
func launch(out string, args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "bench launcher: no command")
		return 2
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = withoutEnv(os.Environ(), launchEnv)
	// The child dies with the launcher, which dies with the bench.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err := cmd.Run()
	if cmd.ProcessState == nil {
		fmt.Fprintln(os.Stderr, "bench launcher:", err)
		return 127
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		line := fmt.Sprintf("%d %d %d\n", ru.Maxrss, ru.Utime.Nano()/1e3, ru.Stime.Nano()/1e3)
		if werr := os.WriteFile(out, []byte(line), 0o644); werr != nil {
			fmt.Fprintln(os.Stderr, "bench launcher:", werr)
		}
	}
	if code := cmd.ProcessState.ExitCode(); code >= 0 {
		return code
	}
	return 128 + int(cmd.ProcessState.Sys().(syscall.WaitStatus).Signal())
}

func withoutEnv(env []string, name string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// launched is the command bin args, started through the launcher (this
// binary, launchEnv set), and the file where the launcher writes the
// child's rusage.
func launched(ctx context.Context, bin string, args []string, rusageFile string) (*exec.Cmd, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("the bench's own binary, for the launcher: %w", err)
	}
	os.Remove(rusageFile)
	cmd := exec.CommandContext(ctx, self, append([]string{bin}, args...)...)
	cmd.Env = append(os.Environ(), launchEnv+"="+rusageFile)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd, nil
}

// launchedUsage reads what the launcher wrote of its child; ok is false
// when it wrote nothing (the launcher itself failed).
func launchedUsage(rusageFile string) (u usage, ok bool) {
	b, err := os.ReadFile(rusageFile)
	if err != nil {
		return u, false
	}
	f := strings.Fields(string(b))
	if len(f) != 3 {
		return u, false
	}
	var n [3]int64
	for i := range f {
		if n[i], err = strconv.ParseInt(f[i], 10, 64); err != nil {
			return u, false
		}
	}
	return usage{RSS: n[0] * 1024, CPU: time.Duration(n[1]+n[2]) * time.Microsecond}, true
}
