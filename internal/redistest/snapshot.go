package redistest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/redis/rueidis"
)

// KeyState is what a snapshot records of one key.
type KeyState struct {
	Type     string // TYPE: string, hash, list, ...
	Digest   string // DEBUG DIGEST-VALUE: changes when the value changes
	ExpireAt int64  // PEXPIRETIME in Unix milliseconds; -1 when the key has no TTL
}

// Snapshot reads every key's type, value digest and absolute expiry. It
// leaves the LRU/LFU clocks alone (TYPE, DEBUG DIGEST-VALUE and PEXPIRETIME
// do not touch keys), so IdleTimes afterwards still sees the workload's
// idle times. It needs debug commands enabled, as Start does, and Redis 7.
// With a cluster client it reads every primary.
func Snapshot(ctx context.Context, c rueidis.Client) (map[string]KeyState, error) {
	snap := make(map[string]KeyState)
	err := eachKeyBatch(ctx, c, func(node rueidis.Client, keys []string) error {
		cmds := make(rueidis.Commands, 0, 3*len(keys))
		for _, k := range keys {
			cmds = append(cmds,
				node.B().Type().Key(k).Build(),
				node.B().Arbitrary("DEBUG", "DIGEST-VALUE").Keys(k).Build(),
				node.B().Pexpiretime().Key(k).Build(),
			)
		}
		res := node.DoMulti(ctx, cmds...)
		for i, k := range keys {
			typ, err := res[3*i].ToString()
			if err != nil {
				return fmt.Errorf("TYPE %s: %w", k, err)
			}
			if typ == "none" {
				continue // expired or deleted since SCAN returned it
			}
			digest, err := res[3*i+1].AsStrSlice()
			if err != nil || len(digest) != 1 {
				return fmt.Errorf("DEBUG DIGEST-VALUE %s (are debug commands enabled?): %v", k, err)
			}
			at, err := res[3*i+2].AsInt64()
			if err != nil {
				return fmt.Errorf("PEXPIRETIME %s: %w", k, err)
			}
			if at == -2 {
				continue
			}
			snap[k] = KeyState{Type: typ, Digest: digest[0], ExpireAt: at}
		}
		return nil
	})
	return snap, err
}

// IdleTimes reads OBJECT IDLETIME, in seconds, of every key. Redis refuses
// it under an LFU maxmemory policy.
func IdleTimes(ctx context.Context, c rueidis.Client) (map[string]int64, error) {
	idle := make(map[string]int64)
	err := eachKeyBatch(ctx, c, func(node rueidis.Client, keys []string) error {
		cmds := make(rueidis.Commands, 0, len(keys))
		for _, k := range keys {
			cmds = append(cmds, node.B().ObjectIdletime().Key(k).Build())
		}
		for i, r := range node.DoMulti(ctx, cmds...) {
			if rueidis.IsRedisNil(r.Error()) {
				continue // gone since SCAN
			}
			n, err := r.AsInt64()
			if err != nil {
				return fmt.Errorf("OBJECT IDLETIME %s: %w", keys[i], err)
			}
			idle[keys[i]] = n
		}
		return nil
	})
	return idle, err
}

// eachKeyBatch SCANs every primary behind c and hands each batch of keys to
// fn with the client of the node that holds them.
func eachKeyBatch(ctx context.Context, c rueidis.Client, fn func(node rueidis.Client, keys []string) error) error {
	nodes, err := primaries(ctx, c)
	if err != nil {
		return err
	}
	for addr, node := range nodes {
		var cursor uint64
		for {
			e, err := node.Do(ctx, node.B().Scan().Cursor(cursor).Count(1000).Build()).AsScanEntry()
			if err != nil {
				return fmt.Errorf("scan %s: %w", addr, err)
			}
			if len(e.Elements) > 0 {
				if err := fn(node, e.Elements); err != nil {
					return fmt.Errorf("%s: %w", addr, err)
				}
			}
			if cursor = e.Cursor; cursor == 0 {
				break
			}
		}
	}
	return nil
}

// primaries returns the nodes to scan: the one server of a standalone
// client (whatever its role, so a replica can be snapshotted too) or every
// primary of a cluster.
func primaries(ctx context.Context, c rueidis.Client) (map[string]rueidis.Client, error) {
	nodes := c.Nodes()
	if len(nodes) <= 1 {
		return nodes, nil
	}
	out := make(map[string]rueidis.Client)
	for addr, node := range nodes {
		role, err := node.Do(ctx, node.B().Role().Build()).ToArray()
		if err != nil || len(role) == 0 {
			return nil, fmt.Errorf("ROLE %s: %v", addr, err)
		}
		if r, _ := role[0].ToString(); r == "master" {
			out[addr] = node
		}
	}
	return out, nil
}

// Changes is the difference between two snapshots, keys sorted.
type Changes struct {
	Added   []string // only in after
	Removed []string // only in before
	Changed []string // in both, with another type, value or expiry

	before, after map[string]KeyState
}

// Diff compares two snapshots.
func Diff(before, after map[string]KeyState) Changes {
	ch := Changes{before: before, after: after}
	for _, k := range slices.Sorted(maps.Keys(before)) {
		a, ok := after[k]
		switch {
		case !ok:
			ch.Removed = append(ch.Removed, k)
		case a != before[k]:
			ch.Changed = append(ch.Changed, k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(after)) {
		if _, ok := before[k]; !ok {
			ch.Added = append(ch.Added, k)
		}
	}
	return ch
}

// Empty reports whether the snapshots were equal.
func (c Changes) Empty() bool {
	return len(c.Added)+len(c.Removed)+len(c.Changed) == 0
}

// String lists the changes one key a line, for test failure messages.
func (c Changes) String() string {
	var b strings.Builder
	for _, k := range c.Added {
		fmt.Fprintf(&b, "+ %s %s\n", k, c.after[k])
	}
	for _, k := range c.Removed {
		fmt.Fprintf(&b, "- %s %s\n", k, c.before[k])
	}
	for _, k := range c.Changed {
		fmt.Fprintf(&b, "~ %s %s -> %s\n", k, c.before[k], c.after[k])
	}
	return b.String()
}

// String renders a key state compactly: "string digest=ab12… expireat=-1".
func (s KeyState) String() string {
	d := s.Digest
	if len(d) > 12 {
		d = d[:12] + "…"
	}
	return fmt.Sprintf("%s digest=%s expireat=%d", s.Type, d, s.ExpireAt)
}
