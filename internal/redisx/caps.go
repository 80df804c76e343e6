package redisx

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/redis/rueidis"
)

// Commands keyjob may send, named as an ACL rule names them ("+memory|usage").
// docs/commands.md says what each is for and what keyjob does without it.
const (
	CmdScan        = "scan"
	CmdTime        = "time"
	CmdInfo        = "info"
	CmdPing        = "ping"
	CmdConfigGet   = "config|get"
	CmdPTTL        = "pttl"
	CmdPExpireTime = "pexpiretime"
	CmdIdleTime    = "object|idletime"
	CmdMemoryUsage = "memory|usage"
	CmdType        = "type"
	CmdPExpireAt   = "pexpireat"
	CmdUnlink      = "unlink"
	CmdPersist     = "persist"
	CmdExists      = "exists"
	CmdDump        = "dump"
	CmdRestore     = "restore"
	CmdEvalSHA     = "evalsha"
	CmdEval        = "eval"
	CmdScriptLoad  = "script|load"
	CmdClusterMyID = "cluster|myid"
	CmdClusterSlot = "cluster|slots"
	CmdNoTouch     = "client|no-touch"
	CmdHPExpireAt  = "hpexpireat"
	// A members job (trimming a sorted set by score).
	CmdZCount  = "zcount"
	CmdZCard   = "zcard"
	CmdZRange  = "zrange"
	CmdZMScore = "zmscore"
	CmdZRem    = "zrem"
	CmdZAdd    = "zadd"
	// A fields job (hash fields with TTLs of their own: Redis 7.4+, Valkey 9+).
	CmdHScan        = "hscan"
	CmdHPExpireTime = "hpexpiretime"
	CmdHPersist     = "hpersist"
	CmdHDel         = "hdel"
	CmdHMGet        = "hmget"
	CmdHStrlen      = "hstrlen"
	CmdHSet         = "hset" // not probed: any call of it writes
	// A members job on streams (trimming entries by ID-as-time).
	CmdXLen      = "xlen"
	CmdXRange    = "xrange"
	CmdXRevRange = "xrevrange"
	CmdXDel      = "xdel"
	CmdXInfo     = "xinfo|stream"
	CmdXGroups   = "xinfo|groups"
	// What a survey reads inside the keys it samples (only under CLIENT
	// NO-TOUCH), probed at the survey's start, never at the dial; it also
	// reads HPEXPIRETIME, XLEN and XRANGE (above).
	CmdHRandField = "hrandfield"
)

// probeKey is the key the checks name: no job selects it, and a command
// on a key that does not exist changes nothing.
const probeKey = "keyjob:capability-probe:{0}"

// probeArgs is, for each command, a call that changes nothing: what ACL
// DRYRUN is asked about, or, for reads, what is sent as it is.
var probeArgs = map[string][]string{
	CmdScan:         {"SCAN", "0", "MATCH", probeKey, "COUNT", "1"},
	CmdTime:         {"TIME"},
	CmdInfo:         {"INFO", "server"},
	CmdPing:         {"PING"},
	CmdConfigGet:    {"CONFIG", "GET", "maxmemory"},
	CmdPTTL:         {"PTTL", probeKey},
	CmdPExpireTime:  {"PEXPIRETIME", probeKey},
	CmdIdleTime:     {"OBJECT", "IDLETIME", probeKey},
	CmdMemoryUsage:  {"MEMORY", "USAGE", probeKey},
	CmdType:         {"TYPE", probeKey},
	CmdExists:       {"EXISTS", probeKey},
	CmdDump:         {"DUMP", probeKey},
	CmdClusterMyID:  {"CLUSTER", "MYID"},
	CmdClusterSlot:  {"CLUSTER", "SLOTS"},
	CmdZCount:       {"ZCOUNT", probeKey, "0", "1"},
	CmdZCard:        {"ZCARD", probeKey},
	CmdZRange:       {"ZRANGE", probeKey, "0", "1", "BYSCORE", "LIMIT", "0", "1", "WITHSCORES"},
	CmdZMScore:      {"ZMSCORE", probeKey, "m"},
	CmdZRem:         {"ZREM", probeKey, "m"},
	CmdZAdd:         {"ZADD", probeKey, "NX", "0", "m"},
	CmdHScan:        {"HSCAN", probeKey, "0", "COUNT", "1"},
	CmdHPExpireTime: {"HPEXPIRETIME", probeKey, "FIELDS", "1", "f"},
	CmdHMGet:        {"HMGET", probeKey, "f"},
	CmdHStrlen:      {"HSTRLEN", probeKey, "f"},
	CmdHPersist:     {"HPERSIST", probeKey, "FIELDS", "1", "f"},
	CmdHDel:         {"HDEL", probeKey, "f"},
	CmdXLen:         {"XLEN", probeKey},
	CmdXRange:       {"XRANGE", probeKey, "-", "+", "COUNT", "1"},
	CmdXRevRange:    {"XREVRANGE", probeKey, "+", "-", "COUNT", "1"},
	CmdXInfo:        {"XINFO", "STREAM", probeKey},
	CmdXGroups:      {"XINFO", "GROUPS", probeKey},
	CmdXDel:         {"XDEL", probeKey, "0-1"},
	CmdHRandField:   {"HRANDFIELD", probeKey, "1"},
	// Writes: a key that does not exist is left so, but the call still
	// counts in INFO commandstats: they are sent only by Probe's writes.
	CmdPExpireAt: {"PEXPIREAT", probeKey, "1"},
	CmdUnlink:    {"UNLINK", probeKey},
	CmdPersist:   {"PERSIST", probeKey},
	// A payload no server accepts: refused after the ACL check.
	CmdRestore:    {"RESTORE", probeKey, "0", "not-a-dump-payload"},
	CmdEvalSHA:    {"EVALSHA", strings.Repeat("0", 40), "1", probeKey},
	CmdEval:       {"EVAL", "return 0", "1", probeKey},
	CmdScriptLoad: {"SCRIPT", "LOAD", "return 0"},
	CmdNoTouch:    {"CLIENT", "NO-TOUCH", "OFF"},
	CmdHPExpireAt: {"HPEXPIREAT", probeKey, "1", "FIELDS", "1", "f"},
}

// writes are the commands that are sent as they are only when the caller
// says it may write (apply, undo), never by plan or survey: the writes,
// and the reads only apply sends (EXISTS, DUMP), which a plan user need
// not have and whose refusal would land in ACL LOG.
var writes = map[string]bool{
	CmdExists: true, CmdDump: true,
	CmdPExpireAt: true, CmdUnlink: true, CmdPersist: true, CmdRestore: true,
	CmdEvalSHA: true, CmdEval: true, CmdScriptLoad: true, CmdNoTouch: true, CmdHPExpireAt: true,
	CmdZRem: true, CmdZAdd: true,
	CmdHPersist: true, CmdHDel: true, CmdHMGet: true,
	CmdXDel: true, CmdXInfo: true, CmdXGroups: true,
}

// Reads are the commands Dial asks about: every read keyjob may send, and
// the capabilities the server may have (CLIENT NO-TOUCH, HPEXPIREAT).
var Reads = []string{
	CmdScan, CmdTime, CmdInfo, CmdPing, CmdConfigGet, CmdPTTL, CmdPExpireTime, CmdIdleTime,
	CmdMemoryUsage, CmdType, CmdNoTouch, CmdHPExpireAt,
}

// Probe asks every node of the target (the server itself, or each node
// of a cluster) about cmds, with ProbeCaps; a command lacking on any node
// lacks on the target. The first node's name and version stand for all.
func (c *Conn) Probe(ctx context.Context, mayWrite bool, cmds ...string) (*Caps, error) {
	if !c.Cluster {
		return ProbeCaps(ctx, c.Client, c.user(), mayWrite, cmds...)
	}
	var caps *Caps
	nodes := c.Client.Nodes()
	addrs := make([]string, 0, len(nodes))
	for addr := range nodes {
		addrs = append(addrs, addr)
	}
	sort.Strings(addrs)
	for _, addr := range addrs {
		nc, err := ProbeCaps(ctx, nodes[addr], c.user(), mayWrite, cmds...)
		if err != nil {
			return nil, explain(addr, err)
		}
		if caps == nil {
			caps = nc
		} else {
			caps.Merge(nc)
		}
	}
	if caps == nil {
		return nil, fmt.Errorf("%s: no cluster node to ask", c.Addr)
	}
	return caps, nil
}

// Status is what the server said of one command for the connected user.
type Status int

const (
	Unchecked Status = iota // nothing could tell (a write keyjob may not send to find out)
	Granted                 // the user may run it
	Missing                 // the server does not know it: renamed away or disabled
	Denied                  // the user's ACL rules refuse it
)

func (s Status) String() string {
	return [...]string{"not checked", "granted", "missing", "denied"}[s]
}

// Check is the answer about one command.
type Check struct {
	Cmd    string `json:"command"`
	Status string `json:"status"`
	Why    string `json:"why,omitempty"` // the server's words when not granted
	status Status
	// there: COMMAND INFO knows it, though whether the user may run it
	// is unchecked.
	there bool
}

// Caps is what a server can do for keyjob and what the connected user may
// run on it: found by asking the server (HELLO, INFO server, ACL DRYRUN or
// the commands themselves), not from the version string alone.
type Caps struct {
	Server       string // "redis" or "valkey" (HELLO's server field, else INFO's)
	Version      string // the server's own version: valkey_version on Valkey
	RedisVersion string // redis_version (Valkey answers 7.2.4 there)
	Proto        int    // 3 when HELLO 3 was answered, else 2
	User         string // the ACL user of the connection ("default" without one in the URL)
	// Method says how permissions were checked: "ACL DRYRUN" (the user may
	// run it), else "probe" (each command sent in a form that changes
	// nothing; writes only when Probe was allowed to send them).
	Method string
	checks map[string]Check
}

// Has says whether the command is known to be there and granted.
func (c *Caps) Has(cmd string) bool {
	return c != nil && c.checks[cmd].status == Granted
}

// Lacks says whether the command is known to be missing or denied
// (Unchecked is not lacking: the server will say at the first call).
func (c *Caps) Lacks(cmd string) bool {
	if c == nil {
		return false
	}
	s := c.checks[cmd].status
	return s == Missing || s == Denied
}

// Why is the reason cmd cannot be used, "" when it can or is unchecked.
func (c *Caps) Why(cmd string) string {
	if !c.Lacks(cmd) {
		return ""
	}
	ch := c.checks[cmd]
	return fmt.Sprintf("%s %s (%s)", strings.ToUpper(strings.ReplaceAll(cmd, "|", " ")), ch.Status, ch.Why)
}

// Check returns the answer about cmd.
func (c *Caps) Check(cmd string) Check {
	if ch, ok := c.checks[cmd]; ok {
		return ch
	}
	return Check{Cmd: cmd, Status: Unchecked.String()}
}

// InsideReads are the commands a survey sends inside the keys it samples
// (ZRANGE by rank: the probe's BYSCORE form asks the same ACL rule).
var InsideReads = []string{CmdHRandField, CmdHPExpireTime, CmdZCard, CmdZRange, CmdXLen, CmdXRange}

// HashFieldExpiry says whether the server has per-field TTLs of hashes
// (HPEXPIREAT: Redis 7.4+, Valkey 9+).
func (c *Caps) HashFieldExpiry() bool { return c.exists(CmdHPExpireAt) }

// NoTouch says whether the server has CLIENT NO-TOUCH (Redis 7.2+, Valkey 8+).
func (c *Caps) NoTouch() bool { return c.exists(CmdNoTouch) }

// exists says whether a command is there, whatever the user may run.
func (c *Caps) exists(cmd string) bool {
	if c == nil {
		return false
	}
	ch, ok := c.checks[cmd]
	return ok && (ch.status == Granted || ch.status == Denied || ch.there)
}

// Grant is the ACL rule that grants cmd.
func Grant(cmd string) string { return "+" + cmd }

// MissingError is a refusal for want of commands, made before any change.
type MissingError struct {
	Addr    string
	Lacking []Lacking
	What    string // what is refused: "this job" when empty ("the survey")
}

// Lacking is one command a refused job needs.
type Lacking struct {
	Cmd string // e.g. "script|load"
	For string // what the job needs it for
	Why string // Caps.Why
}

func (e *MissingError) Error() string {
	var needs, why, rules []string
	for _, l := range e.Lacking {
		needs = append(needs, fmt.Sprintf("%s (%s)", strings.ToUpper(strings.ReplaceAll(l.Cmd, "|", " ")), l.For))
		why = append(why, l.Why)
		rules = append(rules, Grant(l.Cmd))
	}
	what := e.What
	if what == "" {
		what = "this job"
	}
	return fmt.Sprintf("%s: %s needs %s but %s: nothing was changed; rename it back on the server, or grant it to the user with the ACL rule %s",
		e.Addr, what, strings.Join(needs, ", "), strings.Join(why, "; "), strings.Join(rules, " "))
}

// ProbeCaps asks the server behind client what it can do: HELLO, INFO
// server, then each of cmds. With mayWrite false, the writes among cmds are
// asked of ACL DRYRUN only (and left Unchecked when the user may not run
// it): plan and survey send no write. It fails only when the server cannot
// be reached.
func ProbeCaps(ctx context.Context, client rueidis.Client, user string, mayWrite bool, cmds ...string) (*Caps, error) {
	c := &Caps{Proto: 2, checks: map[string]Check{}}
	if hello, err := client.Do(ctx, client.B().Hello().Build()).AsMap(); err == nil {
		server, version, proto := hello["server"], hello["version"], hello["proto"]
		c.Server, _ = server.ToString()
		c.Version, _ = version.ToString()
		if p, err := proto.AsInt64(); err == nil {
			c.Proto = int(p)
		}
	}
	info, err := Info(ctx, client, "server")
	if err != nil {
		return nil, err
	}
	c.RedisVersion = info["redis_version"]
	if v := info["valkey_version"]; v != "" {
		c.Server, c.Version = "valkey", v
	}
	if c.Server == "" {
		c.Server = "redis"
	}
	if c.Version == "" {
		c.Version = c.RedisVersion
	}
	c.User = user
	sort.Strings(cmds)
	cmds = dedup(cmds)
	// ACL DRYRUN and COMMAND INFO only as the default user: a named
	// (least-privilege) user is usually not granted them, and every refused
	// call lands in ACL LOG, where an operator would find keyjob's probes
	// among real denials. Probes log only the commands really lacking.
	if user == "default" && c.dryRun(ctx, client, cmds) {
		c.Method = "ACL DRYRUN"
		return c, nil
	}
	c.Method = "probe"
	var send []string
	for _, cmd := range cmds {
		if _, ok := probeArgs[cmd]; !ok {
			continue
		}
		if writes[cmd] && !mayWrite {
			c.checks[cmd] = Check{Cmd: cmd, Status: Unchecked.String(), Why: "a write: checked by apply before its first change"}
			continue
		}
		send = append(send, cmd)
	}
	built := make(rueidis.Commands, len(send))
	for i, cmd := range send {
		built[i] = client.B().Arbitrary(probeArgs[cmd]...).Build()
	}
	for i, res := range client.DoMulti(ctx, built...) {
		c.set(send[i], classify(res.Error()))
	}
	if user == "default" {
		c.commandInfo(ctx, client)
	}
	return c, nil
}

// commandInfo asks COMMAND INFO whether the unchecked commands exist at
// all (a renamed command is not there), when the user may ask it.
func (c *Caps) commandInfo(ctx context.Context, client rueidis.Client) {
	var names []string
	for cmd, ch := range c.checks {
		if ch.status == Unchecked {
			names = append(names, cmd)
		}
	}
	if len(names) == 0 {
		return
	}
	sort.Strings(names)
	res, err := client.Do(ctx, client.B().CommandInfo().CommandName(names...).Build()).ToArray()
	if err != nil || len(res) != len(names) {
		return
	}
	for i, r := range res {
		ch := c.checks[names[i]]
		if r.IsNil() {
			ch.status, ch.Why = Missing, "COMMAND INFO does not know it"
		} else {
			ch.there = true
		}
		c.set(names[i], ch)
	}
}

// dryRun asks ACL DRYRUN about every command; false when the user may not
// run it (or the server has none: Redis 7.0+ and Valkey have it).
func (c *Caps) dryRun(ctx context.Context, client rueidis.Client, cmds []string) bool {
	built := make(rueidis.Commands, 0, len(cmds))
	var asked []string
	for _, cmd := range cmds {
		if args, ok := probeArgs[cmd]; ok {
			built = append(built, client.B().AclDryrun().Username(c.User).Command(args[0]).Arg(args[1:]...).Build())
			asked = append(asked, cmd)
		}
	}
	if len(built) == 0 {
		return true
	}
	res := client.DoMulti(ctx, built...)
	if err := res[0].Error(); err != nil && !isDryRunVerdict(err) {
		return false
	}
	for i, r := range res {
		msg, err := r.ToString()
		if err == nil && msg != "OK" {
			err = fmt.Errorf("%s", msg) // DRYRUN answers a refusal as a plain string
		}
		st := classify(err)
		if err != nil && strings.Contains(strings.ToLower(err.Error()), "no permissions to run") {
			st = Check{status: Denied, Why: firstLine(err.Error())}
		}
		c.set(asked[i], st)
	}
	return true
}

// isDryRunVerdict says whether an error is DRYRUN's answer about the
// command, not a refusal of DRYRUN itself.
func isDryRunVerdict(err error) bool {
	msg := strings.ToLower(err.Error())
	return !strings.Contains(msg, "'acl") && !strings.Contains(msg, "acl|dryrun") && !strings.Contains(msg, "unknown subcommand")
}

func (c *Caps) set(cmd string, ch Check) {
	ch.Cmd = cmd
	ch.Status = ch.status.String()
	c.checks[cmd] = ch
}

// classify reads the answer to a probe: only an unknown command and a
// refused command say the command cannot be used; any other error (a key
// outside the user's patterns, NOSCRIPT, a bad payload, MOVED) came after
// the server had accepted the command.
func classify(err error) Check {
	if err == nil || rueidis.IsRedisNil(err) {
		return Check{status: Granted}
	}
	msg := err.Error()
	low := strings.ToLower(msg)
	switch {
	case strings.Contains(low, "unknown command"), strings.Contains(low, "unknown subcommand"),
		strings.Contains(low, "not found") && strings.Contains(low, "command"):
		return Check{status: Missing, Why: firstLine(msg)}
	case strings.Contains(msg, "NOPERM") && !strings.Contains(low, "key") && !strings.Contains(low, "channel"):
		return Check{status: Denied, Why: firstLine(msg)}
	}
	if _, ok := rueidis.IsRedisErr(err); !ok {
		// Not the server's answer (a lost connection): nothing is known.
		return Check{status: Unchecked, Why: firstLine(msg)}
	}
	return Check{status: Granted}
}

// Checks lists the answers about cmds, in their order.
func (c *Caps) Checks(cmds ...string) []Check {
	out := make([]Check, 0, len(cmds))
	for _, cmd := range dedup(cmds) {
		out = append(out, c.Check(cmd))
	}
	return out
}

// Merge folds another node's answers in: a command lacking on any node
// lacks on the target.
func (c *Caps) Merge(o *Caps) {
	for cmd, ch := range o.checks {
		if cur, ok := c.checks[cmd]; !ok || ch.status > cur.status {
			c.checks[cmd] = ch
		}
	}
}

// AtLeast says whether the server's own version is at least major.minor.
func (c *Caps) AtLeast(major, minor int) bool {
	parts := strings.SplitN(c.Version, ".", 3)
	ma, _ := strconv.Atoi(parts[0])
	mi := 0
	if len(parts) > 1 {
		mi, _ = strconv.Atoi(parts[1])
	}
	return ma > major || ma == major && mi >= minor
}

// Name is "Redis 8.0.2" or "Valkey 9.1.2".
func (c *Caps) Name() string {
	if c.Server == "valkey" {
		return "Valkey " + c.Version
	}
	return "Redis " + c.Version
}

func dedup(s []string) []string {
	seen := map[string]bool{}
	out := s[:0:0]
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}
