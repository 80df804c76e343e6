package redistest

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/moby/moby/client"
	tcexec "github.com/testcontainers/testcontainers-go/exec"
)

// Kill stops the server with SIGKILL: no shutdown save, no AOF flush beyond
// what appendfsync already wrote. Restart brings it back.
func (s *Server) Kill(ctx context.Context) error {
	docker, _, err := setup()
	if err != nil {
		return err
	}
	if _, err := docker.ContainerKill(ctx, s.Container.GetContainerID(), client.ContainerKillOptions{Signal: "SIGKILL"}); err != nil {
		return fmt.Errorf("kill redis: %w", err)
	}
	return nil
}

// Restart stops the server (SIGTERM, so Redis shuts down cleanly; a killed
// server stays killed) and starts the same container again: same files in
// /data unless Options.Tmpfs put them on a tmpfs, which Docker discards.
// It returns once the server answers PING, having loaded its data. URL and
// Addr change: clients made before must be replaced.
func (s *Server) Restart(ctx context.Context) error {
	timeout := 10 * time.Second
	if err := s.Container.Stop(ctx, &timeout); err != nil {
		return fmt.Errorf("stop redis: %w", err)
	}
	if err := s.Container.Start(ctx); err != nil {
		return fmt.Errorf("start redis: %w", err)
	}
	return s.ready(ctx)
}

// Pause freezes the server's processes (docker pause): connections stay
// open and nothing answers until Unpause.
func (s *Server) Pause(ctx context.Context) error {
	docker, _, err := setup()
	if err != nil {
		return err
	}
	if _, err := docker.ContainerPause(ctx, s.Container.GetContainerID(), client.ContainerPauseOptions{}); err != nil {
		return fmt.Errorf("pause redis: %w", err)
	}
	return nil
}

// Unpause resumes a paused server.
func (s *Server) Unpause(ctx context.Context) error {
	docker, _, err := setup()
	if err != nil {
		return err
	}
	if _, err := docker.ContainerUnpause(ctx, s.Container.GetContainerID(), client.ContainerUnpauseOptions{}); err != nil {
		return fmt.Errorf("unpause redis: %w", err)
	}
	return nil
}

// Exec runs a command in the server's container, e.g. "df", "-B1", "/data"
// or "redis-cli", "info", and returns its stdout and stderr. A non-zero exit
// is an error that carries the output.
func (s *Server) Exec(ctx context.Context, cmd ...string) (string, error) {
	code, r, err := s.Container.Exec(ctx, cmd, tcexec.Multiplexed())
	if err != nil {
		return "", fmt.Errorf("exec %s: %w", strings.Join(cmd, " "), err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		return "", fmt.Errorf("exec %s: read output: %w", strings.Join(cmd, " "), err)
	}
	if code != 0 {
		return string(out), fmt.Errorf("exec %s: exit status %d: %s", strings.Join(cmd, " "), code, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}
