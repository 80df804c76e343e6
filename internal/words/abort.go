package words

// AbortError is a run stopped on purpose, its checkpoint written, so that
// it can resume: by a guard (a figure past its level, a node silent too
// long, a pause longer than --max-pause), by max_changes, or by a unit
// mistake. guard returns it from its gate; apply returns it to the
// command line, which maps it to exit code 3.
type AbortError struct {
	Guard  string // "memory", "aof", "max_changes", "node", ...
	Reason string // which figure crossed which level
}

func (e *AbortError) Error() string { return "aborted by " + e.Guard + ": " + e.Reason }

// Abort names the guard and the reason (the Aborter interface apply
// names, for callers that do not want this type).
func (e *AbortError) Abort() (guard, reason string) { return e.Guard, e.Reason }
