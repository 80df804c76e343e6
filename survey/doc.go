// Package survey finds what is in a Redis keyspace: it folds every key name
// into a pattern (ticket:1755302811:18841:Qx7fTz2a becomes
// ticket:{ts}:{n}:{id}) and reports, per pattern, how many keys there are,
// how many have a TTL and how long it runs, their types, an estimate of
// their memory, their idle time, and which parts of the name are an
// embedded time. It answers the question the ticket and yipit stories both
// began with: "we had no idea what was in our Redis". From a survey it can
// write a job file for each pattern whose keys lack a TTL, for review.
//
// A Survey is data; rendering (text, markdown, JSON to an io.Writer) is
// separate, and the JSON is a versioned contract (docs/cli.md). Folding, the
// bounded pattern table, the warnings and the job files are pure and
// tested without a server; Run is the only part that talks to Redis.
//
// Run is read-only (docs/safety.md, promise 1). It sends SCAN, TYPE,
// PEXPIRETIME (PTTL before Redis 7), OBJECT IDLETIME, MEMORY USAGE
// SAMPLES 0, INFO and TIME (and CLUSTER MYID and SLOTS to find a
// cluster's primaries, which it reads at once), none of which changes a
// key, its TTL or its LRU clock. Only where every connection is under
// CLIENT NO-TOUCH does it read inside the hashes, sorted sets and streams
// of its samples (HRANDFIELD key 16, HPEXPIRETIME on those fields, ZCARD,
// ZRANGE 0 0 and -1 -1 WITHSCORES, XLEN, XRANGE - + COUNT 1: bounded
// calls, which without NO-TOUCH would touch the keys' LRU and LFU). Without TYPE, OBJECT IDLETIME or MEMORY
// USAGE (renamed away, or denied to the user) that figure is unknown and
// the survey's notes say why; PTTL stands in for a missing PEXPIRETIME;
// without SCAN, TIME or both expiry commands it refuses before its first
// SCAN, naming the ACL rule. Its memory is bounded whatever the
// keyspace: at most MaxPatterns patterns (rarer ones collapse into
// "other"), and fixed-size samples per pattern: 256 TTLs, and the idle
// time and MEMORY USAGE of 128 keys.
//
// It depends on jobs (to check the job files it writes), on internal/scan
// and internal/redisx, and on internal/words for the words its reports
// share with the plan's; it must not depend on cmd, planner or the
// executor.
package survey
