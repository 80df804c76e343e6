package planner

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/keyjob/keyjob/internal/redisx"
)

// server is what the planner reads of the target before it scans.
type server struct {
	info   map[string]string
	config map[string]string
	// configErr is set when CONFIG GET is refused (managed services).
	configErr error
	major     int
}

func readServer(ctx context.Context, conn *redisx.Conn) (*server, error) {
	info, err := redisx.Info(ctx, conn.Client)
	if err != nil {
		return nil, err
	}
	s := &server{info: info}
	s.config, s.configErr = redisx.ConfigGet(ctx, conn.Client,
		"save", "auto-aof-rewrite-percentage", "auto-aof-rewrite-min-size")
	s.major, _ = strconv.Atoi(strings.SplitN(info["redis_version"], ".", 2)[0])
	return s, nil
}

func (s *server) int(name string) int64 { return redisx.ParseInt(s.info[name]) }

// configInt is a CONFIG value, or -1 when CONFIG cannot be read.
func (s *server) configInt(name string) int64 {
	v, ok := s.config[name]
	if !ok {
		return -1
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return -1
	}
	return n
}

func (s *server) target(conn *redisx.Conn, nodes int) Target {
	t := Target{
		Server:                   redisx.ServerOf(conn, s.info),
		Replicas:                 int(s.int("connected_slaves")),
		Nodes:                    nodes,
		Memory:                   redisx.MemoryOf(s.info),
		AOF:                      s.info["aof_enabled"] == "1",
		AOFSize:                  s.int("aof_current_size"),
		AOFBaseSize:              s.int("aof_base_size"),
		Save:                     s.config["save"],
		AutoAOFRewritePercentage: s.configInt("auto-aof-rewrite-percentage"),
		AutoAOFRewriteMinSize:    s.configInt("auto-aof-rewrite-min-size"),
		ReplBacklogSize:          s.int("repl_backlog_size"),
		ConfigReadable:           s.configErr == nil,
	}
	switch {
	case s.info["rdb_bgsave_in_progress"] == "1":
		t.ForkInProgress = "BGSAVE"
	case s.info["aof_rewrite_in_progress"] == "1":
		t.ForkInProgress = "AOF rewrite"
	}
	for _, k := range redisx.Keyspace(s.info) {
		t.Keyspace = append(t.Keyspace, KeyspaceLine(k))
	}
	return t
}

// dbsize is the number of keys in the target's database.
func (t Target) dbsize() (keys, expires int64) {
	for _, k := range t.Keyspace {
		if k.DB == t.DB {
			return k.Keys, k.Expires
		}
	}
	return 0, 0
}

// clusterKeyspace adds up INFO keyspace over a cluster's primaries: each
// holds only its slots' keys.
func clusterKeyspace(ctx context.Context, nodes []redisx.Node) ([]KeyspaceLine, error) {
	var sum KeyspaceLine
	for _, n := range nodes {
		info, err := redisx.Info(ctx, n.Client, "keyspace")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n.Addr, err)
		}
		for _, k := range redisx.Keyspace(info) {
			sum.Keys += k.Keys
			sum.Expires += k.Expires
		}
	}
	return []KeyspaceLine{sum}, nil
}
