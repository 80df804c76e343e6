// Package commands says which Redis commands a job's run sends, what each
// is for, and whether the run can do without it: the one list plan shows
// and checks against the connected user, and apply checks before its
// first change. docs/commands.md is its reader's version.
//
// It depends on jobs and redisx only; planner and apply call it.
package commands

import (
	"fmt"

	"github.com/keyjob/keyjob/internal/redisx"
	"github.com/keyjob/keyjob/jobs"
)

// Need is one command a run sends.
type Need struct {
	Cmd string `json:"command"` // as an ACL rule names it: "memory|usage"
	For string `json:"for"`
	// Essential: the run cannot be made safely without it and is refused
	// before its first change. Otherwise a figure is unknown and the run
	// says so.
	Essential bool `json:"essential"`
	// Without says what happens when the command is missing or denied.
	Without string `json:"without"`
}

// NeedsScript says whether apply sends the job's changes through the
// guarded script (EVALSHA): a TTL condition EXPIRE's flags cannot express,
// an idle condition, or a dump-backed delete (the script checks the
// key's DUMP digest at the moment of the delete).
func NeedsScript(j *jobs.Job) bool {
	sel := j.Select
	ttlNative := sel.TTL.Kind == jobs.TTLAny || (sel.TTL.Kind == jobs.TTLNone && j.ExpireFlag() == "NX")
	dumpDelete := j.Action.Kind == jobs.ActionDelete && j.Backup.Mode == jobs.BackupDump
	// select.type: no native write checks a key's type, and another
	// client may have rewritten a string as a hash since SCAN saw it.
	return !ttlNative || sel.Idle != nil || dumpDelete || sel.Type != ""
}

// Reads are the commands plan and apply send to read a job's keys and the
// server, in the order docs/commands.md lists them.
func Reads(j *jobs.Job, cluster bool) []Need {
	needs := []Need{
		{redisx.CmdScan, "walk the keyspace", true, "nothing can be selected"},
		{redisx.CmdTime, "the server's clock for every decision", true, "no decision can be made"},
		{redisx.CmdInfo, "the target, the guards' figures", true, "no guard can decide"},
		{redisx.CmdPing, "the latency guard", true, "the latency guard is blind"},
		{redisx.CmdConfigGet, "save points and AOF rewrite settings, to project forks", false, "the forks the run triggers are shown as unknown"},
		{redisx.CmdMemoryUsage, "the memory a change frees; the size of a key before DUMP", false, "memory figures are shown as unknown; a dump-backed job measures each key by its DUMP payload"},
	}
	n := j.Needs()
	if n.TTL || j.Backup.Mode != jobs.BackupNone {
		needs = append(needs, Need{redisx.CmdPExpireTime, "a key's current expiry", true, "no TTL condition can be checked and nothing journalled"})
	}
	if n.Idle {
		needs = append(needs, Need{redisx.CmdIdleTime, "select.idle", true, "the idle condition cannot be checked"})
	}
	if j.Members != nil && j.Members.Stream {
		needs = append(needs,
			Need{redisx.CmdXLen, "members: a stream's length, for the memory a trim frees", true, "no entry can be selected"},
			Need{redisx.CmdXRange, "members: a stream's oldest entries, counted 250 at a time by plan", true, "no entry can be selected"},
			Need{redisx.CmdXRevRange, "members: a stream's newest entry (is every entry older than the cutoff)", true, "no entry can be selected"})
	} else if j.Members != nil {
		needs = append(needs,
			Need{redisx.CmdZCount, "members: the members in the score range of a sorted set", true, "no member can be selected"},
			Need{redisx.CmdZCard, "members: a sorted set's size, for the memory a trim frees", true, "no member can be selected"})
	}
	if j.Fields != nil {
		needs = append(needs,
			Need{redisx.CmdHScan, "fields: walk the fields of a hash (HSCAN NOVALUES)", true, "no field can be selected"},
			Need{redisx.CmdHPExpireTime, "fields: the fields' own expiries (Redis 7.4+, Valkey 9+)", true, "no field can be selected"},
			Need{redisx.CmdHStrlen, "fields: the size of a sample of the fields to change (plan)", false, "the memory figures of the plan are unknown"})
	}
	if cluster {
		needs = append(needs,
			Need{redisx.CmdClusterMyID, "a node's identity in the checkpoint", true, "a cluster cannot be walked"},
			Need{redisx.CmdClusterSlot, "which primary serves which slots", true, "a cluster cannot be walked"})
	}
	return needs
}

// Writes are the commands apply sends to change the job's keys.
func Writes(j *jobs.Job) []Need {
	if j.Members != nil && j.Members.Stream {
		return streamWrites(j)
	}
	if j.Members != nil {
		// A trim: two scripts per chunk, one reading the members with
		// their scores, one removing those that still have them; the
		// journal holds the members, so backup: dump sends no DUMP.
		return []Need{
			{redisx.CmdScriptLoad, "load the scripts that read and trim a chunk of members", true, "nothing can be trimmed: refused"},
			{redisx.CmdEvalSHA, "read and trim a chunk of members", true, "nothing can be trimmed: refused"},
			{redisx.CmdEval, "run a script again on a node that lost it (a restart)", true, "a restarted node cannot be trimmed: refused"},
			{redisx.CmdZRange, "the script reads a chunk of the oldest members with their scores (ZRANGE BYSCORE)", true, "nothing can be trimmed: refused"},
			{redisx.CmdZMScore, "the script re-checks the chunk's scores at the removal", true, "nothing can be trimmed: refused"},
			{redisx.CmdZRem, "the script removes the chunk", true, "nothing can be trimmed: refused"},
		}
	}
	if j.Fields != nil {
		return fieldWrites(j)
	}
	var needs []Need
	switch j.Action.Kind {
	case jobs.ActionExpire:
		needs = append(needs, Need{redisx.CmdPExpireAt, "set the expiry", true, "nothing can be changed"})
	case jobs.ActionDelete:
		needs = append(needs, Need{redisx.CmdUnlink, "delete the key", true, "nothing can be changed"})
	case jobs.ActionPersist:
		needs = append(needs, Need{redisx.CmdPersist, "remove the expiry", true, "nothing can be changed"})
	}
	if NeedsScript(j) {
		needs = append(needs,
			Need{redisx.CmdScriptLoad, "load the script that re-checks the condition at the change", true, "the condition cannot be re-checked: refused"},
			Need{redisx.CmdEvalSHA, "run the re-checking script", true, "the condition cannot be re-checked: refused"},
			Need{redisx.CmdEval, "run the script again on a node that lost it (a restart)", true, "a restarted node cannot be changed: refused"})
		// The script's own calls are checked against the user's ACL at the
		// moment of the call: a lacking one would fail the run mid-way.
		// It reads the TTL unless the EXPIRE NX is the TTL check, and
		// asks EXISTS only when neither TYPE nor PTTL tells a gone key.
		readTTL := j.Select.TTL.Kind == jobs.TTLCompare ||
			(j.Select.TTL.Kind == jobs.TTLNone && !(j.Action.Kind == jobs.ActionExpire && j.ExpireFlag() == "NX"))
		if readTTL {
			needs = append(needs, Need{redisx.CmdPTTL, "the script's TTL re-check", true, "the condition cannot be re-checked: refused"})
		} else if j.Select.Type == "" {
			needs = append(needs, Need{redisx.CmdExists, "the script tells a gone key", true, "the condition cannot be re-checked: refused"})
		}
		if j.Select.Type != "" {
			needs = append(needs, Need{redisx.CmdType, "the script's select.type re-check", true, "the condition cannot be re-checked: refused"})
		}
		if j.Select.Idle != nil {
			needs = append(needs, Need{redisx.CmdIdleTime, "the script's select.idle re-check", true, "the condition cannot be re-checked: refused"})
		}
	} else if j.Action.Kind != jobs.ActionDelete {
		needs = append(needs, Need{redisx.CmdExists, "tell a key gone from a condition that no longer holds", true, "the outcome of a change cannot be told: refused"})
	}
	if j.Backup.Mode == jobs.BackupDump {
		needs = append(needs, Need{redisx.CmdDump, "backup: dump, the journal's copy of a key", true, "no backup can be made: refused"})
		if j.Select.Idle != nil {
			// DUMP is a read that touches the key: without NO-TOUCH the
			// backup itself would make every key look just read, and the
			// script's idle re-check would leave them all.
			needs = append(needs, Need{redisx.CmdNoTouch, "keep the backup's DUMP from resetting the idle time the script re-checks (Redis 7.2+, Valkey 8+)", true, "the backup makes every key look just read: refused"})
		}
	}
	return needs
}

// streamWrites are the commands a stream trim sends: a script reads the
// IDs of a chunk of the oldest entries, XDEL removes exactly those; with
// backup: dump another script takes the stream's DUMP and its XINFO STREAM
// figures before its first removal.
func streamWrites(j *jobs.Job) []Need {
	needs := []Need{
		{redisx.CmdScriptLoad, "load the scripts that read a chunk of entry IDs and snapshot a stream", true, "nothing can be trimmed: refused"},
		{redisx.CmdEvalSHA, "read a chunk of entry IDs", true, "nothing can be trimmed: refused"},
		{redisx.CmdEval, "run a script again on a node that lost it (a restart)", true, "a restarted node cannot be trimmed: refused"},
		{redisx.CmdType, "the script's check that the key is still a stream", true, "nothing can be trimmed: refused"},
		{redisx.CmdXRange, "the script reads the IDs of a chunk of the oldest entries", true, "nothing can be trimmed: refused"},
		{redisx.CmdXDel, "remove exactly the chunk's entries", true, "nothing can be trimmed: refused"},
	}
	if j.Backup.Mode == jobs.BackupDump {
		needs = append(needs,
			Need{redisx.CmdDump, "backup: dump, the stream before its first trim", true, "no backup can be made: refused"},
			Need{redisx.CmdXInfo, "the stream's last ID, entries added and length at its DUMP, which undo checks", true, "no backup can be made: refused"},
			Need{redisx.CmdXGroups, "the stream's consumer groups at its DUMP, which undo checks", true, "no backup can be made: refused"})
	}
	return needs
}

// Undo are the commands undo sends: its script checks each key's expiry
// is still keyjob's before it puts the old one back. dumps: the journal
// holds dumps (backup: dump) to RESTORE.
func Undo(dumps, streams bool) []Need {
	needs := []Need{
		{redisx.CmdScriptLoad, "load the undo script", true, "nothing can be restored: refused"},
		{redisx.CmdEvalSHA, "run the undo script", true, "nothing can be restored: refused"},
		{redisx.CmdEval, "run the script again on a node that lost it", true, "nothing can be restored: refused"},
		{redisx.CmdPExpireTime, "is the key's expiry still the one keyjob set", true, "nothing can be restored: refused"},
		{redisx.CmdPExpireAt, "restore an expiry", true, "nothing can be restored: refused"},
		{redisx.CmdPersist, "restore a key without expiry", true, "nothing can be restored: refused"},
	}
	if dumps {
		needs = append(needs, Need{redisx.CmdRestore, "recreate a deleted key from its dump", true, "no deleted key can be restored: refused"})
	}
	if streams {
		// A stream trim's records carry dumps: RESTORE is listed above.
		needs = append(needs,
			Need{redisx.CmdXInfo, "has the stream been written since its dump", true, "no trimmed stream can be restored: refused"},
			Need{redisx.CmdXGroups, "have its consumer groups read since its dump", true, "no trimmed stream can be restored: refused"},
			Need{redisx.CmdType, "is the key still a stream", true, "no trimmed stream can be restored: refused"})
	}
	return needs
}

// fieldWrites are the commands a fields job's apply sends: HPEXPIREAT NX
// for expire (NX is the re-check), a script that re-checks each field's
// expiry (and value) at the write for persist and delete.
func fieldWrites(j *jobs.Job) []Need {
	if j.Action.Kind == jobs.ActionExpire {
		needs := []Need{{redisx.CmdHPExpireAt, "give the fields their expiry (HPEXPIREAT NX)", true, "nothing can be changed"}}
		if j.Backup.Mode == jobs.BackupDump {
			needs = append(needs, fieldExpireDump)
		}
		return needs
	}
	needs := []Need{
		{redisx.CmdScriptLoad, "load the script that re-checks each field at the change", true, "the condition cannot be re-checked: refused"},
		{redisx.CmdEvalSHA, "run the re-checking script", true, "the condition cannot be re-checked: refused"},
		{redisx.CmdEval, "run the script again on a node that lost it (a restart)", true, "a restarted node cannot be changed: refused"},
	}
	needs = append(needs, Need{redisx.CmdType, "the script tells a hash from a key gone or of another type", true, "the condition cannot be re-checked: refused"})
	if j.Action.Kind == jobs.ActionPersist {
		needs = append(needs, Need{redisx.CmdHPersist, "the script removes the fields' expiry", true, "nothing can be changed"})
	} else {
		needs = append(needs, Need{redisx.CmdHDel, "the script deletes the fields", true, "nothing can be changed"})
	}
	if j.Backup.Mode == jobs.BackupDump && j.Action.Kind == jobs.ActionDelete {
		needs = append(needs, Need{redisx.CmdHMGet, "backup: dump, the journal's copy of the fields' values", true, "no backup can be made: refused"})
	}
	return needs
}

// fieldExpireDump is the HMGET an expire with backup: dump sends for the
// values of its grace fields.
var fieldExpireDump = Need{redisx.CmdHMGet, "backup: dump, the journal's copy of the grace fields' values", true, "no backup can be made: refused"}

// UndoFields are the commands undo sends for the records of a fields job:
// a script that checks each field's expiry is still keyjob's before it
// puts the old one back, and adds back deleted fields.
func UndoFields() []Need {
	return []Need{
		{redisx.CmdHPExpireTime, "is the field's expiry still the one keyjob set", true, "no field can be restored: refused"},
		{redisx.CmdHPExpireAt, "restore a field's expiry", true, "no field can be restored: refused"},
		{redisx.CmdHPersist, "restore a field without expiry", true, "no field can be restored: refused"},
		{redisx.CmdHSet, "add back a deleted field", true, "no deleted field can be restored: refused"},
	}
}

// FieldExpiryError refuses a fields job on a server without hash-field
// expiry, before any key is read.
type FieldExpiryError struct {
	Addr   string
	Server string // "Redis 7.0.15"
	Why    string
}

func (e *FieldExpiryError) Error() string {
	return fmt.Sprintf("%s: a fields job needs hash-field expiry (HPEXPIRETIME, HPEXPIREAT, HPERSIST), which %s does not have (%s): nothing was changed; run it against Redis 7.4 or later, or Valkey 9.0 or later",
		e.Addr, e.Server, e.Why)
}

// RefuseFields returns a FieldExpiryError when the job acts on hash
// fields and the server does not know HPEXPIRETIME; nil otherwise (a
// command denied to the user is Refuse's to say, with the ACL rule).
func RefuseFields(caps *redisx.Caps, addr string, j *jobs.Job) error {
	if j.Fields == nil || !caps.Lacks(redisx.CmdHPExpireTime) || caps.Check(redisx.CmdHPExpireTime).Status != redisx.Missing.String() {
		return nil
	}
	return &FieldExpiryError{Addr: addr, Server: caps.Name(), Why: caps.Why(redisx.CmdHPExpireTime)}
}

// Names lists the commands of needs.
func Names(needs []Need) []string {
	out := make([]string, len(needs))
	for i, n := range needs {
		out[i] = n.Cmd
	}
	return out
}

// Refuse returns the refusal naming every essential command caps says the
// user lacks, nil when the run can be made.
func Refuse(caps *redisx.Caps, addr string, needs []Need) error {
	e := &redisx.MissingError{Addr: addr}
	for _, n := range needs {
		if n.Essential && caps.Lacks(n.Cmd) {
			e.Lacking = append(e.Lacking, redisx.Lacking{Cmd: n.Cmd, For: n.For, Why: caps.Why(n.Cmd)})
		}
	}
	if len(e.Lacking) == 0 {
		return nil
	}
	return e
}
