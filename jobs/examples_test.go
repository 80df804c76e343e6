package jobs

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
)

func exampleFiles(t *testing.T) []string {
	t.Helper()
	paths, err := filepath.Glob("../examples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) < 4 {
		t.Fatalf("found %d example job files, want at least 4", len(paths))
	}
	return paths
}

// TestExamples_Load loads every job file shipped in examples/: they are the
// documentation people copy, so each must stay valid, be named after its
// file and say what it is for in a comment at the top.
func TestExamples_Load(t *testing.T) {
	for _, p := range exampleFiles(t) {
		t.Run(filepath.Base(p), func(t *testing.T) {
			j, err := Load(p)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if want := filepath.Base(p); j.Name+".yaml" != want {
				t.Errorf("name %q, want the file's name %q", j.Name, want)
			}
			src, _ := os.ReadFile(p)
			if !strings.HasPrefix(string(src), "# ") || strings.Count(string(src), "\n# ") < 2 {
				t.Error("no comment header saying what the job is for")
			}
		})
	}
}

// TestExamples_Decide checks that each example does what its header says.
func TestExamples_Decide(t *testing.T) {
	load := func(name string) *Job {
		t.Helper()
		j, err := Load("../examples/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	t.Run("ticket-ttl-backfill", func(t *testing.T) {
		j := load("ticket-ttl-backfill.yaml")
		issued := time.Date(2025, 9, 1, 10, 0, 0, 0, time.UTC)
		key := "ticket:" + itoa(issued.Unix()) + ":42:AbC123"
		if d := j.Decide(noTTL(key), clock); d.Outcome != Change || !d.ExpireAt.Equal(issued.Add(365*day)) {
			t.Errorf("fresh ticket: %+v", d)
		}
		if d := j.Decide(noTTL("ticket:1600000000:42:AbC123"), clock); !d.Grace || !d.ExpireAt.Equal(ms(runStart.Add(time.Hour))) {
			t.Errorf("old ticket: %+v, want a 1h grace", d)
		}
		if d := j.Decide(withTTL(key, time.Hour), clock); d.Outcome != SkipTTL {
			t.Errorf("ticket with a TTL: %+v", d)
		}
		if d := j.Decide(noTTL("ticket:oops"), clock); d.Outcome != SkipRegex {
			t.Errorf("odd key: %+v", d)
		}
		if j.Select.Type != "string" || j.Limits.Rate != 5000 || j.Backup.Mode != BackupJournal {
			t.Errorf("select %+v limits %+v backup %+v", j.Select, j.Limits, j.Backup)
		}
	})
	t.Run("drop-deal-clicks", func(t *testing.T) {
		j := load("drop-deal-clicks.yaml")
		if d := j.Decide(withTTL("deal:clicks:9", time.Hour), clock); d.Outcome != Change || !d.ExpireAt.IsZero() {
			t.Errorf("click key: %+v", d)
		}
		if j.Action.Kind != ActionDelete || j.Backup.Mode != BackupDump || !slices.Equal(j.Guards.Set(), []string{"aof.max_growth"}) ||
			j.Guards.AOF.MaxGrowth.Share != 0.1 || j.Needs() != (Needs{}) {
			t.Errorf("job %+v", j)
		}
	})
	t.Run("report-cache-90d", func(t *testing.T) {
		j := load("report-cache-90d.yaml")
		// 2026-03-01 starts at 23:00 UTC the day before, in Berlin.
		want := time.Date(2026, 2, 28, 23, 0, 0, 0, time.UTC).Add(90 * day)
		if d := j.Decide(noTTL("report:daily:2026-03-01:8812"), clock); d.Outcome != Change || !d.ExpireAt.Equal(want) {
			t.Errorf("recent report: %+v, want expiry %v", d, want)
		}
		d := j.Decide(noTTL("report:daily:2025-01-01:8812"), clock)
		lo, hi := ms(runStart.Add(time.Hour)), runStart.Add(7*time.Hour)
		if !d.Grace || d.ExpireAt.Before(lo) || !d.ExpireAt.Before(hi) {
			t.Errorf("old report: %+v, want a grace expiry in [%v, %v)", d, lo, hi)
		}
		if d := j.Decide(noTTL("report:daily:2026-02-30:8812"), clock); d.Outcome != SkipBadTimestamp {
			t.Errorf("impossible day: %+v", d)
		}
	})
	t.Run("trim-timelines", func(t *testing.T) {
		j := load("trim-timelines.yaml")
		if d := j.Decide(noTTL("timeline:user:42"), clock); d.Outcome != Change || !d.ExpireAt.IsZero() {
			t.Errorf("timeline: %+v", d)
		}
		m := j.Members
		if m == nil || m.ScoreFormat != FormatUnixMS || m.OlderThan != 90*day || j.Select.Type != "zset" || j.Action.Kind != ActionDelete {
			t.Fatalf("job %+v members %+v", j, m)
		}
		if r := m.Range(runStart); r.Cutoff != "("+itoa(runStart.Add(-90*day).UnixMilli()) {
			t.Errorf("cutoff %q", r.Cutoff)
		}
	})
	t.Run("trim-event-streams", func(t *testing.T) {
		j := load("trim-event-streams.yaml")
		if d := j.Decide(noTTL("events:orders"), clock); d.Outcome != Change {
			t.Errorf("stream: %+v", d)
		}
		m := j.Members
		if m == nil || !m.Stream || m.OlderThan != 7*day || j.Select.Type != "stream" || j.Backup.Mode != BackupDump {
			t.Fatalf("job %+v members %+v", j, m)
		}
		if r := m.StreamRange(runStart); r.CutoffID != itoa(runStart.Add(-7*day).UnixMilli())+"-0" {
			t.Errorf("cutoff %q", r.CutoffID)
		}
	})
	t.Run("device-fields-ttl", func(t *testing.T) {
		j := load("device-fields-ttl.yaml")
		f := j.Fields
		if f == nil || f.Match != "seen:*" || f.TTL != FieldTTLNone || j.Select.Type != "hash" || j.Action.Kind != ActionExpire {
			t.Fatalf("job %+v fields %+v", j, f)
		}
		if d := j.Decide(noTTL("devices:42"), clock); d.Outcome != Change || !d.ExpireAt.IsZero() {
			t.Errorf("device hash: %+v", d)
		}
		seen := runStart.Add(-10 * day).Truncate(time.Second)
		if d := j.DecideField(Field{Name: "seen:" + itoa(seen.Unix()) + ":gw1"}, clock); d.Outcome != Change || !d.ExpireAt.Equal(seen.Add(30*day)) {
			t.Errorf("fresh field: %+v", d)
		}
		if d := j.DecideField(Field{Name: "seen:1600000000:gw1"}, clock); !d.Grace || !d.ExpireAt.Equal(ms(runStart.Add(time.Hour))) {
			t.Errorf("old field: %+v, want a 1h grace", d)
		}
		if d := j.DecideField(Field{Name: "seen:" + itoa(seen.Unix()) + ":gw1", HasTTL: true, ExpireAt: runStart.Add(time.Hour)}, clock); d.Outcome != SkipTTL {
			t.Errorf("field with a TTL: %+v", d)
		}
		if d := j.DecideField(Field{Name: "seen:oops"}, clock); d.Outcome != SkipRegex {
			t.Errorf("odd field: %+v", d)
		}
		if d := j.DecideField(Field{Name: "seen:" + itoa(seen.UnixMilli()) + ":gw1"}, clock); d.Outcome != SkipRegex {
			t.Errorf("ms field (13 digits, the regex wants 10): %+v", d)
		}
	})
	t.Run("sessions-fixed-ttl", func(t *testing.T) {
		j := load("sessions-fixed-ttl.yaml")
		d := j.Decide(noTTL("session:4f1c"), clock)
		lo, hi := ms(runStart.Add(7*day)), runStart.Add(7*day+7*day/20)
		if d.Outcome != Change || d.ExpireAt.Before(lo) || !d.ExpireAt.Before(hi) {
			t.Errorf("session: %+v, want an expiry in [%v, %v)", d, lo, hi)
		}
		if d := j.Decide(withTTL("session:4f1c", time.Hour), clock); d.Outcome != SkipTTL {
			t.Errorf("session with a TTL: %+v", d)
		}
	})
}

// TestExamples_Schema checks the examples against the schema's field
// names and enums, so an editor using it raises no false alarms on them.
func TestExamples_Schema(t *testing.T) {
	doc := loadSchema(t)
	root := schemaNode{Type: "object", Properties: doc.Properties}
	for _, p := range exampleFiles(t) {
		src, _ := os.ReadFile(p)
		var v any
		if err := yaml.Unmarshal(src, &v); err != nil {
			t.Fatal(err)
		}
		checkAgainstSchema(t, filepath.Base(p), doc, root, v)
	}
}

func checkAgainstSchema(t *testing.T, path string, doc schemaDoc, s schemaNode, v any) {
	t.Helper()
	if s.Ref != "" {
		s = doc.Defs[strings.TrimPrefix(s.Ref, "#/$defs/")]
	}
	switch v := v.(type) {
	case map[string]any:
		if len(s.OneOf) > 0 { // backup's mapping form
			s = s.OneOf[len(s.OneOf)-1]
		}
		for k, sub := range v {
			p, ok := s.Properties[k]
			if !ok {
				t.Errorf("%s: %s is not in the schema", path, k)
				continue
			}
			checkAgainstSchema(t, path+"."+k, doc, p, sub)
		}
	case string:
		enum := s.Enum
		if len(s.OneOf) > 0 {
			enum = s.OneOf[0].Enum
		}
		if len(enum) > 0 && !slices.Contains(enum, any(v)) {
			t.Errorf("%s: %q is not one of %v", path, v, enum)
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
