// Package sandbox starts a throwaway Redis for `keyjob demo`: a container
// when Docker and a Redis image are there, else a redis-server from the
// PATH, always on loopback, always removed afterwards (unless kept).
//
// It is not the test harness (internal/redistest): tests need fault
// injection and testcontainers' cleanup; the demo needs nothing but a
// server a new user can point keyjob at.
package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/redis/rueidis"
)

// Server is a running throwaway Redis.
type Server struct {
	URL string
	// How says what was started: "container keyjob-redis:local (3f2a…)" or
	// "redis-server 7.0.15 (pid 1234)".
	How  string
	stop func() error
	hint string
}

// Stop removes the server and its data.
func (s *Server) Stop() error { return s.stop() }

// Images are tried in order when $KEYJOB_REDIS_IMAGE is unset; only
// images already present are used (nothing is pulled).
var Images = []string{"localhost/keyjob-redis:local", "redis:7.4", "redis:7", "redis:latest"}

// ErrNoRedis says neither Docker with a Redis image nor redis-server is
// available, and what to install.
var ErrNoRedis = errors.New("no Redis to start: need Docker with a Redis image (make image builds one from Debian's redis-server) or redis-server on the PATH (apt-get install redis-server)")

// Start starts a throwaway Redis with the given extra server arguments.
func Start(ctx context.Context, args ...string) (*Server, error) {
	if img := image(ctx); img != "" {
		return startContainer(ctx, img, args)
	}
	if path, err := exec.LookPath("redis-server"); err == nil {
		return startProcess(ctx, path, args)
	}
	return nil, ErrNoRedis
}

func image(ctx context.Context) string {
	if _, err := exec.LookPath("docker"); err != nil {
		return ""
	}
	candidates := Images
	if env := os.Getenv("KEYJOB_REDIS_IMAGE"); env != "" {
		candidates = []string{env}
	}
	for _, img := range candidates {
		if exec.CommandContext(ctx, "docker", "image", "inspect", img).Run() == nil {
			return img
		}
	}
	return ""
}

func startContainer(ctx context.Context, img string, args []string) (*Server, error) {
	// The entrypoint is redis-server itself in every image: the official
	// one's script would take "redis-server" as its command, the local
	// FROM scratch image has no script at all.
	run := append([]string{"run", "-d", "--rm", "-p", "127.0.0.1::6379", "--label", "keyjob.demo=true",
		"--entrypoint", "redis-server", img, "--protected-mode", "no", "--save", ""}, args...)
	out, err := exec.CommandContext(ctx, "docker", run...).Output()
	if err != nil {
		return nil, fmt.Errorf("docker run %s: %w", img, exitDetail(err))
	}
	id := strings.TrimSpace(string(out))
	stop := func() error {
		return exec.Command("docker", "rm", "-f", id).Run()
	}
	port, err := exec.CommandContext(ctx, "docker", "port", id, "6379/tcp").Output()
	if err != nil {
		stop()
		return nil, fmt.Errorf("docker port: %w", exitDetail(err))
	}
	addr := strings.TrimSpace(strings.Split(string(port), "\n")[0])
	s := &Server{URL: "redis://" + addr + "/0", How: fmt.Sprintf("container %s (%.12s)", img, id), stop: stop, hint: "docker rm -f " + id[:12]}
	if err := waitReady(ctx, addr); err != nil {
		stop()
		return nil, err
	}
	return s, nil
}

func startProcess(ctx context.Context, path string, args []string) (*Server, error) {
	dir, err := os.MkdirTemp("", "keyjob-demo-")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	argv := append([]string{"--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--daemonize", "no", "--logfile", dir + "/redis.log"}, args...)
	cmd := exec.Command(path, argv...)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", path, err)
	}
	stop := func() error {
		cmd.Process.Kill()
		cmd.Wait()
		return os.RemoveAll(dir)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	s := &Server{URL: "redis://" + addr + "/0", How: fmt.Sprintf("%s (pid %d)", path, cmd.Process.Pid), stop: stop,
		hint: fmt.Sprintf("kill %d; rm -r %s", cmd.Process.Pid, dir)}
	if err := waitReady(ctx, addr); err != nil {
		stop()
		return nil, err
	}
	return s, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitReady polls PING until the server answers (not LOADING), for at
// most 20 s.
func waitReady(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var last error
	for {
		c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true, ForceSingleClient: true})
		if err == nil {
			err = c.Do(ctx, c.B().Ping().Build()).Error()
			c.Close()
			if err == nil {
				return nil
			}
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("redis at %s did not answer PING: %v", addr, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func exitDetail(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) && len(bytes.TrimSpace(ee.Stderr)) > 0 {
		return fmt.Errorf("%w: %s", err, bytes.TrimSpace(ee.Stderr))
	}
	return err
}

// StopHint says how to stop a kept server by hand.
func (s *Server) StopHint() string { return s.hint }
