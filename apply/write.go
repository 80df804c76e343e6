package apply

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"slices"
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
	if j.Fields != nil {
		return w // a fields job writes fields (fields.go), never the key
	}
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

// command returns the native write for one change.
func (w *writer) command(c rueidis.Client, ch change) rueidis.Completed {
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

// A script call carries several keys, so that its fixed cost (the call,
// the script's lookup and set-up) is paid once per call rather than once
// per key: on the 1M backfill with select.type, one key per call made the
// run 2.1x slower than the native writes; 16 to 64 keys per call cost
// the same within the machine's noise (1.4-1.7x), the rest being the
// TYPE each key needs. A call is bounded so that it never holds the
// server long: at most scriptKeys keys (0.1 ms of server time for 32
// tickets) and scriptBytes of DUMP payload to hash (a dump-backed
// delete), whichever comes first; a single key above the byte bound goes
// alone. On a cluster, a call's keys share a slot.
const (
	scriptKeys  = 32
	scriptBytes = 64 << 10
)

// call is one command of a batch's pipeline and the batch's changes it
// carries (their indexes); a native command carries one.
type call struct {
	cmd  rueidis.Completed
	keys []string
	args []string // the script's arguments
	idx  []int
}

// calls builds a batch's writes: one native command per change, or the
// changes grouped into bounded script calls.
func (w *writer) calls(c rueidis.Client, todo []pending, cluster bool) []call {
	if w.form == formNative {
		out := make([]call, len(todo))
		for i, p := range todo {
			out[i] = call{cmd: w.command(c, p.change), idx: []int{i}}
		}
		return out
	}
	var out []call
	groups := map[uint16]*call{}
	sizes := map[uint16]int{}
	flush := func(slot uint16) {
		g := groups[slot]
		g.cmd = w.script.cmdKeys(c, g.keys, g.args...)
		out = append(out, *g)
		delete(groups, slot)
		sizes[slot] = 0
	}
	for i, p := range todo {
		var slot uint16
		if cluster {
			slot = redisx.KeySlot(p.key)
		}
		if g := groups[slot]; g != nil && (len(g.keys) == scriptKeys || sizes[slot]+len(p.dump) > scriptBytes) {
			flush(slot)
		}
		g := groups[slot]
		if g == nil {
			g = &call{args: w.staticArgs()}
			groups[slot] = g
		}
		g.keys = append(g.keys, p.key)
		g.args = append(g.args, w.keyArgs(p.change)...)
		g.idx = append(g.idx, i)
		if w.job.Action.Kind == jobs.ActionDelete {
			sizes[slot] += len(p.dump)
		}
	}
	// The rest in the order of their first key, so that a batch's calls
	// are the same from one run to the next.
	rest := make([]*call, 0, len(groups))
	for _, g := range groups {
		rest = append(rest, g)
	}
	slices.SortFunc(rest, func(a, b *call) int { return a.idx[0] - b.idx[0] })
	for _, g := range rest {
		g.cmd = w.script.cmdKeys(c, g.keys, g.args...)
		out = append(out, *g)
	}
	return out
}

// replies turns the calls' results into one reply per change. A call that
// failed with NOSCRIPT (its node restarted and lost the script) is sent
// again as EVAL.
func (w *writer) replies(ctx context.Context, c rueidis.Client, calls []call, res []rueidis.RedisResult, n int) ([]int64, error) {
	out := make([]int64, n)
	for ci, cl := range calls {
		rr := res[ci]
		if w.form == formNative {
			v, err := rr.AsInt64()
			if err != nil {
				return nil, fmt.Errorf("change %q: %w", w.keyOf(c, cl), err)
			}
			out[cl.idx[0]] = v
			continue
		}
		if err := rr.Error(); err != nil && isNoScript(err) {
			rr = w.script.evalKeys(ctx, c, cl.keys, cl.args...)
		}
		vs, err := rr.AsIntSlice()
		if err == nil && len(vs) != len(cl.idx) {
			err = fmt.Errorf("%d replies for %d keys", len(vs), len(cl.idx))
		}
		if err != nil {
			return nil, fmt.Errorf("change %q and %d more: %w", cl.keys[0], len(cl.keys)-1, err)
		}
		for j, i := range cl.idx {
			out[i] = vs[j]
		}
	}
	return out, nil
}

func (w *writer) keyOf(c rueidis.Client, cl call) string {
	if len(cl.keys) > 0 {
		return cl.keys[0]
	}
	if ks := cl.cmd.Commands(); len(ks) > 1 {
		return ks[1]
	}
	return ""
}

// staticArgs are the script's arguments common to every key: ttl kind and
// bound, idle op and bound, action, EXPIRE flag, type.
func (w *writer) staticArgs() []string {
	action := map[jobs.ActionKind]string{jobs.ActionExpire: "expire", jobs.ActionDelete: "delete", jobs.ActionPersist: "persist"}[w.job.Action.Kind]
	return []string{w.ttlKind, w.ttlMs, w.idleOp, w.idleS, action, w.flag, w.typ}
}

// keyArgs are one key's: its new expiry (expire), the digest of its DUMP
// (a dump-backed delete), or "".
func (w *writer) keyArgs(ch change) []string {
	if w.job.Action.Kind == jobs.ActionExpire {
		return []string{strconv.FormatInt(ch.expireAt, 10)}
	}
	return []string{ch.digest}
}

// guardedChange re-checks each key's conditions (type, TTL, idle time,
// the DUMP payload a delete backed up) and changes it, atomically, and
// returns one reply per key: 1 when it changed the key, 0 when a
// condition no longer holds, -2 when the key is gone, 2 when a key
// select.ttl none wants without a TTL has one under NX (the job's own TTL
// check when no TTL was read). It reads no more than the job's conditions
// need: under select.ttl none with EXPIRE NX, the NX is the TTL check and
// no PTTL is read. allow-oom: it never adds data beyond an expiry, so it
// must run when memory is full (the ticket story's server sat at 100%).
const guardedChange = `#!lua flags=allow-oom
local tk, tms, iop, is, a, flag, typ = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6], ARGV[7]
local nxIsTTL = tk == 'none' and a == 'expire' and flag == 'NX'
local readTTL = tk == 'lt' or tk == 'gt' or (tk == 'none' and not nxIsTTL)
local call = redis.call
local out = {}
for i = 1, #KEYS do
  local k, v, r = KEYS[i], ARGV[7 + i], nil
  if typ ~= '' then
    local t = call('TYPE', k)['ok']
    if t == 'none' then r = -2 elseif t ~= typ then r = 0 end
  end
  if r == nil and readTTL then
    local pt = call('PTTL', k)
    if pt == -2 then r = -2
    elseif tk == 'none' and pt ~= -1 then r = 0
    elseif tk == 'lt' and (pt == -1 or pt >= tms) then r = 0
    elseif tk == 'gt' and (pt == -1 or pt <= tms) then r = 0 end
  elseif r == nil and typ == '' and call('EXISTS', k) == 0 then
    r = -2
  end
  if r == nil and iop ~= '' then
    local idle = call('OBJECT', 'IDLETIME', k)
    if (iop == 'lt' and idle >= is) or (iop == 'gt' and idle <= is) then r = 0 end
  end
  if r == nil then
    if a == 'delete' then
      if v ~= '' and redis.sha1hex(call('DUMP', k)) ~= v then r = 0 else r = call('UNLINK', k) end
    elseif a == 'persist' then
      r = call('PERSIST', k)
    else
      if flag == '' then r = call('PEXPIREAT', k, v) else r = call('PEXPIREAT', k, v, flag) end
      if r == 0 and nxIsTTL then r = 2 end
    end
  end
  out[i] = r
end
return out
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

func (s *luaScript) cmdKeys(c rueidis.Client, keys []string, args ...string) rueidis.Completed {
	return c.B().Evalsha().Sha1(s.sha).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build()
}

// evalKeys sends one call again as EVAL, after a NOSCRIPT.
func (s *luaScript) evalKeys(ctx context.Context, c rueidis.Client, keys []string, args ...string) rueidis.RedisResult {
	return c.Do(ctx, c.B().Eval().Script(s.src).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build())
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
