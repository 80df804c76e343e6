package main

// The guards' wiring in main that needs no server; the guards end to end
// are in guard_e2e_test.go.

import (
	"context"
	"strings"
	"testing"

	"github.com/keyjob/keyjob/internal/redisx"
	"github.com/keyjob/keyjob/jobs"
)

// TestStartGuards_UnguardedRemote: --unguarded against a remote address is
// a usage error (exit 4), refused before anything is asked of the server.
func TestStartGuards_UnguardedRemote(t *testing.T) {
	conn := &redisx.Conn{Addr: "10.1.2.3:6379"}
	g, err := startGuards(context.Background(), conn, &jobs.Job{}, guardOptions{Unguarded: true}, nil)
	if g != nil || err == nil || !strings.Contains(err.Error(), "10.1.2.3:6379 is not one") {
		t.Fatalf("startGuards = %v, %v; want a refusal naming the address", g, err)
	}
	if code := exitCode(err, context.Background()); code != exitUsage {
		t.Fatalf("exit %d, want %d", code, exitUsage)
	}
}
