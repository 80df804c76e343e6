package redistest

import (
	"context"
	"fmt"
	"testing"
)

func TestStartCluster(t *testing.T) {
	c := StartCluster(t, 3, 0)
	cl := c.Client(t)
	ctx := context.Background()
	for i := 0; i < 300; i++ {
		if err := cl.Do(ctx, cl.B().Set().Key(fmt.Sprintf("k:%d", i)).Value("v").Build()).Error(); err != nil {
			t.Fatalf("SET k:%d: %v", i, err)
		}
	}
	snap, err := Snapshot(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(snap), 300; got != want {
		t.Fatalf("snapshot over the cluster has %d keys, want %d", got, want)
	}
	nodes, err := primaries(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(nodes), 3; got != want {
		t.Fatalf("%d primaries, want %d", got, want)
	}
}
