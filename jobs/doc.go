// Package jobs is the job file: its format (version 1), its validation, and
// the decision of what happens to one key.
//
// A job file is one YAML document. It says which keys a job considers
// (select: a SCAN MATCH glob, a key type, an RE2 regex whose named groups
// become captures, conditions on the remaining TTL and on the idle time),
// what it does to each (action: exactly one of expire, delete, persist),
// what it keeps to undo the change (backup), how fast it goes (limits) and
// what makes it pause or stop (guards). Durations take Go syntax plus d and w
// (365d, 1d12h), sizes take KiB MiB GiB TiB and KB MB GB TB (16MiB), shares
// take a percent sign (90%). Unknown fields are errors, and every error
// names the file, line, column and field, what was expected and what was
// found (see Error). Schema gives the format as a JSON Schema for editors.
//
// The package is pure: it parses the bytes it is given and decides from
// values it is handed. It must not depend on Redis, the network, the clock
// (time comes in through Clock, from the server's TIME) or any other keyjob
// package, and does no I/O beyond Load reading the job file. The planner and
// the executor feed it what they read from the server and act on its
// decisions; the CLI reuses its unit parsers (ParseRate, ParseDuration, ...)
// for flags.
package jobs
