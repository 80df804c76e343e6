package scan

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/rueidis"

	"github.com/keyjob/keyjob/internal/redisx"
)

// Lookups says which per-key commands to send.
type Lookups struct {
	Expiry bool // PEXPIRETIME (ExpireTime) or PTTL
	// ExpireTime uses PEXPIRETIME (Redis 7+), exact to the millisecond;
	// otherwise the expiry is the server's TIME plus PTTL.
	ExpireTime bool
	Idle       bool // OBJECT IDLETIME
	Memory     bool // MEMORY USAGE
	Type       bool // TYPE
}

// KeyInfo is what a lookup found. A key deleted (or expired) since SCAN
// returned it has Exists false.
type KeyInfo struct {
	Name     string
	Exists   bool
	ExpireAt int64 // unix ms; -1 when the key has no TTL
	Idle     time.Duration
	Memory   int64
	Type     string
}

// Lookup sends the lookups for every name in one pipeline, led by TIME so
// that "now" is the server's clock at the moment of the reads. infos is
// reused when it has room.
func Lookup(ctx context.Context, client rueidis.Client, names []string, want Lookups, infos []KeyInfo) (time.Time, []KeyInfo, error) {
	per := want.count()
	cmds := make(rueidis.Commands, 0, 1+per*len(names))
	cmds = append(cmds, client.B().Time().Build())
	for _, k := range names {
		if want.Expiry {
			if want.ExpireTime {
				cmds = append(cmds, client.B().Pexpiretime().Key(k).Build())
			} else {
				cmds = append(cmds, client.B().Pttl().Key(k).Build())
			}
		}
		if want.Idle {
			cmds = append(cmds, client.B().ObjectIdletime().Key(k).Build())
		}
		if want.Memory {
			cmds = append(cmds, client.B().MemoryUsage().Key(k).Samples(0).Build())
		}
		if want.Type {
			cmds = append(cmds, client.B().Type().Key(k).Build())
		}
	}
	cctx, cancel := context.WithTimeout(ctx, CallTimeout)
	defer cancel()
	res := client.DoMulti(cctx, cmds...)
	now, err := redisx.TimeOf(res[0])
	if err != nil {
		return now, infos, err
	}
	infos = infos[:0]
	i := 1
	for _, k := range names {
		ki := KeyInfo{Name: k, Exists: true, ExpireAt: -1}
		if movedAway(res[i : i+per]) {
			// The key's slot moved to another node while the walk ran (a
			// resharding): not this node's key any more. The run's second
			// pass over the shards involved finds it where it is now.
			ki.Exists = false
			infos = append(infos, ki)
			i += per
			continue
		}
		if want.Expiry {
			if err := ki.expiry(res[i], want.ExpireTime, now); err != nil {
				return now, infos, fmt.Errorf("%s: %w", k, err)
			}
			i++
		}
		if want.Idle {
			if err := ki.idle(res[i]); err != nil {
				return now, infos, fmt.Errorf("OBJECT IDLETIME: %w", err)
			}
			i++
		}
		if want.Memory {
			n, err := res[i].AsInt64()
			if err != nil && !rueidis.IsRedisNil(err) {
				return now, infos, fmt.Errorf("MEMORY USAGE: %w", err)
			}
			ki.Memory = n
			ki.Exists = ki.Exists && err == nil
			i++
		}
		if want.Type {
			t, err := res[i].ToString()
			if err != nil {
				return now, infos, fmt.Errorf("TYPE: %w", err)
			}
			ki.Type = t
			ki.Exists = ki.Exists && t != "none"
			i++
		}
		infos = append(infos, ki)
	}
	return now, infos, nil
}

func (w Lookups) count() int {
	n := 0
	for _, b := range []bool{w.Expiry, w.Idle, w.Memory, w.Type} {
		if b {
			n++
		}
	}
	return n
}

// expiry reads PTTL or PEXPIRETIME: -2 means the key is gone, -1 no TTL.
func (ki *KeyInfo) expiry(r rueidis.RedisResult, absolute bool, now time.Time) error {
	n, err := r.AsInt64()
	if err != nil {
		return err
	}
	switch {
	case n == -2:
		ki.Exists = false
	case n == -1:
		ki.ExpireAt = -1
	case absolute:
		ki.ExpireAt = n
	default:
		ki.ExpireAt = now.UnixMilli() + n
	}
	return nil
}

func (ki *KeyInfo) idle(r rueidis.RedisResult) error {
	n, err := r.AsInt64()
	if rueidis.IsRedisNil(err) {
		ki.Exists = false
		return nil
	}
	if err != nil {
		return err
	}
	ki.Idle = time.Duration(n) * time.Second
	return nil
}

// movedAway says whether a key's lookups were answered MOVED or ASK.
func movedAway(res []rueidis.RedisResult) bool {
	for _, r := range res {
		if re, ok := rueidis.IsRedisErr(r.Error()); ok {
			if _, moved := re.IsMoved(); moved {
				return true
			}
			if _, ask := re.IsAsk(); ask {
				return true
			}
		}
	}
	return false
}
