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

func TestLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:6379": true, "127.1.2.3:6379": true, "[::1]:6379": true, "localhost:6379": true,
		"10.0.0.1:6379": false, "192.168.1.10:6379": false, "[2001:db8::1]:6379": false,
		"redis.example.com:6379": false, "localhost.example.com:6379": false,
		"127.0.0.1": false, "": false, // no port: not an address
	} {
		if got := loopback(addr); got != want {
			t.Errorf("loopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

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
