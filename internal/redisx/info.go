package redisx

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"
)

// Info reads INFO (the default sections when none is named, which every
// server version answers in one call) into field → value. Keyspace lines
// keep their raw value ("keys=1,expires=0,avg_ttl=0").
func Info(ctx context.Context, client rueidis.Client, section ...string) (map[string]string, error) {
	cmd := client.B().Info().Section(section...).Build()
	if len(section) == 0 {
		cmd = client.B().Info().Build()
	}
	s, err := client.Do(ctx, cmd).ToString()
	if err != nil {
		return nil, fmt.Errorf("INFO: %w", err)
	}
	return ParseInfo(s), nil
}

// ParseInfo parses INFO's text. Over RESP3 the text is a verbatim string
// that may start with "txt:".
func ParseInfo(s string) map[string]string {
	s = strings.TrimPrefix(s, "txt:")
	m := make(map[string]string, 128)
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" || line[0] == '#' {
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = v
		}
	}
	return m
}

// DBKeys is one line of INFO keyspace.
type DBKeys struct {
	DB      int   `json:"db"`
	Keys    int64 `json:"keys"`
	Expires int64 `json:"expires"`
}

// Keyspace reads the db lines of an INFO map, in db order.
func Keyspace(info map[string]string) []DBKeys {
	var out []DBKeys
	for k, v := range info {
		n, ok := strings.CutPrefix(k, "db")
		if !ok {
			continue
		}
		db, err := strconv.Atoi(n)
		if err != nil {
			continue
		}
		d := DBKeys{DB: db}
		for _, f := range strings.Split(v, ",") {
			name, val, _ := strings.Cut(f, "=")
			switch name {
			case "keys":
				d.Keys = ParseInt(val)
			case "expires":
				d.Expires = ParseInt(val)
			}
		}
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].DB < out[j].DB })
	return out
}

// ServerTime is the server's clock (TIME): "now" for every decision, so
// that keyjob's own clock never matters.
func ServerTime(ctx context.Context, client rueidis.Client) (time.Time, error) {
	v, err := client.Do(ctx, client.B().Time().Build()).AsStrSlice()
	if err != nil {
		return time.Time{}, fmt.Errorf("TIME: %w", err)
	}
	return parseTime(v)
}

func parseTime(v []string) (time.Time, error) {
	if len(v) != 2 {
		return time.Time{}, fmt.Errorf("TIME: want 2 fields, got %d", len(v))
	}
	sec, err1 := strconv.ParseInt(v[0], 10, 64)
	usec, err2 := strconv.ParseInt(v[1], 10, 64)
	if err1 != nil || err2 != nil {
		return time.Time{}, fmt.Errorf("TIME: not numbers: %q", v)
	}
	return time.Unix(sec, usec*1000), nil
}

// TimeOf parses a TIME reply received in a pipeline.
func TimeOf(r rueidis.RedisResult) (time.Time, error) {
	v, err := r.AsStrSlice()
	if err != nil {
		return time.Time{}, fmt.Errorf("TIME: %w", err)
	}
	return parseTime(v)
}

// ConfigGet reads CONFIG GET for each name, one call each (servers before 7
// take one pattern a call). Managed services often refuse CONFIG: the error
// says so and callers treat the figures as unknown.
func ConfigGet(ctx context.Context, client rueidis.Client, names ...string) (map[string]string, error) {
	out := make(map[string]string, len(names))
	for _, n := range names {
		// RESP3 answers a map, RESP2 a flat list.
		res := client.Do(ctx, client.B().ConfigGet().Parameter(n).Build())
		if m, err := res.AsStrMap(); err == nil {
			for k, v := range m {
				out[k] = v
			}
			continue
		}
		kv, err := res.AsStrSlice()
		if err != nil {
			return out, fmt.Errorf("CONFIG GET %s: %w", n, err)
		}
		for i := 0; i+1 < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
	}
	return out, nil
}

// Major is the server's major version from INFO server, 0 when unknown.
func Major(info map[string]string) int {
	n, _ := strconv.Atoi(strings.SplitN(info["redis_version"], ".", 2)[0])
	return n
}

// MinMajor is the oldest Redis plan, apply and undo run on: EXPIRE
// NX/GT/LT and PEXPIRETIME (7.0) make the atomic re-check and the exact
// journal possible. Valkey answers redis_version 7.2.4.
const MinMajor = 7

// NeedVersion refuses a server older than MinMajor, naming the minimum;
// info is its INFO server. survey, read-only, runs on older servers too.
func NeedVersion(addr string, info map[string]string) error {
	if Major(info) >= MinMajor {
		return nil
	}
	return fmt.Errorf("%s runs Redis %s; keyjob needs Redis 7.0 or later (EXPIRE NX/GT/LT, PEXPIRETIME) for plan, apply and undo: nothing was changed; survey works on it", addr, info["redis_version"])
}
