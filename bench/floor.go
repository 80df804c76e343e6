package main

import (
	"context"
	"fmt"
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
	c, err := dialFloor(url)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	graceAt := time.Now().Add(grace).UnixMilli()
	nowMs := time.Now().UnixMilli()
	var changed int64
	res := c.DoMulti(ctx, c.B().Scan().Cursor(0).Match(floorMatch).Count(floorCount).Build())
	cmds := make(rueidis.Commands, 0, 2*floorCount)
	for {
		e, err := res[len(res)-1].AsScanEntry()
		if err != nil {
			return changed, err
		}
		for _, r := range res[:len(res)-1] {
			n, err := r.AsInt64()
			if err != nil {
				return changed, err
			}
			changed += n
		}
		cmds = cmds[:0]
		for _, k := range e.Elements {
			issued, ok := ticketIssued(k)
			if !ok {
				continue
			}
			at := (issued + int64(year/time.Second)) * 1000
			if at <= nowMs {
				at = graceAt
			}
			cmds = append(cmds, c.B().Pexpireat().Key(k).MillisecondsTimestamp(at).Nx().Build())
		}
		if e.Cursor == 0 {
			for _, r := range c.DoMulti(ctx, cmds...) {
				n, err := r.AsInt64()
				if err != nil {
					return changed, err
				}
				changed += n
			}
			return changed, nil
		}
		cmds = append(cmds, c.B().Scan().Cursor(e.Cursor).Match(floorMatch).Count(floorCount).Build())
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
