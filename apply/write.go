package apply

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/redis/rueidis"

	"github.com/keyjob/keyjob/internal/commands"
	"github.com/keyjob/keyjob/internal/redisx"
	"github.com/keyjob/keyjob/jobs"
)

// How a change is sent. The executor prefers one native command per key
// (EXPIRE flags express the common conditions atomically); a condition
// Redis cannot express natively goes through a short script that re-checks
// it at the moment of the change.
type writeForm int

const (
	formNative writeForm = iota // PEXPIREAT [NX|GT|LT], UNLINK or PERSIST
	formScript                  // the guarded script
)

// Replies of one change. Anything else (0) means the condition no longer
// holds; from a native command it may also mean the key is gone, which
// the executor tells apart afterwards.
const (
	replyChanged = 1
	replyGone    = -2 // the script found the key gone
	replyHasTTL  = 2  // the script found a TTL where select.ttl is none, under NX
)

// writer builds the change commands of one job.
type writer struct {
	job  *jobs.Job
	form writeForm
	flag string // NX, GT, LT or "" for PEXPIREAT
	// ttlByServer: the write's NX is the job's whole TTL condition, so no
	// key's TTL is read before it (one write per key, nothing else).
	ttlByServer bool
	script      *luaScript
	// static script arguments: ttl kind and bound, idle op and bound, type
	ttlKind, ttlMs, idleOp, idleS, typ string
}

func newWriter(j *jobs.Job) *writer {
	w := &writer{job: j, script: newScript(guardedChange)}
	w.flag = j.ExpireFlag()
	sel := j.Select
	// select.ttl none is implied by NX; anything else needs the script.
	if commands.NeedsScript(j) {
		w.form = formScript
	}
	// The script checks select.ttl none itself and tells a key with a TTL
	// apart (replyHasTTL), so NX needs no read in either form.
	w.ttlByServer = w.flag == "NX" && (w.form == formNative || sel.TTL.Kind == jobs.TTLNone)
	w.typ = sel.Type
	switch sel.TTL.Kind {
	case jobs.TTLNone:
		w.ttlKind = "none"
	case jobs.TTLCompare:
		w.ttlKind = map[jobs.Op]string{jobs.Less: "lt", jobs.Greater: "gt"}[sel.TTL.Cmp.Op]
		w.ttlMs = strconv.FormatInt(sel.TTL.Cmp.D.Milliseconds(), 10)
	default:
		w.ttlKind = "any"
	}
	if sel.Idle != nil {
		w.idleOp = map[jobs.Op]string{jobs.Less: "lt", jobs.Greater: "gt"}[sel.Idle.Op]
		w.idleS = strconv.FormatInt(int64(sel.Idle.D.Seconds()), 10)
	}
	return w
}

// change is one key to change.
type change struct {
	key      string
	expireAt int64  // unix ms, for expire
	digest   string // sha1 of the DUMP payload, for a dump-backed delete
}

// command returns the write for one change.
func (w *writer) command(c rueidis.Client, ch change) rueidis.Completed {
	if w.form == formScript {
		return w.scriptCmd(c, ch)
	}
	switch w.job.Action.Kind {
	case jobs.ActionDelete:
		return c.B().Unlink().Key(ch.key).Build()
	case jobs.ActionPersist:
		return c.B().Persist().Key(ch.key).Build()
	}
	at := c.B().Pexpireat().Key(ch.key).MillisecondsTimestamp(ch.expireAt)
	switch w.flag {
	case "NX":
		return at.Nx().Build()
	case "GT":
		return at.Gt().Build()
	case "LT":
		return at.Lt().Build()
	}
	return at.Build()
}

func (w *writer) scriptCmd(c rueidis.Client, ch change) rueidis.Completed {
	return w.script.cmd(c, ch.key, w.scriptArgs(ch)...)
}

func (w *writer) scriptArgs(ch change) []string {
	action := map[jobs.ActionKind]string{jobs.ActionExpire: "expire", jobs.ActionDelete: "delete", jobs.ActionPersist: "persist"}[w.job.Action.Kind]
	at := ""
	if w.job.Action.Kind == jobs.ActionExpire {
		at = strconv.FormatInt(ch.expireAt, 10)
	}
	return []string{w.ttlKind, w.ttlMs, w.idleOp, w.idleS, action, ch.digest, at, w.flag, w.typ}
}

// guardedChange re-checks a key's conditions (type, TTL, idle time, the
// DUMP payload a delete backed up) and changes it, atomically. It returns
// 1 when it changed the key, 0 when a condition no longer holds, -2 when
// the key is gone, 2 when a key select.ttl none wants without a TTL has
// one under NX (the job's own TTL check when no TTL was read). allow-oom: it never adds data beyond an
// expiry, so it must run when memory is full (the ticket story's server
// sat at 100%).
const guardedChange = `#!lua flags=allow-oom
local k = KEYS[1]
local pt = redis.call('PTTL', k)
if pt == -2 then return -2 end
if ARGV[9] ~= '' and redis.call('TYPE', k)['ok'] ~= ARGV[9] then return 0 end
local tk = ARGV[1]
if tk == 'none' and pt ~= -1 then
  if ARGV[8] == 'NX' then return 2 end
  return 0
end
if tk == 'lt' and (pt == -1 or pt >= tonumber(ARGV[2])) then return 0 end
if tk == 'gt' and (pt == -1 or pt <= tonumber(ARGV[2])) then return 0 end
if ARGV[3] ~= '' then
  local idle = redis.call('OBJECT', 'IDLETIME', k)
  if ARGV[3] == 'lt' and idle >= tonumber(ARGV[4]) then return 0 end
  if ARGV[3] == 'gt' and idle <= tonumber(ARGV[4]) then return 0 end
end
if ARGV[6] ~= '' and redis.sha1hex(redis.call('DUMP', k)) ~= ARGV[6] then return 0 end
local a = ARGV[5]
if a == 'delete' then return redis.call('UNLINK', k) end
if a == 'persist' then return redis.call('PERSIST', k) end
if ARGV[8] == '' then return redis.call('PEXPIREAT', k, ARGV[7]) end
return redis.call('PEXPIREAT', k, ARGV[7], ARGV[8])
`

func isNoScript(err error) bool {
	re, ok := rueidis.IsRedisErr(err)
	return ok && re.IsNoScript()
}

// luaScript is a script sent as EVALSHA after a SCRIPT LOAD on every
// node, and as EVAL again for a key whose node lost it (a restart).
type luaScript struct {
	src string
	sha string
}

func newScript(src string) *luaScript {
	sum := sha1.Sum([]byte(src))
	return &luaScript{src: src, sha: hex.EncodeToString(sum[:])}
}

func (s *luaScript) load(ctx context.Context, nodes []redisx.Node) error {
	for _, n := range nodes {
		if err := n.Client.Do(ctx, n.Client.B().ScriptLoad().Script(s.src).Build()).Error(); err != nil {
			return fmt.Errorf("SCRIPT LOAD on %s: %w", n.Addr, err)
		}
	}
	return nil
}

func (s *luaScript) cmd(c rueidis.Client, key string, args ...string) rueidis.Completed {
	return c.B().Evalsha().Sha1(s.sha).Numkeys(1).Key(key).Arg(args...).Build()
}

// eval sends one call again as EVAL, after a NOSCRIPT.
func (s *luaScript) eval(ctx context.Context, c rueidis.Client, key string, args ...string) rueidis.RedisResult {
	return c.Do(ctx, c.B().Eval().Script(s.src).Numkeys(1).Key(key).Arg(args...).Build())
}

// load loads the guarded script on every node when the job needs it.
func (w *writer) load(ctx context.Context, nodes []redisx.Node) error {
	if w.form != formScript {
		return nil
	}
	return w.script.load(ctx, nodes)
}

// retry sends one change again with EVAL, after a NOSCRIPT.
func (w *writer) retry(ctx context.Context, c rueidis.Client, ch change) (int64, error) {
	n, err := w.script.eval(ctx, c, ch.key, w.scriptArgs(ch)...).AsInt64()
	if err != nil {
		return 0, fmt.Errorf("change %q: %w", ch.key, err)
	}
	return n, nil
}
