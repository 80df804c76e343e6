package redisx

import (
	"context"
	"strings"

	"github.com/redis/rueidis"
)

// SlowCalls reads the whole SLOWLOG and returns the duration (µs) of each
// call logged, per command (upper case); an EVALSHA is named after its
// script when scripts (SHA -> name) knows it. SLOWLOG's own calls are left
// out. With slowlog-log-slower-than 0 it is every call: the figures of a
// benchmark or a test that measures calls, not of keyjob's runs.
func SlowCalls(ctx context.Context, c rueidis.Client, scripts map[string]string) (map[string][]int64, error) {
	entries, err := c.Do(ctx, c.B().SlowlogGet().Count(-1).Build()).ToArray()
	if err != nil {
		return nil, err
	}
	calls := map[string][]int64{}
	for _, e := range entries {
		f, err := e.ToArray()
		if err != nil || len(f) < 4 {
			continue
		}
		us, _ := f[2].AsInt64()
		args, _ := f[3].AsStrSlice()
		if len(args) == 0 || strings.EqualFold(args[0], "SLOWLOG") {
			continue
		}
		name := strings.ToUpper(args[0])
		if n, ok := scripts[strings.ToLower(safeArg(args, 1))]; ok && name == "EVALSHA" {
			name += " " + n
		}
		calls[name] = append(calls[name], us)
	}
	return calls, nil
}

func safeArg(args []string, i int) string {
	if i < len(args) {
		return args[i]
	}
	return ""
}
