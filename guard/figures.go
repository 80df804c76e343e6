package guard

import (
	"strings"
	"time"

	"github.com/keyjob/keyjob/internal/redisx"
)

// Figures is what one poll of one node read. A figure the server did not
// report is marked in Blind, and no guard decides on it.
type Figures struct {
	At   time.Time
	Node string // host:port

	UsedMemory      int64
	MaxMemory       int64
	Policy          string
	EvictedKeys     int64
	BgsaveRunning   bool
	RewriteRunning  bool
	AOFEnabled      bool
	AOFWriteErr     bool  // aof_last_write_status:err
	BgsaveErr       bool  // rdb_last_bgsave_status:err
	AOFSize         int64 // aof_current_size plus aof_buffer_length: written or not yet
	AOFBaseSize     int64
	Role            string
	Replicas        int
	ReplOffset      int64   // master_repl_offset
	ReplicaOffsets  []int64 // each online replica's acknowledged offset
	ReplBacklogSize int64

	// DiskFree is the free bytes where the AOF/RDB live; -1 unknown.
	DiskFree int64
	// LatencyP99 is the p99 of the PINGs of the last 10 s; -1 unknown.
	LatencyP99 time.Duration

	// Blind lists figures the server did not give ("maxmemory", "aof", …).
	Blind []string
}

// FromInfo reads the figures of an INFO reply (the default sections).
func FromInfo(info map[string]string, at time.Time) Figures {
	f := Figures{
		At: at, DiskFree: -1, LatencyP99: -1,
		UsedMemory:     redisx.ParseInt(info["used_memory"]),
		MaxMemory:      redisx.ParseInt(info["maxmemory"]),
		Policy:         info["maxmemory_policy"],
		EvictedKeys:    redisx.ParseInt(info["evicted_keys"]),
		BgsaveRunning:  info["rdb_bgsave_in_progress"] == "1",
		RewriteRunning: info["aof_rewrite_in_progress"] == "1",
		AOFEnabled:     info["aof_enabled"] == "1",
		AOFWriteErr:    info["aof_last_write_status"] == "err",
		BgsaveErr:      info["rdb_last_bgsave_status"] == "err",
		// With appendfsync everysec the server holds writes in its AOF
		// buffer while a background fsync is slow (up to 2 s):
		// aof_current_size lags the writes it acknowledged.
		AOFSize:         redisx.ParseInt(info["aof_current_size"]) + redisx.ParseInt(info["aof_buffer_length"]),
		AOFBaseSize:     redisx.ParseInt(info["aof_base_size"]),
		Role:            info["role"],
		Replicas:        int(redisx.ParseInt(info["connected_slaves"])),
		ReplOffset:      redisx.ParseInt(info["master_repl_offset"]),
		ReplBacklogSize: redisx.ParseInt(info["repl_backlog_size"]),
	}
	for k, v := range info {
		if !strings.HasPrefix(k, "slave") || !strings.Contains(v, "offset=") {
			continue
		}
		if field(v, "state") != "online" {
			continue
		}
		f.ReplicaOffsets = append(f.ReplicaOffsets, redisx.ParseInt(field(v, "offset")))
	}
	for _, need := range []struct{ key, name string }{
		{"used_memory", "memory"}, {"maxmemory", "maxmemory"}, {"evicted_keys", "evictions"},
		{"rdb_bgsave_in_progress", "forks"}, {"aof_enabled", "aof"}, {"connected_slaves", "replication"},
	} {
		if _, ok := info[need.key]; !ok {
			f.Blind = append(f.Blind, need.name)
		}
	}
	return f
}

// field reads name=value out of "ip=…,port=…,state=online,offset=…,lag=0".
func field(s, name string) string {
	for _, kv := range strings.Split(s, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v
		}
	}
	return ""
}

// ReplicaLag is the largest offset lag of the node's replicas, in bytes.
func (f Figures) ReplicaLag() int64 {
	var lag int64
	for _, off := range f.ReplicaOffsets {
		lag = max(lag, f.ReplOffset-off)
	}
	return lag
}

func (f Figures) blind(name string) bool {
	for _, b := range f.Blind {
		if b == name {
			return true
		}
	}
	return false
}
