package guard

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// DiskProbe reads the free bytes where a node keeps its AOF and RDB.
type DiskProbe interface {
	Free(ctx context.Context, node string) (int64, error)
	String() string
}

// PathProbe is --disk-path: statfs of a directory on the server's disk
// (keyjob runs on the Redis host, or the path is a mount of it).
type PathProbe string

func (p PathProbe) Free(context.Context, string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(string(p), &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", string(p), err)
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

func (p PathProbe) String() string { return "--disk-path " + string(p) }

// CommandProbe is --disk-free-command: a shell command, from the operator
// and never from a job file, that prints the free bytes. It runs with
// KEYJOB_NODE=host:port of the node asked about.
type CommandProbe string

func (p CommandProbe) Free(ctx context.Context, node string) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", string(p))
	cmd.Env = append(os.Environ(), "KEYJOB_NODE="+node)
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("--disk-free-command: %w", err)
	}
	fields := strings.Fields(string(out))
	if len(fields) == 0 {
		return 0, fmt.Errorf("--disk-free-command printed nothing; it must print the free bytes")
	}
	n, err := strconv.ParseInt(fields[len(fields)-1], 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("--disk-free-command printed %q; it must print the free bytes as a number", strings.TrimSpace(string(out)))
	}
	return n, nil
}

func (p CommandProbe) String() string { return "--disk-free-command" }
