package planner

import (
	"fmt"
	"time"

	"github.com/keyjob/keyjob/internal/redisx"
)

// Hand-built plans for the renderer's golden files. The figures follow the
// stories: they are what a real plan would hold, kept
// consistent (outcomes add up to scanned, the schedule to the changes) so
// the goldens read like reports a reviewer would get.

type renderFixture struct {
	name string
	plan *Plan
}

func renderFixtures() []renderFixture {
	return []renderFixture{
		{"ticket", fxTicketPlan()},
		{"delete", fxDeletePlan()},
		{"errors", fxErrorsPlan()},
		{"sampled", fxSampledPlan()},
		{"nothing", fxNothingPlan()},
		{"fields", fxFieldsPlan()},
		{"streams", fxStreamsPlan()},
	}
}

const (
	fxKiB = 1 << 10
	fxMiB = 1 << 20
	fxGiB = 1 << 30
	fxDay = 24 * time.Hour
)

func fxTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func fxPtr(t time.Time) *time.Time { return &t }

// fxYearAfter is the expiry the ticket job computes: issued + 365d.
func fxYearAfter(issued int64) *time.Time {
	return fxPtr(time.Unix(issued, 0).UTC().Add(365 * fxDay))
}

// fxTicketPlan is the ticket story at one million keys: a TTL backfill under
// volatile-lru with a large grace backlog, AOF on, two replicas.
func fxTicketPlan() *Plan {
	now := fxTime("2026-11-22T03:04:05Z")
	grace := fxPtr(now.Add(time.Hour))
	return &Plan{
		FormatVersion: FormatVersion,
		GeneratedAt:   now,
		Job: JobInfo{
			Name:        "ticket-ttl-backfill",
			Path:        "jobs/ticket-ttl-backfill.yaml",
			SHA256:      "9f3c5be0d1a7c44e2f1b9a8d6e0c3b7a5d2e8f1c4b6a9d0e3f7c2b5a8d1ee1a0",
			Description: "Every ticket lives one year from its issue time; give the ones that lost their TTL one.",
			Action:      "expire",
			Summary:     "TTL from issued: 365 d after the capture issued (unix)",
			Match:       "ticket:*",
			Type:        "string",
			When:        "no_ttl",
			Backup:      "journal",
			Rate:        "5000",
			ScanRate:    "100000",
		},
		Target: Target{
			Server:                   redisx.Server{Address: "redis-prod-1:6379", DB: 0, Mode: "standalone", RedisVersion: "7.0.15", Role: "master"},
			Replicas:                 2,
			Nodes:                    1,
			Memory:                   redisx.Memory{UsedMemory: 180 * fxMiB, MaxMemory: 512 * fxMiB, MaxMemoryPolicy: "volatile-lru"},
			AOF:                      true,
			AOFSize:                  120 * fxMiB,
			AOFBaseSize:              84 * fxMiB,
			Save:                     "3600 1 300 100 60 10000",
			AutoAOFRewritePercentage: 100,
			AutoAOFRewriteMinSize:    64 * fxMiB,
			ReplBacklogSize:          1 * fxMiB,
			Keyspace:                 []KeyspaceLine{{DB: 0, Keys: 1149760, Expires: 22995}},
			ConfigReadable:           true,
		},
		DBSize:  1149760,
		Scanned: 1000000,
		Outcomes: Outcomes{
			Change:      980214,
			ChangeGrace: 481904,
			Skip:        map[string]int64{"regex": 0, "ttl": 19786, "idle": 0, "bad_timestamp": 0, "too_big_to_backup": 0},
		},
		Expiries: []ExpiryBucket{
			{Within: Duration(time.Hour), Label: "1 h", Keys: 481904, MemoryBytes: 481904 * 160},
			{Within: Duration(fxDay), Label: "1 d", Keys: 1402, MemoryBytes: 1402 * 160},
			{Within: Duration(7 * fxDay), Label: "7 d", Keys: 9310, MemoryBytes: 9310 * 160},
			{Within: Duration(30 * fxDay), Label: "30 d", Keys: 30878, MemoryBytes: 30878 * 160},
			{Within: Duration(90 * fxDay), Label: "90 d", Keys: 82100, MemoryBytes: 82100 * 160},
			{Within: Duration(365 * fxDay), Label: "365 d", Keys: 374620, MemoryBytes: 374620 * 160},
		},
		PeakMinute: &PeakMinute{At: now.Add(time.Hour), Keys: 481904},
		Samples: map[string][]Key{
			"change": {
				{Name: "ticket:1790000000:18841:Qx7fTz2a", NewExpire: fxYearAfter(1790000000)},
				{Name: "ticket:1763950000:20417:mB3sQw8r", NewExpire: fxYearAfter(1763950000)},
				{Name: "ticket:1772000000:5512:Hq2mZ0aa", NewExpire: fxYearAfter(1772000000)},
				{Name: "ticket:1779000000:331907:Pp0oLk9j", NewExpire: fxYearAfter(1779000000)},
				{Name: "ticket:1784567890:77:Rr4tT6yY", NewExpire: fxYearAfter(1784567890)},
				{Name: "ticket:1793000000:66120:Jk2lL3mM", NewExpire: fxYearAfter(1793000000)},
			},
			"change_grace": {
				{Name: "ticket:1718899230:731:Lk0pPa9e", NewExpire: grace, Grace: true},
				{Name: "ticket:1700000000:98:Zt5yUu1c", NewExpire: grace, Grace: true},
				{Name: "ticket:1745000000:4410:Aa1bB2cC", NewExpire: grace, Grace: true},
				{Name: "ticket:1760000000:12:Mn8bV7cX", NewExpire: grace, Grace: true},
			},
			"ttl": {
				{Name: "ticket:1789000000:902:Ee5rR6tT", ExpireAt: fxPtr(now.Add(3*fxDay + 4*time.Hour))},
				{Name: "ticket:1781000000:15:Ww2eE3rR", ExpireAt: fxPtr(now.Add(41 * fxDay))},
				{Name: "ticket:1791000000:4021:Yy7uU8iI", ExpireAt: fxPtr(now.Add(200 * fxDay))},
			},
		},
		Estimates: Estimates{
			AOFBytes:            980214 * 79,
			AOFBytesPerKey:      79,
			AOFGraceBytes:       481904 * 52,
			ReplicationBytes:    980214 * 79,
			RewriteDiskBytes:    84 * fxMiB,
			MemoryAddedBytes:    980214 * 40,
			MemoryExpiringBytes: 980214 * 160,
			MeanKeyBytes:        160,
			DurationSeconds:     196.0428,
			JournalBytes:        980214 * 44,
			Forks:               []string{"1 BGSAVE (save 60 10000)", "1 AOF rewrite (auto-aof-rewrite-percentage 100)"},
		},
		Guards: []GuardLine{
			{Name: "memory", Figure: "35% of 512 MiB", Levels: "pause 90%, abort 95%", State: "ok"},
			{Name: "evictions", Figure: "0/s over the last 10 s", Levels: "abort if the run makes them faster", State: "ok"},
			{Name: "aof", Figure: "+0 B", Levels: "abort at +64 MiB (default: 25% of used_memory, at least 64 MiB)", State: "ok",
				Note: "the run appends 74 MiB and would abort at about 86%"},
			{Name: "disk", Figure: "unknown", Levels: "abort below 1 GiB free", State: "blind", Note: "no `--disk-path` or `--disk-free-command`"},
			{Name: "replication", Figure: "lag 0 B", Levels: "pause above 512 KiB", State: "ok"},
			{Name: "latency", Figure: "p99 0.4 ms", Levels: "pause above 10 ms", State: "ok"},
		},
		// Worded as planner/judge.go words them, plus the AOF guard's verdict.
		Warnings: []Message{
			{Code: "volatile_policy_few_ttls", Message: "maxmemory-policy is volatile-lru and 98% of keys have no TTL. Eviction can only pick among the 2% that do; when they are gone, writes fail with OOM. After this run, 980,214 more keys become candidates for eviction."},
			{Code: "grace_wave", Message: "481,904 keys are already past their lifetime and get the 1 h grace TTL; 481,904 of them expire in the same minute (1 h after the run): that many DELs to the AOF (24 MiB) and to each replica at once. Consider grace_spread: 6h."},
			{Code: "aof_growth_over_guard", Message: "The run appends about 74 MiB to the AOF, more than aof.max_growth allows (64 MiB, the default floor): it would abort at about 86% done. Raise guards.aof.max_growth in the job file."},
			{Code: "aof_without_disk_probe", Message: "AOF is on: the run appends about 74 MiB to it, and a rewrite needs about 84 MiB of free disk. The disk guard can only watch the disk if apply gets --disk-path DIR (a local data dir) or --disk-free-command CMD."},
			{Code: "replicas", Message: "2 replicas receive every change: about 74 MiB each. The replication backlog is 1 MiB; a replica that falls further behind needs a full resync, which forks this server. apply pauses when lag passes half of it."},
			{Code: "touches_most_of_keyspace", Message: "The job changes 980,214 of the 1,149,760 keys in db0 (85%): more than half the keyspace."},
		},

		Errors:       nil,
		ScanDuration: Duration(12 * time.Second),
	}
}

// fxDeletePlan is the deal clicks story: a delete with backup dump, three
// keys too big to dump, and key names that try to break a table.
func fxDeletePlan() *Plan {
	now := fxTime("2026-11-23T10:15:00Z")
	return &Plan{
		FormatVersion: FormatVersion,
		GeneratedAt:   now,
		Job: JobInfo{
			Name:        "drop-deal-clicks",
			Path:        "jobs/drop-deal-clicks.yaml",
			SHA256:      "4b7e0c2a9f1d3e5b7a9c0d2e4f6a8b0c1d3e5f7a9b0c2d4e6f8a0b1c3d5e7f2c",
			Description: "Click tracking for deals is no longer used.",
			Action:      "delete",
			Summary:     "UNLINK",
			Match:       "deal:clicks:*",
			Backup:      "dump",
			Rate:        "5000",
			ScanRate:    "100000",
			GuardsSet:   []string{"aof.max_growth"},
		},
		Target: Target{
			Server:                   redisx.Server{Address: "redis-deals:6379", DB: 3, Mode: "standalone", RedisVersion: "7.2.5", Role: "master"},
			Replicas:                 0,
			Nodes:                    1,
			Memory:                   redisx.Memory{UsedMemory: 3 * fxGiB, MaxMemory: 0, MaxMemoryPolicy: "noeviction"},
			AOF:                      true,
			AOFSize:                  900 * fxMiB,
			AOFBaseSize:              412 * fxMiB,
			AutoAOFRewritePercentage: 100,
			AutoAOFRewriteMinSize:    64 * fxMiB,
			ReplBacklogSize:          1 * fxMiB,
			Keyspace:                 []KeyspaceLine{{DB: 3, Keys: 310422, Expires: 120004}},
			ConfigReadable:           true,
		},
		DBSize:  310422,
		Scanned: 48214,
		Outcomes: Outcomes{
			Change: 48211,
			Skip:   map[string]int64{"regex": 0, "ttl": 0, "idle": 0, "bad_timestamp": 0, "too_big_to_backup": 3},
		},
		Samples: map[string][]Key{
			"change": {
				{Name: "deal:clicks:4471"},
				{Name: "deal:clicks:a|b"},
				{Name: "deal:clicks:`x`"},
				{Name: "deal:clicks:``two``"},
				{Name: "deal:clicks:ends-with`"},
				{Name: "deal:clicks:\x1b[2Jcleared"},
				{Name: "deal:clicks:naïve"},
				{Name: "deal:clicks:with space", ExpireAt: fxPtr(now.Add(6 * time.Hour))},
				{Name: `deal:clicks:back\slash|pipe`},
				{Name: "deal:clicks:<b>&amp;"},
			},
			"too_big_to_backup": {
				{Name: "deal:clicks:archive:2019", Why: "42991616 bytes"},
				{Name: "deal:clicks:archive:2020", Why: "39845888 bytes"},
				{Name: "deal:clicks:archive:2021", Why: "17825792 bytes"},
			},
		},
		Estimates: Estimates{
			AOFBytes:         48211 * 38,
			AOFBytesPerKey:   38,
			RewriteDiskBytes: 412 * fxMiB,
			MemoryFreedBytes: 48211 * 2100,
			MeanKeyBytes:     2100,
			DurationSeconds:  9.6422,
			JournalBytes:     48211 * 1320,
		},
		Guards: []GuardLine{
			{Name: "memory", Figure: "3 GiB, no maxmemory", Levels: "none: a delete frees memory", State: "ok"},
			{Name: "aof", Figure: "+0 B", Levels: "abort at +256 MiB (job file)", State: "ok"},
			{Name: "disk", Figure: "38 GiB free", Levels: "abort below 1 GiB free", State: "ok"},
		},
		Warnings: []Message{
			{Code: "too_big_to_backup", Message: "3 keys are larger than backup.max_dump_size (16 MiB) and will not be deleted. DUMP of a key that size blocks the server; delete them by hand in a quiet hour if they must go."},
		},
		ScanDuration: Duration(2 * time.Second),
	}
}

// fxErrorsPlan is a unit mistake: half the sessions carry their login time
// in milliseconds, read as seconds. The plan fails, and memory is already
// above the pause level.
func fxErrorsPlan() *Plan {
	now := fxTime("2026-11-24T01:30:00Z")
	monthAfter := func(login int64) *time.Time { return fxPtr(time.Unix(login, 0).UTC().Add(30 * fxDay)) }
	return &Plan{
		FormatVersion: FormatVersion,
		GeneratedAt:   now,
		Job: JobInfo{
			Name:       "session-ttl-backfill",
			Path:       "jobs/session-ttl-backfill.yaml",
			SHA256:     "c0ffee11d2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d",
			Action:     "expire",
			Summary:    "TTL from login: 30 d after the capture login (unix)",
			Match:      "session:*",
			Type:       "hash",
			When:       "no_ttl",
			Backup:     "none",
			Rate:       "2000",
			ScanRate:   "100000",
			MaxChanges: 200000,
		},
		Target: Target{
			Server:                   redisx.Server{Address: "redis-sessions:6379", DB: 2, Mode: "standalone", RedisVersion: "6.2.14", Role: "master"},
			Replicas:                 1,
			Nodes:                    1,
			Memory:                   redisx.Memory{UsedMemory: 1904 * fxMiB, MaxMemory: 2 * fxGiB, MaxMemoryPolicy: "allkeys-lru"},
			AOF:                      false,
			Save:                     "900 1 300 10 60 10000",
			AutoAOFRewritePercentage: 100,
			AutoAOFRewriteMinSize:    64 * fxMiB,
			ReplBacklogSize:          1 * fxMiB,
			Keyspace:                 []KeyspaceLine{{DB: 2, Keys: 260113, Expires: 8713}},
			ConfigReadable:           true,
		},
		DBSize:  260113,
		Scanned: 251400,
		Outcomes: Outcomes{
			Change:      227520,
			ChangeGrace: 35010,
			Skip:        map[string]int64{"regex": 11400, "ttl": 0, "idle": 0, "bad_timestamp": 12480, "too_big_to_backup": 0},
		},
		Expiries: []ExpiryBucket{
			{Within: Duration(time.Hour), Label: "1 h", Keys: 36210, MemoryBytes: 36210 * 4096},
			{Within: Duration(fxDay), Label: "1 d", Keys: 8400, MemoryBytes: 8400 * 4096},
			{Within: Duration(7 * fxDay), Label: "7 d", Keys: 61000, MemoryBytes: 61000 * 4096},
			{Within: Duration(30 * fxDay), Label: "30 d", Keys: 121910, MemoryBytes: 121910 * 4096},
			{Within: Duration(90 * fxDay), Label: "90 d", Keys: 0, MemoryBytes: 0},
			{Within: Duration(365 * fxDay), Label: "365 d", Keys: 0, MemoryBytes: 0},
		},
		PeakMinute: &PeakMinute{At: now.Add(time.Hour), Keys: 35010},
		Samples: map[string][]Key{
			"change": {
				{Name: "session:1795000000:u1203", NewExpire: monthAfter(1795000000)},
				{Name: "session:1794500000:u77", NewExpire: monthAfter(1794500000)},
			},
			"change_grace": {
				{Name: "session:1763500000:u8812", NewExpire: fxPtr(now.Add(time.Hour)), Grace: true},
			},
			"bad_timestamp": {
				{Name: "session:1795012345678:u1029", Why: `"1795012345678" as unix gives an expiry 20754855d from now, more than 31d: a unit mistake?`},
				{Name: "session:1795100000123:u5", Why: `"1795100000123" as unix gives an expiry 20755869d from now, more than 31d: a unit mistake?`},
				{Name: "session:1795300000999:u40", Why: `"1795300000999" as unix gives an expiry 20758184d from now, more than 31d: a unit mistake?`},
				{Name: "session:1795411111111:u8", Why: `"1795411111111" as unix gives an expiry 20759470d from now, more than 31d: a unit mistake?`},
			},
			"regex": {
				{Name: "session:legacy:9f8e7d"},
				{Name: "session:tmp"},
			},
		},
		Estimates: Estimates{
			AOFBytesPerKey:      81,
			ReplicationBytes:    227520 * 81,
			MemoryAddedBytes:    227520 * 40,
			MemoryExpiringBytes: 227520 * 4096,
			MeanKeyBytes:        4096,
			DurationSeconds:     113.76,
			Forks:               []string{"1 BGSAVE (save 60 10000)"},
		},
		Guards: []GuardLine{
			{Name: "memory", Figure: "93% of 2 GiB", Levels: "pause 90%, abort 95%", State: "pause", Note: "already above the pause level"},
			{Name: "replication", Figure: "lag 0 B", Levels: "pause above 512 KiB", State: "ok"},
		},
		// In planner/judge.go's words and order.
		Warnings: []Message{
			{Code: "memory_above_pause", Message: "Memory is at 93% of maxmemory (1.9 GiB of 2.0 GiB), above the 90% pause level: apply refuses to start unless you pass --from-high-memory, and then pauses at +1% and aborts at +3% of maxmemory from where it starts."},
			{Code: "grace_wave", Message: "35,010 keys are already past their lifetime and get the 1 h grace TTL; 35,010 of them expire in the same minute (1 h after the run): that many DELs to the AOF (0 B) and to each replica at once. Consider grace_spread: 6h."},
			{Code: "replicas", Message: "1 replica receives every change: about 18 MiB. The replication backlog is 1 MiB; a replica that falls further behind needs a full resync, which forks this server. apply pauses when lag passes half of it."},
			{Code: "touches_most_of_keyspace", Message: "The job changes 227,520 of the 260,113 keys in db2 (87%): more than half the keyspace."},
			{Code: "no_undo", Message: "backup: none — no journal is written and the run cannot be undone."},
		},
		Errors: []Message{
			{Code: "unit_mistake", Message: "12,480 keys (5.5% of the 227,520 keys to change) have a timestamp that does not parse or lies too far in the future. More than 1% means the format is wrong (seconds read as milliseconds, a wrong layout): fix action.expire.from.format. apply refuses to run this job. See the bad_timestamp samples."},
			{Code: "max_changes_exceeded", Message: "The job would change 227,520 keys, more than limits.max_changes (200,000): apply would abort. Raise max_changes if this is expected, or narrow select."},
		},
		ScanDuration: Duration(3 * time.Second),
	}
}

// fxSampledPlan is a --sample estimate of a persist job on a cluster.
func fxSampledPlan() *Plan {
	now := fxTime("2026-11-25T14:00:00Z")
	return &Plan{
		FormatVersion: FormatVersion,
		GeneratedAt:   now,
		Job: JobInfo{
			Name:        "keep-carts",
			Path:        "jobs/keep-carts.yaml",
			SHA256:      "77aa0b1c2d3e4f5061728394a5b6c7d8e9f0a1b2c3d4e5f60718293a4b5c6d7e",
			Description: "Carts are now kept until checkout; remove their TTL.",
			Action:      "persist",
			Summary:     "remove the TTL",
			Match:       "cart:*",
			Type:        "hash",
			Backup:      "journal",
			Rate:        "unlimited",
			ScanRate:    "100000",
		},
		Target: Target{
			Server:                   redisx.Server{Address: "cache-cluster-1:7000", DB: 0, Mode: "cluster", RedisVersion: "7.2.4", Role: "master"},
			Replicas:                 3,
			Nodes:                    3,
			Memory:                   redisx.Memory{UsedMemory: 3 * fxGiB, MaxMemory: 4 * fxGiB, MaxMemoryPolicy: "volatile-ttl"},
			AutoAOFRewritePercentage: -1,
			AutoAOFRewriteMinSize:    -1,
			ReplBacklogSize:          16 * fxMiB,
			Keyspace:                 []KeyspaceLine{{DB: 0, Keys: 2410000, Expires: 1900000}},
		},
		DBSize:  2410000,
		Scanned: 322580,
		Sample:  &Sample{Requested: 10000, Fraction: 0.031, Margin: 0.018},
		Outcomes: Outcomes{
			Change: 318400,
			Skip:   map[string]int64{"regex": 0, "ttl": 4180, "idle": 0, "bad_timestamp": 0, "too_big_to_backup": 0},
		},
		Samples: map[string][]Key{
			"change": {
				{Name: "cart:{u:1842}:7731", ExpireAt: fxPtr(now.Add(2*fxDay + 5*time.Hour))},
				{Name: "cart:{u:90}:12", ExpireAt: fxPtr(now.Add(40 * time.Minute))},
			},
			"ttl": {
				{Name: "cart:{u:5}:3"},
			},
		},
		Estimates: Estimates{
			AOFBytesPerKey:   45,
			ReplicationBytes: 318400 * 45,
			MemoryFreedBytes: 318400 * 40,
			MeanKeyBytes:     1800,
			DurationSeconds:  21.2,
			JournalBytes:     318400 * 44,
		},
		Guards: []GuardLine{
			{Name: "memory", Figure: "75% of 4 GiB (fullest primary)", Levels: "pause 90%, abort 95%", State: "ok"},
			{Name: "replication", Figure: "lag 2 KiB", Levels: "pause above 8 MiB", State: "ok"},
		},
		Warnings: []Message{
			{Code: "volatile_policy_few_ttls", Message: "maxmemory-policy is volatile-ttl and 21% of keys have no TTL. Eviction can only pick among the 79% that do; after this run about 318,400 fewer keys can be evicted."},
			{Code: "config_refused", Message: "The server refuses CONFIG GET (managed services often do): the save points and auto-aof-rewrite settings are unknown, so the forks the run triggers cannot be projected."},
		},
		ScanDuration: Duration(time.Second),
	}
}

// fxNothingPlan has nothing to change and leaves every list and map nil, as
// a planner that found nothing might: the JSON must still say [] and {}.
func fxNothingPlan() *Plan {
	return &Plan{
		GeneratedAt: fxTime("2026-11-26T09:00:00Z"),
		Job: JobInfo{
			Name:    "old-sessions-ttl",
			Path:    "jobs/old-sessions-ttl.yaml",
			SHA256:  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
			Action:  "expire",
			Summary: "fixed TTL of 7 d from the run's start",
			Match:   "oldsess:*",
			Backup:  "journal",
			Rate:    "5000",
		},
		Target: Target{
			Server: redisx.Server{Address: "127.0.0.1:6379", Mode: "standalone", RedisVersion: "7.4.1", Role: "master"},
			Memory: redisx.Memory{UsedMemory: 2 * fxMiB},
		},
		DBSize:   5000,
		Scanned:  5000,
		Outcomes: Outcomes{Skip: map[string]int64{"ttl": 5000}},
	}
}

// fxFieldsPlan is the device-fields story: hashes of sightings, each a
// field named after its time, given a TTL of their own 30 days after it;
// a backlog of old sightings gets the grace TTL.
func fxFieldsPlan() *Plan {
	now := fxTime("2026-12-01T10:00:00Z")
	seen := func(ago time.Duration) int64 { return now.Add(-ago).Unix() }
	return &Plan{
		FormatVersion: FormatVersion,
		GeneratedAt:   now,
		Job: JobInfo{
			Name:    "device-fields-ttl",
			Path:    "examples/device-fields-ttl.yaml",
			SHA256:  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
			Action:  "expire",
			Summary: `TTL from the at time: 30 d after it (unix in the name); for the fields matching "seen:*" and /^seen:(?P<at>\d{10}):/ without a TTL (HPEXPIREAT NX, 128 at a time)`,
			Match:   "devices:*",
			Type:    "hash",
			When:    "no_ttl",
			Backup:  "journal",
			Rate:    "5000",
		},
		Target: Target{
			Server: redisx.Server{Address: "127.0.0.1:6379", Mode: "standalone", RedisVersion: "8.0.2", Role: "master"},
			Memory: redisx.Memory{UsedMemory: 300 * fxMiB},
		},
		DBSize:   40000,
		Scanned:  12000,
		Outcomes: Outcomes{Change: 11500, Skip: map[string]int64{"regex": 0, "ttl": 0, "idle": 0, "bad_timestamp": 0, "too_big_to_backup": 0, "no_fields": 500}},
		Expiries: []ExpiryBucket{
			{Within: Duration(time.Hour), Label: "1 h", Keys: 210000, MemoryBytes: 210000 * 40},
			{Within: Duration(fxDay), Label: "1 d", Keys: 9000, MemoryBytes: 9000 * 40},
			{Within: Duration(7 * fxDay), Label: "7 d", Keys: 60000, MemoryBytes: 60000 * 40},
			{Within: Duration(30 * fxDay), Label: "30 d", Keys: 221000, MemoryBytes: 221000 * 40},
		},
		PeakMinute: &PeakMinute{At: now.Add(time.Hour), Keys: 210000},
		Samples: map[string][]Key{
			"change":    {{Name: "devices:8812"}},
			"no_fields": {{Name: "devices:17"}},
		},
		Fields: &FieldsPlan{
			Match: "seen:*", Regex: `^seen:(?P<at>\d{10}):`, TTL: "none",
			Walked: 530000, Change: 500000, ChangeGrace: 210000,
			Skip:           map[string]int64{"regex": 12000, "ttl": 17900, "bad_timestamp": 100},
			MeanFieldBytes: 40,
			Samples: map[string][]FieldSample{
				"change":        {{Key: "devices:8812", Field: fmt.Sprintf("seen:%d:gw4", seen(3*fxDay)), NewExpire: fxPtr(time.Unix(seen(3*fxDay), 0).UTC().Add(30 * fxDay))}},
				"change_grace":  {{Key: "devices:8812", Field: fmt.Sprintf("seen:%d:gw1", seen(90*fxDay)), NewExpire: fxPtr(now.Add(time.Hour)), Grace: true}},
				"ttl":           {{Key: "devices:8812", Field: fmt.Sprintf("seen:%d:gw2", seen(fxDay)), ExpireAt: fxPtr(now.Add(2 * fxDay))}},
				"bad_timestamp": {{Key: "devices:90", Field: "seen:9999999999:gw7", Why: `"9999999999" as unix gives an expiry 94877d from now, more than 31d: a unit mistake?`}},
			},
		},
		Estimates: Estimates{AOFBytes: 500000 * 30, MemoryAddedBytes: 290000 * 16, MemoryExpiringBytes: 500000 * 40, DurationSeconds: 100, JournalBytes: 500000 * 30},
		Warnings:  []Message{{Code: WarnBadTimestamps, Message: "100 fields have a timestamp in their name that does not parse or lies too far in the future; they are left alone (see the bad_timestamp samples under fields)."}},
	}
}

// fxStreamsPlan trims event streams to their last 7 days: most streams
// lose their old entries, one holds IDs written by hand, a few are new,
// one is too big to dump.
func fxStreamsPlan() *Plan {
	now := fxTime("2026-11-25T09:00:00Z")
	cut := now.Add(-7 * fxDay)
	return &Plan{
		FormatVersion: FormatVersion,
		GeneratedAt:   now,
		Job: JobInfo{
			Name:     "trim-event-streams",
			Path:     "examples/trim-event-streams.yaml",
			SHA256:   "5e1f0c2a9f1d3e5b7a9c0d2e4f6a8b0c1d3e5f7a9b0c2d4e6f8a0b1c3d5e7f2c",
			Action:   "delete",
			Summary:  "remove the stream entries whose ID is more than 7 days before the run's start (XDEL, 128 at a time)",
			Match:    "events:*",
			Type:     "stream",
			Backup:   "dump",
			Rate:     "5000",
			ScanRate: "100000",
		},
		Target: Target{
			Server:         redisx.Server{Address: "redis-events:6379", DB: 0, Mode: "standalone", RedisVersion: "8.0.2", Role: "master"},
			Nodes:          1,
			Memory:         redisx.Memory{UsedMemory: 2 * fxGiB, MaxMemory: 4 * fxGiB, MaxMemoryPolicy: "noeviction"},
			AOF:            true,
			AOFSize:        300 * fxMiB,
			AOFBaseSize:    200 * fxMiB,
			Keyspace:       []KeyspaceLine{{DB: 0, Keys: 1200, Expires: 0}},
			ConfigReadable: true,
		},
		DBSize:  1200,
		Scanned: 40,
		Outcomes: Outcomes{
			Change: 36,
			Skip:   map[string]int64{"regex": 0, "ttl": 0, "idle": 0, "bad_timestamp": 1, "too_big_to_backup": 1, "no_members": 2},
		},
		Members: &MembersPlan{Type: "stream", OlderThan: Duration(7 * fxDay), Cutoff: cut,
			CutoffID: "1763456400000-0", EpochFloorID: "946684800000-0", Selected: 412800, Held: 1003400},
		Samples: map[string][]Key{
			"change": {
				{Name: "events:orders", Members: &KeyMembers{Selected: 120000, Held: 300000, FloorID: "1763456400117-0"}},
				{Name: "events:payments", Members: &KeyMembers{Selected: 800, Held: 800}},
			},
			"bad_timestamp":     {{Name: "events:fixtures", Why: "oldest entry 1-1 lies before 2000: its IDs are no times"}},
			"too_big_to_backup": {{Name: "events:clicks", Why: "41943040 bytes"}},
			"no_members":        {{Name: "events:new"}, {Name: "events:empty"}},
		},
		Estimates: Estimates{
			AOFBytes:         412800*22 + 3225*30,
			RewriteDiskBytes: 200 * fxMiB,
			MemoryFreedBytes: 96 * fxMiB,
			MeanKeyBytes:     6 * fxMiB,
			DurationSeconds:  82.56,
			JournalBytes:     36*8*fxMiB + 412800*16,
		},
		Guards: []GuardLine{
			{Name: "memory", Figure: "2 GiB of 4 GiB (50%)", Levels: "none: a trim frees memory", State: "ok"},
		},
		Warnings: []Message{
			{Code: "too_big_to_backup", Message: "1 key is larger than backup.max_dump_size (16 MiB) and will not be trimmed."},
		},
		ScanDuration: Duration(time.Second),
	}
}
