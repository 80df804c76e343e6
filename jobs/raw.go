package jobs

// The raw structs are the job file as written: what the YAML decoder fills
// and what Schema describes. Values whose syntax is keyjob's own
// (durations, sizes, rates, percentages) stay text here; validate.go turns
// them into a Job. A nil pointer is a field the file does not set.

type rawJob struct {
	Version     *int        `yaml:"version" jsonschema:"required,enum=1" jsonschema_description:"Job file format version. Must be 1."`
	Name        *string     `yaml:"name" jsonschema:"required,pattern=^[a-z0-9][a-z0-9-]*$" jsonschema_description:"Lowercase letters, digits and dashes, starting with a letter or digit. Names the checkpoint, the journal and the report."`
	Description *string     `yaml:"description" jsonschema_description:"Free text shown at the top of every report."`
	DB          *int        `yaml:"db" jsonschema:"minimum=0" jsonschema_description:"Logical database (standalone servers only). Default: the URL's /N, else 0; a different /N in the URL is an error."`
	Select      *rawSelect  `yaml:"select" jsonschema:"required" jsonschema_description:"Which keys the job considers."`
	Members     *rawMembers `yaml:"members" jsonschema_description:"Act on the members of each selected sorted set or stream rather than on the key: the members whose time (a sorted set's score, a stream entry's ID) is older than older_than. Needs select.type: zset or stream and action.delete: {}."`
	Fields      *rawFields  `yaml:"fields" jsonschema_description:"Act on the fields of each selected hash rather than on the key: each field gets a TTL of its own (expire, HPEXPIREAT NX), loses it (persist, HPERSIST) or goes (delete, HDEL). Needs select.type: hash and a server with hash-field expiry (Redis 7.4+, Valkey 9+)."`
	Action      *rawAction  `yaml:"action" jsonschema:"required" jsonschema_description:"What the job does to each selected key: exactly one of expire, delete, persist."`
	Backup      *rawBackup  `yaml:"backup" jsonschema_description:"What is kept to undo the run: journal (previous expiries; the default), dump (also DUMP payloads), none (no undo), or {mode: dump, max_dump_size: 16MiB}. A delete job must say dump or none."`
	Limits      *rawLimits  `yaml:"limits" jsonschema_description:"How fast the job goes and how much it may change."`
	Guards      *rawGuards  `yaml:"guards" jsonschema_description:"Levels at which the run pauses or aborts. Tightening is free; a level looser than the default needs --allow-looser-guards."`
}

type rawSelect struct {
	Match    *string         `yaml:"match" jsonschema:"required" jsonschema_description:"SCAN MATCH glob (Redis glob rules), e.g. \"ticket:*\". A bare * is refused unless allow_all is true."`
	AllowAll *bool           `yaml:"allow_all" jsonschema_description:"Allow match: \"*\", a scan of the whole keyspace."`
	Type     *string         `yaml:"type" jsonschema:"enum=string,enum=hash,enum=list,enum=set,enum=zset,enum=stream" jsonschema_description:"Only keys of this type (SCAN TYPE). Default: any type."`
	Regex    *string         `yaml:"regex" jsonschema_description:"RE2 regular expression the whole key name is checked against (anchor it yourself with ^ and $). Named groups, (?P<name>...), are captures for action.expire.from. Keys the glob matches but the regex does not are skipped as regex."`
	TTL      *ttlText        `yaml:"ttl" jsonschema_description:"none (keys without a TTL), any (the default), or a comparison on the remaining TTL such as \"< 1h\" or \"> 30d\" (never matches a key without a TTL)."`
	Idle     *comparisonText `yaml:"idle" jsonschema_description:"Comparison on OBJECT IDLETIME such as \"> 30d\", at most 180d. A server with an LFU policy cannot answer it."`
}

type rawAction struct {
	Expire  *rawExpire `yaml:"expire" jsonschema_description:"Give each selected key an expiry: a fixed ttl from the run's start, or from a time captured from the key name plus after."`
	Delete  *rawEmpty  `yaml:"delete" jsonschema_description:"UNLINK each selected key. Write delete: {}. Needs backup: dump or backup: none."`
	Persist *rawEmpty  `yaml:"persist" jsonschema_description:"Remove the TTL of each selected key. Write persist: {}."`
}

type rawMembers struct {
	Score     *rawScore     `yaml:"score" jsonschema_description:"How a sorted-set member's score reads as a time. Required with select.type: zset; refused with stream (an entry's ID is its time in milliseconds)."`
	OlderThan *durationText `yaml:"older_than" jsonschema:"required" jsonschema_description:"Members whose time is more than this before the run's start are selected. The cutoff is fixed when the run starts, so a resumed run removes the same members."`
}

type rawFields struct {
	Match *string `yaml:"match" jsonschema_description:"HSCAN MATCH glob on the field name, e.g. \"seen:*\". Default: every field."`
	Regex *string `yaml:"regex" jsonschema_description:"RE2 regular expression the whole field name is checked against. Named groups, (?P<name>...), are captures for action.expire.from. Fields the glob matches but the regex does not are skipped as regex."`
	TTL   *string `yaml:"ttl" jsonschema:"enum=none,enum=has,enum=any" jsonschema_description:"none (fields without a TTL of their own), has (fields with one), or any (the default)."`
}

type rawScore struct {
	Format *string `yaml:"format" jsonschema:"required,enum=unix,enum=unix_ms" jsonschema_description:"unix (seconds) or unix_ms (milliseconds) since 1970."`
}

// rawEmpty is an action without settings, written {}.
type rawEmpty struct{}

type rawExpire struct {
	TTL         *durationText `yaml:"ttl" jsonschema_description:"Fixed TTL for every selected key, measured from the run's start. Exactly one of ttl and from."`
	From        *rawFrom      `yaml:"from" jsonschema_description:"Where the key's life starts: a capture of select.regex read as a time. Exactly one of ttl and from."`
	After       *durationText `yaml:"after" jsonschema_description:"With from: the key expires this long after the captured time."`
	Grace       *durationText `yaml:"grace" jsonschema_description:"With from: a key whose expiry has already passed gets this TTL from the run's start instead of going at once. Default 1h."`
	GraceSpread *durationText `yaml:"grace_spread" jsonschema_description:"With from: spread grace expiries evenly over this window after grace, by a hash of the key name, so a backlog does not expire in one burst. Default 0."`
	When        *string       `yaml:"when" jsonschema:"enum=no_ttl,enum=always,enum=shorter,enum=longer" jsonschema_description:"no_ttl (the default): only keys without a TTL; always; shorter: keys without a TTL or with a later expiry; longer: only keys whose TTL ends sooner (never a key without one)."`
	Jitter      *percentText  `yaml:"jitter" jsonschema_description:"Lengthen each TTL (grace too) by up to this share, e.g. 5%, derived from a hash of the key name so a re-run gives each key the same expiry. Default 0%."`
}

type rawFrom struct {
	Capture  *string `yaml:"capture" jsonschema:"required" jsonschema_description:"Name of a named group of select.regex."`
	Format   *string `yaml:"format" jsonschema:"required" jsonschema_description:"unix (seconds), unix_ms, rfc3339, or a Go time layout with a year such as \"2006-01-02\" or \"20060102\"."`
	TimeZone *string `yaml:"time_zone" jsonschema_description:"IANA time zone, e.g. Europe/Berlin, for a layout without a zone. Default UTC."`
}

// rawBackup is either a mode alone (backup: dump) or a mapping; its
// UnmarshalYAML takes both.
type rawBackup struct {
	Mode        *string   `yaml:"mode" jsonschema:"required,enum=journal,enum=dump,enum=none"`
	MaxDumpSize *sizeText `yaml:"max_dump_size"`
}

type rawLimits struct {
	Rate       *rateText `yaml:"rate" jsonschema_description:"Changes per second, or unlimited. Default 5000."`
	ScanRate   *rateText `yaml:"scan_rate" jsonschema_description:"Keys scanned per second by plan, survey and apply, or unlimited. Default 100000."`
	ScanCount  *int      `yaml:"scan_count" jsonschema:"minimum=1,maximum=100000" jsonschema_description:"SCAN COUNT hint, adapted down when calls get slow. Default 1000, at most 100000."`
	MaxChanges *int64    `yaml:"max_changes" jsonschema:"minimum=1" jsonschema_description:"Most changes across all resumes of the run: the run aborts before exceeding it and plan fails when it counts more. Default: no limit."`
}

type rawGuards struct {
	Memory      *rawMemoryGuards      `yaml:"memory" jsonschema_description:"Memory use against maxmemory (or limit)."`
	Persistence *rawPersistenceGuards `yaml:"persistence" jsonschema_description:"RDB and AOF forks and write errors."`
	AOF         *rawAOFGuards         `yaml:"aof" jsonschema_description:"Growth of the append-only file during the run."`
	Disk        *rawDiskGuards        `yaml:"disk" jsonschema_description:"Free disk where the AOF and RDB live."`
	Replication *rawReplicationGuards `yaml:"replication" jsonschema_description:"Replica lag and replicas lost."`
	Latency     *rawLatencyGuards     `yaml:"latency" jsonschema_description:"Latency of a PING on its own connection."`
}

type rawMemoryGuards struct {
	PauseAbove       *percentText `yaml:"pause_above" jsonschema_description:"Pause while used_memory is above this share of maxmemory (or limit). Default 90%."`
	AbortAbove       *percentText `yaml:"abort_above" jsonschema_description:"Abort when used_memory is above this share. Default 95%; must be above pause_above."`
	Limit            *sizeText    `yaml:"limit" jsonschema_description:"The memory the levels are shares of, when the server's maxmemory is 0."`
	AbortOnEvictions *bool        `yaml:"abort_on_evictions" jsonschema_description:"Abort when the run makes evictions faster than before it. Default true."`
}

type rawPersistenceGuards struct {
	PauseDuringFork   *bool `yaml:"pause_during_fork" jsonschema_description:"Pause while a BGSAVE or AOF rewrite is in progress (copy-on-write needs memory). Default true."`
	AbortOnWriteError *bool `yaml:"abort_on_write_error" jsonschema_description:"Abort when the last AOF write or BGSAVE failed. Default true."`
}

type rawAOFGuards struct {
	MaxGrowth *sizeOrPercentText `yaml:"max_growth" jsonschema_description:"Abort when aof_current_size grew by more than this since the run began: a size such as 256MiB or a share of used_memory such as 25%. Default 25% of used_memory, at least 64MiB."`
}

type rawDiskGuards struct {
	AbortBelow *sizeText `yaml:"abort_below" jsonschema_description:"Abort when free disk where the AOF and RDB live drops below this size. Default 1GiB."`
}

type rawReplicationGuards struct {
	PauseLagAbove      *sizeText `yaml:"pause_lag_above" jsonschema_description:"Pause while the largest replica offset lag is above this size. Default half of repl-backlog-size."`
	AbortOnReplicaLoss *bool     `yaml:"abort_on_replica_loss" jsonschema_description:"Abort when a replica disconnects during the run. Default true."`
}

type rawLatencyGuards struct {
	PauseAbove *durationText `yaml:"pause_above" jsonschema_description:"Pause while the p99 of a PING over the last 10 s is above this duration. Default 10ms."`
}

// Text types keep a value as written; each says what it wants (for the
// structure check's messages) and describes itself in the schema.
type (
	durationText      string
	sizeText          string
	rateText          string
	percentText       string
	sizeOrPercentText string
	comparisonText    string
	ttlText           string
)

// wanter is a raw type that says what a value of it must look like.
type wanter interface{ want() string }

func (durationText) want() string      { return wantDuration }
func (sizeText) want() string          { return wantSize }
func (rateText) want() string          { return wantRate }
func (percentText) want() string       { return wantPercent }
func (sizeOrPercentText) want() string { return wantSizeOrPercent }
func (comparisonText) want() string    { return wantComparison }
func (ttlText) want() string           { return wantTTL }
func (rawEmpty) want() string          { return "{}" }
func (rawBackup) want() string         { return wantBackup }

const (
	wantSizeOrPercent = "a size such as 256MiB or a percentage of used_memory such as 25%"
	wantTTL           = `none, any, or a comparison such as "< 1h" or "> 30d"`
	wantBackup        = "journal, dump or none, or {mode: dump, max_dump_size: 16MiB}"
)

// UnmarshalYAML takes "backup: dump" as well as the mapping form. The
// structure check (shape.go) has already refused anything else.
func (b *rawBackup) UnmarshalYAML(unmarshal func(any) error) error {
	var mode string
	if err := unmarshal(&mode); err == nil {
		b.Mode = &mode
		return nil
	}
	type plain rawBackup // without this method
	return unmarshal((*plain)(b))
}
