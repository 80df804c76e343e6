package jobs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzParse feeds Parse arbitrary bytes. It must never panic nor allocate
// more than maxParseAlloc; every error must have a position; and a job that parses must validate the same when
// written back out in canonical form, and decide about any key without
// panicking.
func FuzzParse(f *testing.F) {
	paths, _ := filepath.Glob("../examples/*.yaml")
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	for _, s := range hostileShapes() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var j *Job
		var err error
		// Work is bounded by bytes allocated, not by the clock: a shape
		// the bounds miss allocates gigabytes, whatever the machine's load.
		if alloc := allocated(func() { j, err = Parse("fuzz.yaml", data) }); alloc > maxParseAlloc {
			t.Fatalf("parse of %d bytes allocated %d MiB, want at most %d MiB", len(data), alloc>>20, maxParseAlloc>>20)
		}
		if err != nil {
			checkErrorShape(t, err)
			return
		}
		checkInvariants(t, j)
		c1 := canonical(j)
		if !utf8.ValidString(c1) {
			return // YAML escapes name code points, not bytes: no round trip
		}
		j2, err := Parse("canonical.yaml", []byte(c1))
		if err != nil {
			t.Fatalf("canonical form does not parse: %v\n--- input\n%s\n--- canonical\n%s", err, data, c1)
		}
		if c2 := canonical(j2); c2 != c1 {
			t.Fatalf("canonical form changed on re-parse:\n--- first\n%s\n--- second\n%s", c1, c2)
		}
		name := string(data[:min(len(data), 48)])
		for _, k := range []Key{{Name: name}, {Name: name, HasTTL: true, ExpireAt: clock.Now.Add(time.Hour)}, {Name: "k:1700000000:1"}} {
			d := j.Decide(k, clock)
			if d.Outcome == Change && !d.ExpireAt.Equal(d.ExpireAt.Truncate(time.Millisecond)) {
				t.Fatalf("expiry %v not in milliseconds", d.ExpireAt)
			}
		}
	})
}

var fuzzSeeds = []string{
	"",
	"version: 1\n",
	"version: 1\nname: x\nselect: {match: \"k:*\", ttl: \"< 1h\", idle: \"> 2d\"}\naction: {expire: {ttl: 1d, when: longer, jitter: 5%}}\n",
	"version: 1\nname: x\nselect: {match: \"k:*\", regex: '^k:(?P<t>\\d+):(\\d+)$'}\naction: {expire: {from: {capture: t, format: unix_ms}, after: 1w, grace: 0, grace_spread: 2h}}\nlimits: {rate: unlimited, scan_rate: 0.5, scan_count: 7, max_changes: 9}\n",
	"version: 1\nname: x\ndb: 2\nselect: {match: \"*\", allow_all: true, type: zset}\naction: {persist: {}}\nbackup: {mode: dump, max_dump_size: 1.5GiB}\nguards: {memory: {pause_above: 50%, abort_above: 60%, limit: 1GB, abort_on_evictions: false}, aof: {max_growth: 10%}, disk: {abort_below: 0}, replication: {pause_lag_above: 1KiB, abort_on_replica_loss: false}, persistence: {pause_during_fork: false, abort_on_write_error: true}, latency: {pause_above: 1ms}}\n",
	"version: 1\nname: r\nselect: {match: \"r:*\", regex: '^r:(?P<d>.+)$'}\naction: {expire: {from: {capture: d, format: \"2006-01-02\", time_zone: Asia/Tokyo}, after: 90d}}\n",
	"a: &x 1\nb: *x\nc: !!str 3\n? [x]\n: y\n",
	"version: 1\nname: x\nselect:\n  match: \"a\"\n  match: \"b\"\n",
	"- 1\n- 2\n---\nx\n",
}

func checkErrorShape(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("error %v does not match ErrInvalid", err)
	}
	var es Errors
	if !errors.As(err, &es) || len(es) == 0 {
		t.Fatalf("error %T %v is not a non-empty Errors", err, err)
	}
	for i, e := range es {
		if e.File != "fuzz.yaml" || e.Line < 1 || e.Col < 1 || e.Msg == "" {
			t.Fatalf("malformed error %#v", e)
		}
		if i > 0 && (es[i-1].Line > e.Line || es[i-1].Line == e.Line && es[i-1].Col > e.Col) {
			t.Fatalf("errors not sorted:\n%v", es)
		}
	}
}

// checkInvariants holds for every job Parse returns.
func checkInvariants(t *testing.T, j *Job) {
	t.Helper()
	fail := func(format string, args ...any) { t.Fatalf("parsed job breaks a rule: "+format, args...) }
	switch {
	case j.Version != 1 || !nameRE.MatchString(j.Name):
		fail("version %d name %q", j.Version, j.Name)
	case j.Select.Match == "" || strings.Trim(j.Select.Match, "*") == "" && !j.Select.AllowAll:
		fail("match %q allow_all %v", j.Select.Match, j.Select.AllowAll)
	case j.Action.Kind < ActionExpire || j.Action.Kind > ActionPersist:
		fail("action kind %d", j.Action.Kind)
	case (j.Action.Kind == ActionExpire) != (j.Action.Expire != nil):
		fail("action %d with expire %v", j.Action.Kind, j.Action.Expire)
	case j.Action.Kind == ActionDelete && j.Backup.Mode == BackupJournal:
		fail("delete with a journal")
	case j.Limits.Rate <= 0 || j.Limits.ScanRate <= 0 || j.Limits.ScanCount < 1 || j.Limits.MaxChanges < 0:
		fail("limits %+v", j.Limits)
	}
	capRE := j.Select.Regex
	if j.Fields != nil {
		capRE = j.Fields.Regex // a fields job's captures are the field name's
	}
	if e := j.Action.Expire; e != nil {
		switch {
		case (e.TTL > 0) == (e.From != nil):
			fail("expire ttl %v from %v", e.TTL, e.From)
		case e.From != nil && (e.After <= 0 || (capRE == nil || capRE.SubexpIndex(e.From.Capture) < 0)):
			fail("from %+v after %v", e.From, e.After)
		case e.Jitter < 0 || e.Jitter > 1 || e.Grace < 0 || e.GraceSpread < 0:
			fail("expire %+v", e)
		}
	}
}

// canonical writes a job back as a job file, every value in the form the
// parser reads.
func canonical(j *Job) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("version: %d\nname: %s\ndescription: %s\n", j.Version, j.Name, strconv.Quote(j.Description))
	if j.DB != nil {
		w("db: %d\n", *j.DB)
	}
	s := j.Select
	w("select:\n  match: %s\n  allow_all: %v\n", strconv.Quote(s.Match), s.AllowAll)
	if s.Type != "" {
		w("  type: %s\n", s.Type)
	}
	if s.Regex != nil {
		w("  regex: %s\n", strconv.Quote(s.Regex.String()))
	}
	switch s.TTL.Kind {
	case TTLNone:
		w("  ttl: none\n")
	case TTLCompare:
		w("  ttl: %q\n", s.TTL.Cmp.String())
	}
	if s.Idle != nil {
		w("  idle: %q\n", s.Idle.String())
	}
	if m := j.Members; m != nil && m.Stream {
		w("members: {older_than: %s}\n", FormatDuration(m.OlderThan))
	} else if m != nil {
		w("members: {score: {format: %s}, older_than: %s}\n", m.ScoreFormat, FormatDuration(m.OlderThan))
	}
	if f := j.Fields; f != nil {
		w("fields:\n  match: %s\n  ttl: %s\n", strconv.Quote(f.Match), f.TTL)
		if f.Regex != nil {
			w("  regex: %s\n", strconv.Quote(f.Regex.String()))
		}
	}
	w("action:\n")
	switch j.Action.Kind {
	case ActionDelete:
		w("  delete: {}\n")
	case ActionPersist:
		w("  persist: {}\n")
	case ActionExpire:
		canonicalExpire(w, j.Action.Expire)
	}
	w("backup: {mode: %s", [...]string{"journal", "dump", "none"}[j.Backup.Mode])
	if j.Backup.Mode == BackupDump {
		w(", max_dump_size: %d", j.Backup.MaxDumpSize)
	}
	w("}\nlimits: {rate: %s, scan_rate: %s, scan_count: %d", j.Limits.Rate, j.Limits.ScanRate, j.Limits.ScanCount)
	if j.Limits.MaxChanges > 0 {
		w(", max_changes: %d", j.Limits.MaxChanges)
	}
	w("}\n")
	canonicalGuards(w, j.Guards)
	return b.String()
}

func canonicalExpire(w func(string, ...any), e *Expire) {
	w("  expire:\n")
	if e.From == nil {
		w("    ttl: %s\n", FormatDuration(e.TTL))
	} else {
		w("    from: {capture: %s, format: %s", strconv.Quote(e.From.Capture), strconv.Quote(e.From.Format))
		if e.From.Location != time.UTC {
			w(", time_zone: %s", strconv.Quote(e.From.Location.String()))
		}
		w("}\n    after: %s\n    grace: %s\n    grace_spread: %s\n",
			FormatDuration(e.After), FormatDuration(e.Grace), FormatDuration(e.GraceSpread))
	}
	w("    when: %s\n    jitter: %s\n", e.When, fuzzPercent(e.Jitter))
}

func canonicalGuards(w func(string, ...any), g Guards) {
	var lines []string // "section field: value", in Set's order
	add := func(name, value string) { lines = append(lines, strings.Replace(name, ".", " ", 1)+": "+value) }
	pct := func(name string, p *float64) {
		if p != nil {
			add(name, fuzzPercent(*p))
		}
	}
	size := func(name string, n *int64) {
		if n != nil {
			add(name, strconv.FormatInt(*n, 10))
		}
	}
	flag := func(name string, b *bool) {
		if b != nil {
			add(name, strconv.FormatBool(*b))
		}
	}
	pct("memory.pause_above", g.Memory.PauseAbove)
	pct("memory.abort_above", g.Memory.AbortAbove)
	size("memory.limit", g.Memory.Limit)
	flag("memory.abort_on_evictions", g.Memory.AbortOnEvictions)
	flag("persistence.pause_during_fork", g.Persistence.PauseDuringFork)
	flag("persistence.abort_on_write_error", g.Persistence.AbortOnWriteError)
	if m := g.AOF.MaxGrowth; m != nil && m.Share > 0 {
		add("aof.max_growth", fuzzPercent(m.Share))
	} else if m != nil {
		add("aof.max_growth", strconv.FormatInt(m.Bytes, 10))
	}
	size("disk.abort_below", g.Disk.AbortBelow)
	size("replication.pause_lag_above", g.Replication.PauseLagAbove)
	flag("replication.abort_on_replica_loss", g.Replication.AbortOnReplicaLoss)
	if d := g.Latency.PauseAbove; d != nil {
		add("latency.pause_above", FormatDuration(*d))
	}
	if len(lines) == 0 {
		return
	}
	w("guards:\n")
	section := ""
	for _, l := range lines {
		sec, rest, _ := strings.Cut(l, " ")
		if sec != section {
			w("  %s:\n", sec)
			section = sec
		}
		w("    %s\n", rest)
	}
}

func fuzzPercent(share float64) string {
	return strconv.FormatFloat(share*100, 'f', -1, 64) + "%"
}
