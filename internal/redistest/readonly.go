package redistest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/redis/rueidis"
)

// State is what a read-only check compares before and after a command:
// the dataset's DEBUG DIGEST, every key's Snapshot and every key's OBJECT
// IDLETIME. Reading it touches no key.
type State struct {
	Digest string
	Keys   map[string]KeyState
	Idle   map[string]int64 // seconds; empty under an LFU policy
}

// Digest reads DEBUG DIGEST: a hash of every key, value and whether it has
// an expiry; of a cluster, "ADDR=DIGEST" of every primary, sorted. It
// needs debug commands enabled, as Start and StartCluster do.
func Digest(ctx context.Context, c rueidis.Client) (string, error) {
	nodes, err := primaries(ctx, c)
	if err != nil {
		return "", err
	}
	var out []string
	for _, addr := range slices.Sorted(maps.Keys(nodes)) {
		n := nodes[addr]
		d, err := n.Do(ctx, n.B().Arbitrary("DEBUG", "DIGEST").Build()).ToString()
		if err != nil {
			return "", fmt.Errorf("DEBUG DIGEST %s: %w", addr, err)
		}
		if len(nodes) == 1 {
			return d, nil
		}
		out = append(out, addr+"="+d)
	}
	return strings.Join(out, " "), nil
}

// ReadState reads the state of a server or a cluster. withIdle false leaves
// the idle times out (a server under an LFU policy refuses them).
func ReadState(ctx context.Context, c rueidis.Client, withIdle bool) (State, error) {
	var s State
	var err error
	if s.Digest, err = Digest(ctx, c); err != nil {
		return s, err
	}
	if s.Keys, err = Snapshot(ctx, c); err != nil {
		return s, err
	}
	s.Idle = map[string]int64{}
	if withIdle {
		if s.Idle, err = IdleTimes(ctx, c); err != nil {
			return s, err
		}
	}
	return s, nil
}

// Touched lists, one line each, what differs between before and after in a
// way a read-only command must not cause: another digest, a key added,
// removed or changed (type, value, expiry), or an idle time that went down
// (a read that touched the key's LRU clock). Empty when nothing did.
func (before State) Touched(after State) []string {
	var out []string
	if before.Digest != after.Digest {
		out = append(out, fmt.Sprintf("DEBUG DIGEST %s -> %s", before.Digest, after.Digest))
	}
	if d := Diff(before.Keys, after.Keys); !d.Empty() {
		out = append(out, "keys changed:\n"+d.String())
	}
	for _, k := range slices.Sorted(maps.Keys(before.Idle)) {
		if a, ok := after.Idle[k]; ok && a < before.Idle[k] {
			out = append(out, fmt.Sprintf("OBJECT IDLETIME %s went down: %d -> %d s (the key was touched)", k, before.Idle[k], a))
		}
	}
	return out
}

// WaitIdle waits until key has been idle for at least secs seconds, so
// that a later touch (which resets the idle time to 0) cannot go unnoticed.
// The LRU clock counts whole seconds. A cluster client routes OBJECT
// IDLETIME to the key's node.
func WaitIdle(ctx context.Context, c rueidis.Client, key string, secs int64) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		n, err := c.Do(ctx, c.B().ObjectIdletime().Key(key).Build()).AsInt64()
		if err != nil {
			return fmt.Errorf("OBJECT IDLETIME %s: %w", key, err)
		}
		if n >= secs {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s to be idle %d s: %w", key, secs, ctx.Err())
		case <-tick.C:
		}
	}
}
