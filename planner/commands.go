package planner

import (
	"context"
	"strings"

	"github.com/keyjob/keyjob/internal/commands"
	"github.com/keyjob/keyjob/internal/redisx"
	"github.com/keyjob/keyjob/jobs"
)

// Codes of the plan's messages about commands.
const (
	ErrMissingCommand  = "missing_command"
	WarnMemoryUnknown  = "memory_unknown"
	WarnCommandLacking = "command_lacking"
)

// CommandCheck is one command the run will send and what the server said
// of it for the connected user.
type CommandCheck struct {
	Command   string `json:"command"` // as an ACL rule names it: "memory|usage"
	For       string `json:"for"`
	Essential bool   `json:"essential"` // without it apply refuses the job
	Status    string `json:"status"`    // granted | missing | denied | not checked
	Why       string `json:"why,omitempty"`
}

// Commands is the plan's list of the commands the run needs.
type Commands struct {
	// CheckedBy is how: "ACL DRYRUN" (as user), or "probe" (reads sent in
	// a form that changes nothing; writes are checked by apply before its
	// first change, or by COMMAND INFO for whether they exist).
	CheckedBy string         `json:"checked_by"`
	User      string         `json:"user,omitempty"`
	Server    string         `json:"server"` // "Redis 8.0.2", "Valkey 9.1.2"
	Checks    []CommandCheck `json:"checks"`
}

// checkCommands asks the server about every command the job's run sends
// (plan sends no write to find out) and says in the plan what is lacking:
// an error for a command the run cannot do without (apply would refuse),
// a warning for a figure that will be unknown.
func checkCommands(ctx context.Context, conn *redisx.Conn, job *jobs.Job) (*Commands, *redisx.Caps, error) {
	needs := append(commands.Reads(job, conn.Cluster), commands.Writes(job)...)
	caps, err := conn.Probe(ctx, false, commands.Names(needs)...)
	if err != nil {
		return nil, nil, err
	}
	out := &Commands{CheckedBy: caps.Method, User: caps.User, Server: caps.Name()}
	for _, n := range needs {
		ch := caps.Check(n.Cmd)
		out.Checks = append(out.Checks, CommandCheck{Command: n.Cmd, For: n.For, Essential: n.Essential, Status: ch.Status, Why: ch.Why})
	}
	return out, caps, nil
}

// judgeCommands adds the errors and warnings of lacking commands: an
// error for a read plan and apply both need, a warning for a write (the
// plan's user need not be apply's).
func judgeCommands(p *Plan, conn *redisx.Conn, caps *redisx.Caps, job *jobs.Job) {
	if err := commands.Refuse(caps, conn.Addr, commands.Reads(job, conn.Cluster)); err != nil {
		p.fail(ErrMissingCommand, "%s", strings.Replace(err.Error(), "nothing was changed; ", "apply would refuse this job before its first change; ", 1))
	}
	if err := commands.Refuse(caps, conn.Addr, commands.Writes(job)); err != nil {
		p.warn(WarnCommandLacking, "%s", strings.Replace(err.Error(), "nothing was changed; ", "apply as this user would refuse this job before its first change; ", 1))
	}
	if why := p.Estimates.MemoryUnknown; why != "" {
		msg := "The memory of a key cannot be read: " + why + ". The memory figures of this plan are unknown."
		if job.Backup.Mode == jobs.BackupDump {
			msg += " backup: dump measures each key by its DUMP payload instead, so a key over max_dump_size is dumped once before it is skipped."
		}
		p.warn(WarnMemoryUnknown, "%s", msg)
	}
}

// commandLines are the plan's words about the commands: one line of those
// granted, one per command that is not.
func commandLines(p *Plan) []string {
	c := p.Commands
	if c == nil {
		return nil
	}
	var granted, other []string
	for _, ch := range c.Checks {
		name := strings.ToUpper(strings.ReplaceAll(ch.Command, "|", " "))
		if ch.Status == redisx.Granted.String() {
			granted = append(granted, name)
			continue
		}
		l := name + " " + ch.Status
		if ch.Why != "" {
			l += " (" + ch.Why + ")"
		}
		l += ": for " + ch.For
		if ch.Essential && ch.Status != redisx.Unchecked.String() {
			l += "; apply refuses the job without it (grant " + redisx.Grant(ch.Command) + ")"
		}
		other = append(other, l)
	}
	how := c.CheckedBy
	if c.User != "" {
		how += " as " + c.User
	}
	head := oneLine(c.Server) + ", checked by " + how + ": "
	if len(granted) > 0 {
		head += "granted " + strings.Join(granted, ", ")
	} else {
		head += "none granted"
	}
	return append([]string{head}, other...)
}
