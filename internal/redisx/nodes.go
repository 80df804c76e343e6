package redisx

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/redis/rueidis"
)

// Node is one primary keyjob scans. A node is known by its id and the
// run_id of the process that served it: when either changes (a restart, a
// failover) its SCAN cursor means nothing any more.
type Node struct {
	ID     string // CLUSTER MYID, or "standalone"
	Addr   string
	RunID  string // INFO server run_id
	Slots  string // "0-5460", "" for a standalone server
	Client rueidis.Client
}

// Primaries lists the nodes to scan: the server itself when standalone,
// every master when a cluster (SCAN is keyless, so the cluster client would
// send it to a random node).
func (c *Conn) Primaries(ctx context.Context) ([]Node, error) {
	if !c.Cluster {
		info, err := Info(ctx, c.Client, "server")
		if err != nil {
			return nil, explain(c.Addr, err)
		}
		return []Node{{ID: "standalone", Addr: c.Addr, RunID: info["run_id"], Client: c.Client}}, nil
	}
	var nodes []Node
	for addr, nc := range c.Client.Nodes() {
		info, err := Info(ctx, nc, "server")
		if err != nil {
			return nil, explain(addr, err)
		}
		repl, err := Info(ctx, nc, "replication")
		if err != nil {
			return nil, explain(addr, err)
		}
		if repl["role"] != "master" {
			continue
		}
		id, err := nc.Do(ctx, nc.B().ClusterMyid().Build()).ToString()
		if err != nil {
			return nil, explain(addr, fmt.Errorf("CLUSTER MYID: %w", err))
		}
		nodes = append(nodes, Node{ID: id, Addr: addr, RunID: info["run_id"], Client: nc})
	}
	if err := c.fillSlots(ctx, nodes); err != nil {
		return nil, err
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Slots < nodes[j].Slots })
	return nodes, nil
}

// fillSlots names each master's slot ranges from CLUSTER SHARDS' older
// sibling CLUSTER SLOTS, which every cluster version answers.
func (c *Conn) fillSlots(ctx context.Context, nodes []Node) error {
	slots, err := c.Client.Do(ctx, c.Client.B().ClusterSlots().Build()).ToArray()
	if err != nil {
		return explain(c.Addr, fmt.Errorf("CLUSTER SLOTS: %w", err))
	}
	ranges := map[string][]string{}
	for _, s := range slots {
		f, err := s.ToArray()
		if err != nil || len(f) < 3 {
			continue
		}
		lo, _ := f[0].AsInt64()
		hi, _ := f[1].AsInt64()
		master, err := f[2].ToArray()
		if err != nil || len(master) < 3 {
			continue
		}
		id, _ := master[2].ToString()
		ranges[id] = append(ranges[id], fmt.Sprintf("%d-%d", lo, hi))
	}
	for i := range nodes {
		r := ranges[nodes[i].ID]
		sort.Strings(r)
		nodes[i].Slots = strings.Join(r, ",")
	}
	return nil
}

// DBSize is the number of keys in the target's database, over every
// primary of a cluster.
func (c *Conn) DBSize(ctx context.Context) (int64, error) {
	nodes, err := c.Primaries(ctx)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, node := range nodes {
		k, err := node.Client.Do(ctx, node.Client.B().Dbsize().Build()).AsInt64()
		if err != nil {
			return 0, explain(node.Addr, fmt.Errorf("DBSIZE: %w", err))
		}
		n += k
	}
	return n, nil
}
