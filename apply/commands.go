package apply

import (
	"context"

	"github.com/keyjob/keyjob/internal/commands"
	"github.com/keyjob/keyjob/internal/redisx"
)

// checkCommands asks every node whether the user may send what the run
// needs (ACL DRYRUN, else each command in a form that changes nothing) and
// refuses, before the first change, a run that cannot be made safely
// without a command it lacks, naming the command and the ACL rule. A
// missing MEMORY USAGE only makes the memory figures unknown.
func (r *Run) checkCommands(ctx context.Context) error {
	needs := append(commands.Reads(r.job, r.conn.Cluster), commands.Writes(r.job)...)
	caps, err := r.conn.Probe(ctx, true, commands.Names(needs)...)
	if err != nil {
		return err
	}
	if err := commands.RefuseFields(caps, r.conn.Addr, r.job); err != nil {
		return err
	}
	if err := commands.Refuse(caps, r.conn.Addr, needs); err != nil {
		return err
	}
	if caps.Lacks(redisx.CmdMemoryUsage) {
		r.memoryUnknown = caps.Why(redisx.CmdMemoryUsage)
		r.log.Warn("memory figures unknown", "reason", r.memoryUnknown)
	}
	if caps.Lacks(redisx.CmdConfigGet) {
		r.configUnknown = caps.Why(redisx.CmdConfigGet)
	}
	return nil
}
