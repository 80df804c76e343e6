// Package guard decides whether a run may go on: it collects the figures
// that say how a Redis server is doing (memory, evictions, forks, AOF
// growth, disk, replica lag, latency), decides from them and the levels
// (Continue, Pause or Abort, with the reason), and gates the executor
// between batches.
//
// Collect, decide, block: a Collector reads INFO and times PINGs on its
// own connection, when the gate's one poller says, within a budget of
// commands a second for the whole target (poll.go); Decide is a pure function of the
// figures, the run's baseline and the levels, table-tested without a
// server; a Gate waits while any node says pause and returns the first
// abort.
//
// It depends on jobs (the levels a job file sets) and internal plumbing,
// never on the executor, the planner or the command line.
package guard
