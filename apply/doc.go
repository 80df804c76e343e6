// Package apply is the executor: the supervised run of a reviewed job, and
// its inverse, undo.
//
// It lives at the top level beside planner and guard because it is one of
// the three things keyjob does (plan, apply, stop), and a reader of `ls`
// should find it there; it is not plumbing.
//
// A run walks the keyspace like the plan (internal/scan), decides each key
// with the job's own rule (jobs), and changes the selected keys in
// pipelined batches under a rate limiter, waiting at a gate between
// batches (the guards). Every change is an absolute expiry (PEXPIREAT) or
// an UNLINK/PERSIST, and every condition is re-checked by the server at the
// moment of the change (EXPIRE NX/GT/LT, or a short script), so a resumed
// or repeated run ends in the same keyspace.
//
// Order per batch — mark, apply, commit: the previous state of each key
// goes to the journal and is fsynced before its change is sent; the
// checkpoint records a batch's cursor only after the batch was applied.
// A node's walk is a two-stage pipeline (batch.go): the walk's goroutine
// decides, journals and sends batch N+1 while a finishing goroutine counts
// batch N's replies and commits its cursor, in SCAN order. So the server
// is never idle waiting for keyjob between batches, and the order above
// still holds batch by batch.
//
// It must not depend on cmd/ (no flags, no terminal): the command line
// hands it options, a gate and an observer.
package apply
