package guard

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/keyjob/keyjob/internal/redisx"
)

// testdata/info-primary.txt is the INFO of a real redis-server 7.0.15
// (AOF on, maxmemory 100mb allkeys-lru) with one replica attached, CRLF
// line ends as the server sends them. Edited by hand: the replica's
// offset lowered to 1500 (a lag of 405 bytes) and a second replica still
// waiting for its BGSAVE added (connected_slaves 2).
func readInfo(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestFromInfo(t *testing.T) {
	text := readInfo(t, "info-primary.txt")
	want := Figures{
		At: t0, DiskFree: -1, LatencyP99: -1,
		UsedMemory: 1088224, MaxMemory: 104857600, Policy: "allkeys-lru",
		AOFEnabled: true, AOFSize: 1905,
		Role: "master", Replicas: 2,
		ReplOffset: 1905, ReplicaOffsets: []int64{1500}, // the replica in wait_bgsave has no offset yet
		ReplBacklogSize: 1048576,
	}
	for name, text := range map[string]string{"RESP2": text, "RESP3 verbatim": "txt:" + text} {
		t.Run(name, func(t *testing.T) {
			got := FromInfo(redisx.ParseInfo(text), t0)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("FromInfo =\n%+v\nwant\n%+v", got, want)
			}
			if lag := got.ReplicaLag(); lag != 405 {
				t.Errorf("ReplicaLag = %d, want 405", lag)
			}
		})
	}

	edit := func(old, new string) Figures {
		t.Helper()
		if !strings.Contains(text, old) {
			t.Fatalf("sample has no %q", old)
		}
		return FromInfo(redisx.ParseInfo(strings.Replace(text, old, new, 1)), t0)
	}
	if f := edit("rdb_bgsave_in_progress:0", "rdb_bgsave_in_progress:1"); !f.BgsaveRunning || f.RewriteRunning {
		t.Errorf("BGSAVE in progress: %+v", f)
	}
	if f := edit("aof_rewrite_in_progress:0", "aof_rewrite_in_progress:1"); !f.RewriteRunning || f.BgsaveRunning {
		t.Errorf("AOF rewrite in progress: %+v", f)
	}
	if f := edit("aof_last_write_status:ok", "aof_last_write_status:err"); !f.AOFWriteErr || f.BgsaveErr {
		t.Errorf("AOF write error: %+v", f)
	}
	if f := edit("rdb_last_bgsave_status:ok", "rdb_last_bgsave_status:err"); !f.BgsaveErr || f.AOFWriteErr {
		t.Errorf("BGSAVE error: %+v", f)
	}
	if f := edit("aof_buffer_length:0", "aof_buffer_length:1000"); f.AOFSize != 2905 {
		t.Errorf("AOF with 1000 bytes not yet written: AOFSize %d, want 2905", f.AOFSize)
	}
	if f := edit("evicted_keys:0", "evicted_keys:12345"); f.EvictedKeys != 12345 {
		t.Errorf("evicted_keys: %d", f.EvictedKeys)
	}
	// Fields of a replica line in another order, and three replicas.
	f := edit("slave1:ip=172.17.0.9,port=6379,state=wait_bgsave,offset=0,lag=0",
		"slave1:offset=1900,lag=0,state=online,ip=172.17.0.9,port=6379\r\nslave2:ip=172.17.0.10,port=6379,state=online,offset=1000,lag=3")
	if got := f.ReplicaLag(); got != 905 || len(f.ReplicaOffsets) != 3 {
		t.Errorf("three replicas: offsets %v lag %d, want lag 905 (the slowest)", f.ReplicaOffsets, got)
	}
}

// TestFromInfo_Replica reads a replica's INFO replication: its own
// slave_* fields are not replicas of its own.
func TestFromInfo_Replica(t *testing.T) {
	f := FromInfo(redisx.ParseInfo(readInfo(t, "info-replica-replication.txt")), t0)
	if f.Role != "slave" || f.Replicas != 0 || len(f.ReplicaOffsets) != 0 || f.ReplicaLag() != 0 {
		t.Fatalf("replica: %+v", f)
	}
	// Only the replication section: the rest is blind.
	want := []string{"memory", "maxmemory", "evictions", "forks", "aof"}
	if !reflect.DeepEqual(f.Blind, want) {
		t.Errorf("Blind = %v, want %v", f.Blind, want)
	}
}

func ones(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = 1
	}
	return out
}

func thousandUS() []ping {
	out := make([]ping, 1000)
	for i := range out {
		d := time.Duration(i+1) * time.Microsecond
		out[i] = ping{d: d, w: weight(d)}
	}
	return out
}

func TestP99(t *testing.T) {
	ms := func(ds ...int) []ping {
		var out []ping
		for _, d := range ds {
			out = append(out, ping{d: time.Duration(d) * time.Millisecond, w: weight(time.Duration(d) * time.Millisecond)})
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1 // 1..100 ms
	}
	cases := []struct {
		name  string
		pings []ping
		want  time.Duration
	}{
		{"none: unknown", nil, -1},
		{"one", ms(3), 3 * time.Millisecond},
		{"ten, one stalled 2 s: it stands for 20", ms(1, 1, 1, 1, 2000, 1, 1, 1, 1, 1), 2 * time.Second},
		{"ten: the third slowest, never one or two alone", ms(5, 1, 2, 3, 4, 6, 7, 8, 9, 10), 8 * time.Millisecond},
		{"a hundred of 1..100 ms: the third slowest", ms(hundred...), 98 * time.Millisecond},
		{"a thousand of 1..1000 µs: the p99", thousandUS(), 990 * time.Microsecond},
		{"twenty of 1 ms, two of 40 ms (a quiet 2-core box with 40 nodes): noise", ms(append(ones(20), 40, 40)...), time.Millisecond},
		{"twenty of 1 ms, three of 40 ms: a slow node", ms(append(ones(20), 40, 40, 40)...), 40 * time.Millisecond},
		{"a hundred of 1 ms and one of 11 ms: a spike is not the p99", ms(append(ones(100), 11)...), time.Millisecond},
		{"a hundred of 1 ms and two of 11 ms: not yet", ms(append(ones(100), 11, 11)...), time.Millisecond},
		{"a hundred of 1 ms and three of 11 ms: three are", ms(append(ones(100), 11, 11, 11)...), 11 * time.Millisecond},
		{"twenty of 1 ms, one stalled 2 s on a node read once a second", ms(append(ones(20), 2000)...), 2 * time.Second},
		{"a hundred of 1 ms and one of 300 ms: a stall of 3 pings", ms(append(ones(100), 300)...), 300 * time.Millisecond},
	}
	for _, c := range cases {
		if got := p99(c.pings); got != c.want {
			t.Errorf("%s: p99 = %s, want %s", c.name, got, c.want)
		}
	}
}
