package redisx

import "github.com/keyjob/keyjob/internal/words"

// Server names the server a report read, never with a password: the
// fields the plan's and the survey's targets share, in the order their
// JSON has them (each embeds it).
type Server struct {
	Address      string `json:"address"` // host:port
	DB           int    `json:"db"`
	Mode         string `json:"mode"` // standalone | cluster
	RedisVersion string `json:"redis_version"`
	Role         string `json:"role"` // master | replica
}

// String is host:port/db.
func (s Server) String() string { return words.Target(s.Address, s.DB) }

// Memory is the server's memory as a report shows it.
type Memory struct {
	UsedMemory      int64  `json:"used_memory"`
	MaxMemory       int64  `json:"maxmemory"` // 0: no limit
	MaxMemoryPolicy string `json:"maxmemory_policy"`
}

// ServerOf is the connection's server, from its INFO (server,
// replication): Redis's role "slave" is called replica.
func ServerOf(conn *Conn, info map[string]string) Server {
	role := info["role"]
	if role == "slave" {
		role = "replica"
	}
	return Server{Address: conn.Addr, DB: conn.DB, Mode: conn.Mode(), RedisVersion: info["redis_version"], Role: role}
}

// MemoryOf is the memory figures of an INFO memory section.
func MemoryOf(info map[string]string) Memory {
	return Memory{UsedMemory: ParseInt(info["used_memory"]), MaxMemory: ParseInt(info["maxmemory"]), MaxMemoryPolicy: info["maxmemory_policy"]}
}
