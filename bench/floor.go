package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/rueidis"
)

const (
	floorMatch = "ticket:*"
	floorCount = 1000
	year       = 365 * 24 * time.Hour
	grace      = time.Hour
)

// floorScan is the bare SCAN MATCH loop: what walking the keyspace costs
// and nothing else.
func floorScan(ctx context.Context, url string) (int64, error) {
	c, err := dialFloor(url)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	var cursor uint64
	var keys int64
	for {
		e, err := c.Do(ctx, c.B().Scan().Cursor(cursor).Match(floorMatch).Count(floorCount).Build()).AsScanEntry()
		if err != nil {
			return keys, err
		}
		keys += int64(len(e.Elements))
		if cursor = e.Cursor; cursor == 0 {
			return keys, nil
		}
	}
}

// floorServer is the same SCAN plus the write keyjob sends for each ticket
// (PEXPIREAT key ms NX: the server skips the ones that have a TTL), sent
// as fast as pipelining allows: each batch's writes and the next SCAN go
// in one round trip. Nothing is looked up, journaled or checkpointed.
func floorServer(ctx context.Context, url string) (int64, error) {
	return floorWrites(ctx, url, false, false)
}

// floorTypedScript is the least the select.type job's guarantee costs any
// client: SCAN TYPE string, then for each ticket TYPE and PEXPIREAT NX in
// one atomic script, 32 tickets a call (keyjob's batching), pipelined the
// same way. floorTypedNative is the same SCAN TYPE with native writes
// (the type checked at SCAN only, as keyjob did before the re-check).
func floorTypedScript(ctx context.Context, url string) (int64, error) {
	return floorWrites(ctx, url, true, true)
}

func floorTypedNative(ctx context.Context, url string) (int64, error) {
	return floorWrites(ctx, url, true, false)
}

// floorTyped is the script of floorTypedScript: for each key, 1 when it set
// the expiry, else 0.
const floorTyped = `local out = {}
for i = 1, #KEYS do
  if redis.call('TYPE', KEYS[i])['ok'] == 'string' then
    out[i] = redis.call('PEXPIREAT', KEYS[i], ARGV[i], 'NX')
  else
    out[i] = 0
  end
end
return out`

func floorWrites(ctx context.Context, url string, typed, script bool) (int64, error) {
	c, err := dialFloor(url)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	graceAt := time.Now().Add(grace).UnixMilli()
	nowMs := time.Now().UnixMilli()
	var changed int64
	scanCmd := func(cursor uint64) rueidis.Completed {
		if typed {
			return c.B().Scan().Cursor(cursor).Match(floorMatch).Count(floorCount).Type("string").Build()
		}
		return c.B().Scan().Cursor(cursor).Match(floorMatch).Count(floorCount).Build()
	}
	var sha string
	if script {
		if sha, err = c.Do(ctx, c.B().ScriptLoad().Script(floorTyped).Build()).ToString(); err != nil {
			return 0, err
		}
	}
	count := func(res []rueidis.RedisResult) error {
		for _, r := range res {
			if script {
				ns, err := r.AsIntSlice()
				if err != nil {
					return err
				}
				for _, n := range ns {
					changed += n
				}
				continue
			}
			n, err := r.AsInt64()
			if err != nil {
				return err
			}
			changed += n
		}
		return nil
	}
	res := c.DoMulti(ctx, scanCmd(0))
	cmds := make(rueidis.Commands, 0, 2*floorCount)
	var keys, args []string
	for {
		e, err := res[len(res)-1].AsScanEntry()
		if err != nil {
			return changed, err
		}
		if err := count(res[:len(res)-1]); err != nil {
			return changed, err
		}
		cmds = cmds[:0]
		keys, args = keys[:0], args[:0]
		flush := func() {
			if len(keys) > 0 {
				cmds = append(cmds, c.B().Evalsha().Sha1(sha).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build())
				keys, args = keys[:0], args[:0]
			}
		}
		for _, k := range e.Elements {
			issued, ok := ticketIssued(k)
			if !ok {
				continue
			}
			at := (issued + int64(year/time.Second)) * 1000
			if at <= nowMs {
				at = graceAt
			}
			if !script {
				cmds = append(cmds, c.B().Pexpireat().Key(k).MillisecondsTimestamp(at).Nx().Build())
				continue
			}
			keys, args = append(keys, k), append(args, strconv.FormatInt(at, 10))
			if len(keys) == 32 {
				flush()
			}
		}
		flush()
		if e.Cursor == 0 {
			return changed, count(c.DoMulti(ctx, cmds...))
		}
		cmds = append(cmds, scanCmd(e.Cursor))
		res = c.DoMulti(ctx, cmds...)
	}
}

// ticketIssued reads the issue time of ticket:{10 digits}:...
func ticketIssued(k string) (int64, bool) {
	if len(k) < 18 || k[:7] != "ticket:" || k[17] != ':' {
		return 0, false
	}
	var n int64
	for i := 7; i < 17; i++ {
		d := k[i] - '0'
		if d > 9 {
			return 0, false
		}
		n = n*10 + int64(d)
	}
	return n, true
}

func dialFloor(url string) (rueidis.Client, error) {
	opt, err := rueidis.ParseURL(url)
	if err != nil {
		return nil, err
	}
	opt.DisableCache = true
	c, err := rueidis.NewClient(opt)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", url, err)
	}
	return c, nil
}
