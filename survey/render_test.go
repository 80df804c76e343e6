package survey

import (
	"bytes"
	"encoding/json"
	"errors"
	"github.com/keyjob/keyjob/internal/redisx"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/keyjob/keyjob/internal/golden"
	"github.com/keyjob/keyjob/jobs"
)

var fixtureClock = time.Date(2026, 11, 22, 3, 10, 4, 0, time.UTC)

// storyFixture is the ticket story's server as a survey sees it: a
// volatile-lru server full of tickets without a TTL, deal clicks nobody
// reads, sessions, profiles and one big key.
func storyFixture() *Survey {
	s := &Survey{
		FormatVersion: FormatVersion,
		GeneratedAt:   fixtureClock,
		Target: Target{
			Server: redisx.Server{Address: "redis-prod-1:6379", Mode: "standalone", RedisVersion: "7.0.15", Role: "master"},
			Nodes:  1,
			Memory: redisx.Memory{UsedMemory: 483 << 20, MaxMemory: 512 << 20, MaxMemoryPolicy: "volatile-lru"},
		},
		Match: "*", DBSize: 1149764, Scanned: 1149764, MaxPatterns: MaxPatterns, IdleRead: true,
		ScanDuration: Duration(11500 * time.Millisecond),
		Patterns: []Pattern{
			{Pattern: "ticket:{ts}:{n}:{id}", Keys: 1000000, WithTTL: 20000, Types: map[string]int64{"string": 1000000},
				MemoryBytes: 161 << 20, TTLSeconds: &TTLSpread{P50: 15724800, P90: 28425600}, IdleSeconds: &IdleSpread{P50: 4060800},
				TimestampParts: []TimestampPart{{Position: 1, Format: FormatUnix, Capture: "ts"}},
				Match:          "ticket:*", Regex: `^ticket:(?P<ts>\d{10}):(?P<n1>\d+):(?P<id>[A-Za-z0-9]{8})$`,
				Examples: []string{"ticket:1755302811:18841:Qx7fTz2a", "ticket:1718899230:731:Lk0pPa9e"}},
			{Pattern: "deal:clicks:{n}:{date}", Keys: 90000, Types: map[string]int64{"hash": 90000},
				MemoryBytes: 17 << 20, IdleSeconds: &IdleSpread{P50: 7776000},
				TimestampParts: []TimestampPart{{Position: 3, Format: "20060102", Capture: "date"}},
				Match:          "deal:clicks:*", Regex: `^deal:clicks:(?P<n1>\d+):(?P<date>\d{8})$`,
				Examples: []string{"deal:clicks:417:20260314"}},
			{Pattern: "blob:{n}", Keys: 3, Types: map[string]int64{"string": 3}, MemoryBytes: 60 << 20, IdleSeconds: &IdleSpread{P50: 86400},
				Match: "blob:*", Regex: `^blob:(?P<n1>\d+)$`, Examples: []string{"blob:1", "blob:2", "blob:3"},
				BigKeys: []BigKey{{Key: "blob:2", MemoryBytes: 24 << 20}, {Key: "blob:1", MemoryBytes: 20 << 20}, {Key: "blob:3", MemoryBytes: 17 << 20}}},
			{Pattern: "session:{hex}", Keys: 50000, WithTTL: 50000, Types: map[string]int64{"string": 50000},
				MemoryBytes: 6 << 20, TTLSeconds: &TTLSpread{P50: 43200, P90: 77760}, IdleSeconds: &IdleSpread{P50: 900},
				Match: "session:*", Regex: `^session:(?P<hex>[0-9a-fA-F]{32})$`,
				Examples: []string{"session:9f86d081884c7d659a2feaa0c55ad015"}},
			{Pattern: "user:{n}:profile", Keys: 9760, WithTTL: 3253, Types: map[string]int64{"hash": 9000, "string": 760},
				MemoryBytes: 2 << 20, TTLSeconds: &TTLSpread{P50: 604000, P90: 604700}, IdleSeconds: &IdleSpread{P50: 3600},
				Match: "user:*:profile", Regex: `^user:(?P<n1>\d+):profile$`, Examples: []string{"user:18841:profile"}},
			{Pattern: "healthcheck", Keys: 1, Types: map[string]int64{"string": 1}, MemoryBytes: 56, IdleSeconds: &IdleSpread{P50: 2},
				Match: "healthcheck", Regex: `^healthcheck$`, Examples: []string{"healthcheck"}},
			{Pattern: "{uuid}:cart", Keys: 0, Types: map[string]int64{}, Match: "*:cart", Regex: `^(?P<uuid>` + reUUID + `):cart$`},
		},
	}
	s.Patterns = s.Patterns[:len(s.Patterns)-1] // the empty one only shows in suggest tests
	for _, p := range s.Patterns {
		s.Keys += p.Keys
		s.WithTTL += p.WithTTL
		s.MemoryBytes += p.MemoryBytes
	}
	judge(s, 0)
	return s
}

func sampledFixture() *Survey {
	s := storyFixture()
	s.Warnings = nil
	s.Sampled = true
	s.Scanned = 10000
	s.Sample = &Sample{Requested: 10000, Fraction: 10000.0 / 1149764}
	margins := []float64{0.0062, 0.0624, 0, 0.0855, 0.19, 0}
	for i := range s.Patterns {
		s.Patterns[i].Margin = margins[i]
	}
	judge(s, 0)
	return s
}

func collapsedFixture() *Survey {
	s := &Survey{
		FormatVersion: FormatVersion,
		GeneratedAt:   fixtureClock,
		Target: Target{
			Server: redisx.Server{Address: "10.0.0.7:7000", Mode: "cluster", RedisVersion: "7.2.4", Role: "master"},
			Nodes:  3,
			Memory: redisx.Memory{UsedMemory: 2 << 30, MaxMemoryPolicy: "allkeys-lfu"},
		},
		Match: "cache:*", DBSize: 3200000, Scanned: 2210400, MaxPatterns: MaxPatterns,
		ScanDuration: Duration(42 * time.Second),
		Patterns: []Pattern{
			{Pattern: "cache:page:{hex}", Keys: 2000000, WithTTL: 2000000, Types: map[string]int64{"string": 2000000},
				MemoryBytes: 1 << 30, TTLSeconds: &TTLSpread{P50: 300, P90: 3300},
				Match: "cache:page:*", Regex: `^cache:page:(?P<hex>[0-9a-fA-F]{40})$`, Examples: []string{"cache:page:da39a3ee5e6b4b0d3255bfef95601890afd80709"}},
			{Pattern: "cache:user:{uuid}", Keys: 200000, WithTTL: 0, Types: map[string]int64{"hash": 200000},
				MemoryBytes: 80 << 20,
				Match:       "cache:user:*", Regex: `^cache:user:(?P<uuid>` + reUUID + `)$`, Examples: []string{"cache:user:3f2504e0-4f89-11d3-9a0c-0305e82c3301"}},
		},
		Other: &Other{Patterns: 48210, Keys: 10400, WithTTL: 400, Types: map[string]int64{"string": 10000, "list": 400},
			MemoryBytes: 3 << 20, Examples: []string{"cache:tmp|bob@example.com"}},
	}
	for _, p := range s.Patterns {
		s.Keys += p.Keys
		s.WithTTL += p.WithTTL
		s.MemoryBytes += p.MemoryBytes
	}
	s.Keys += s.Other.Keys
	s.WithTTL += s.Other.WithTTL
	s.MemoryBytes += s.Other.MemoryBytes
	judge(s, 12)
	return s
}

func emptyFixture() *Survey {
	s := &Survey{FormatVersion: FormatVersion, GeneratedAt: fixtureClock, IdleRead: true, MaxPatterns: MaxPatterns,
		Target: Target{Server: redisx.Server{Address: "127.0.0.1:6379", Mode: "standalone", RedisVersion: "7.0.15", Role: "replica"}, Nodes: 1, Memory: redisx.Memory{UsedMemory: 1 << 20}},
		Match:  "nothing:*", DBSize: 12}
	judge(s, 0)
	return s
}

// insideFixture is a Redis 8 server whose survey read inside its keys:
// device hashes with times in their field names, some fields with a TTL;
// timelines scored in ms; event streams beside a few strings; config
// hashes with plain fields.
func insideFixture() *Survey {
	s := &Survey{
		FormatVersion: FormatVersion,
		GeneratedAt:   fixtureClock,
		Target: Target{
			Server: redisx.Server{Address: "redis-iot:6379", Mode: "standalone", RedisVersion: "8.0.2", Role: "master"},
			Nodes:  1,
			Memory: redisx.Memory{UsedMemory: 900 << 20, MaxMemory: 2 << 30, MaxMemoryPolicy: "allkeys-lru"},
		},
		Match: "*", DBSize: 412000, Scanned: 412000, MaxPatterns: MaxPatterns, IdleRead: true, InsideRead: true,
		ScanDuration: Duration(4200 * time.Millisecond),
		Patterns: []Pattern{
			{Pattern: "devices:{n}", Keys: 250000, Types: map[string]int64{"hash": 250000}, MemoryBytes: 610 << 20,
				IdleSeconds: &IdleSpread{P50: 3600}, Match: "devices:*", Regex: `^devices:(?P<n1>\d+)$`, Examples: []string{"devices:18841"},
				Inside: &Inside{Hashes: &HashInside{Read: 1270, FieldsRead: 20320, WithTimestampFields: 1270, TimestampFields: 17780,
					WithVolatileFields: ptr(212), VolatileFields: ptr(390),
					FieldPatterns: []FieldPattern{{Pattern: "seen:{ts}:{n}", Fields: 17780, WithTTL: ptr(390),
						TimestampParts: []TimestampPart{{Position: 1, Format: FormatUnix, Capture: "ts"}},
						Match:          "seen:*", Regex: `^seen:(?P<ts>\d{10}):(?P<n1>\d+)$`, Examples: []string{"seen:1763780000:4"}}}}}},
			{Pattern: "timeline:{n}", Keys: 150000, Types: map[string]int64{"zset": 150000}, MemoryBytes: 280 << 20,
				IdleSeconds: &IdleSpread{P50: 86400}, Match: "timeline:*", Regex: `^timeline:(?P<n1>\d+)$`, Examples: []string{"timeline:731"},
				Inside: &Inside{ZSets: &ZSetInside{Read: 1190, MembersP50: 420, MembersMax: 98000, TimeScored: 1190, ScoreFormat: FormatUnixMS,
					OldestAgeSeconds: &AgeSpread{P50: 200 * 86400, Max: 730 * 86400}}}},
			{Pattern: "events:{n}", Keys: 12000, Types: map[string]int64{"stream": 11990, "string": 10}, MemoryBytes: 9 << 20,
				IdleSeconds: &IdleSpread{P50: 60}, Match: "events:*", Regex: `^events:(?P<n1>\d+)$`, Examples: []string{"events:12"},
				Inside: &Inside{Streams: &StreamInside{Read: 640, Empty: 3, EntriesP50: 1200, EntriesMax: 50000,
					OldestAgeSeconds: &AgeSpread{P50: 40 * 86400, Max: 400 * 86400}}}},
			{Pattern: "cfg:{n}", Keys: 20, Types: map[string]int64{"hash": 20}, MemoryBytes: 4 << 10,
				IdleSeconds: &IdleSpread{P50: 600}, Match: "cfg:*", Regex: `^cfg:(?P<n1>\d+)$`, Examples: []string{"cfg:1"},
				Inside: &Inside{Hashes: &HashInside{Read: 20, FieldsRead: 60, WithVolatileFields: ptr(0), VolatileFields: ptr(0)}}},
		},
	}
	for _, p := range s.Patterns {
		s.Keys += p.Keys
		s.WithTTL += p.WithTTL
		s.MemoryBytes += p.MemoryBytes
	}
	judge(s, 0)
	return s
}

func renderFixtures() []struct {
	name string
	s    *Survey
} {
	return []struct {
		name string
		s    *Survey
	}{
		{"story", storyFixture()},
		{"sampled", sampledFixture()},
		{"collapsed", collapsedFixture()},
		{"empty", emptyFixture()},
		{"inside", insideFixture()},
	}
}

// TestRender_Golden pins every format of every fixture byte for byte.
// After an intended change: go test ./survey -run Golden -update, then
// read the diff of testdata/ as a reviewer would.
func TestRender_Golden(t *testing.T) {
	for _, f := range renderFixtures() {
		for _, format := range Formats {
			t.Run(f.name+"/"+format, func(t *testing.T) {
				var got bytes.Buffer
				if err := Render(&got, f.s, format); err != nil {
					t.Fatalf("Render(%s): %v", format, err)
				}
				golden.Check(t, filepath.Join("testdata", f.name+"."+format+".golden"), got.Bytes())
			})
		}
	}
}

// TestSuggest_Golden pins the job files of the story, and checks each
// with jobs.Parse as keyjob validate would.
func TestSuggest_Golden(t *testing.T) {
	s := storyFixture()
	ss, skipped, err := Suggest(s)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, sg := range ss {
		names = append(names, sg.Name)
		t.Run(sg.Name, func(t *testing.T) {
			golden.Check(t, filepath.Join("testdata", "suggest", sg.Name+".yaml.golden"), sg.Data)
			job, err := jobs.Parse(sg.Name+".yaml", sg.Data)
			if err != nil {
				t.Fatal(err)
			}
			if job.Action.Kind != jobs.ActionExpire || job.Select.TTL.Kind != jobs.TTLNone || job.Select.Regex == nil {
				t.Errorf("job %+v: want an expire of keys without a TTL, by regex", job)
			}
			if !bytes.Contains(sg.Data, []byte("# REVIEW: how long should these keys live?")) {
				t.Errorf("no REVIEW mark on the lifetime")
			}
		})
	}
	if want := []string{"ticket-ttl", "deal-clicks-ttl", "blob-ttl", "user-profile-ttl"}; strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("suggestions %q, want %q", names, want)
	}
	if len(skipped) != 1 || skipped[0].Pattern != "healthcheck" {
		t.Errorf("skipped %+v, want healthcheck (one key)", skipped)
	}
}

func TestSuggest_Names(t *testing.T) {
	tests := []struct{ pattern, want string }{
		{"ticket:{ts}:{n}:{id}", "ticket-ttl"},
		{"deal:clicks:{n}:{date}", "deal-clicks-ttl"},
		{"User_Profile:{n}", "user-profile-ttl"},
		{"shard{n}:cache", "shard-cache-ttl"},
		{"{uuid}", "keys-ttl"},
		{"ключ:{n}", "keys-ttl"},
		{strings.Repeat("namespace:", 20) + "{n}", strings.TrimRight(strings.Repeat("namespace-", 8), "-") + "-ttl"},
	}
	for _, tt := range tests {
		if got := jobName(tt.pattern); got != tt.want {
			t.Errorf("jobName(%q) = %q, want %q", tt.pattern, got, tt.want)
		}
	}
	used := map[string]bool{}
	if a, b := uniqueName("x-ttl", used), uniqueName("x-ttl", used); a != "x-ttl" || b != "x-ttl-2" {
		t.Errorf("unique names %q, %q", a, b)
	}
}

// TestSuggest_Quoting: a pattern whose text YAML or the regex would read
// as syntax still makes a valid job that selects it.
func TestSuggest_Quoting(t *testing.T) {
	for _, key := range []string{
		`it's:"quoted":42`,
		`a#b: c:77`,
		`back\slash:9`,
		`x[1]*?:55`,
		`{n}:literal:5`,
	} {
		t.Run(key, func(t *testing.T) {
			ps := Fold(key)
			lens := make([]lenRange, len(ps))
			for i, p := range ps {
				lens[i] = lenRange{len(p.Text), len(p.Text)}
			}
			x := express(ps, make([]string, len(ps)), lens)
			s := &Survey{GeneratedAt: fixtureClock, Target: Target{Server: redisx.Server{Address: "h:1"}}, Patterns: []Pattern{{
				Pattern: patternString(ps), Keys: 10, Types: map[string]int64{"string": 10}, Match: x.glob, Regex: x.regex,
				Examples: []string{key, "a\nb\x1b[2J"}}}}
			ss, _, err := Suggest(s)
			if err != nil {
				t.Fatal(err)
			}
			if len(ss) != 1 {
				t.Fatalf("%d suggestions", len(ss))
			}
			job, err := jobs.Parse("x.yaml", ss[0].Data)
			if err != nil {
				t.Fatalf("%v\n%s", err, ss[0].Data)
			}
			if !job.Match(key).OK() {
				t.Errorf("the job's regex %s does not select %q", job.Select.Regex, key)
			}
			if !globMatch(job.Select.Match, key) {
				t.Errorf("the job's glob %q does not select %q", job.Select.Match, key)
			}
		})
	}
}

func TestRenderJSON_RoundTrip(t *testing.T) {
	for _, f := range renderFixtures() {
		t.Run(f.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := RenderJSON(&out, f.s); err != nil {
				t.Fatal(err)
			}
			var got Survey
			if err := json.Unmarshal(out.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			var again bytes.Buffer
			if err := RenderJSON(&again, &got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), again.Bytes()) {
				t.Errorf("JSON does not survive a round trip")
			}
			// The contract's fields (docs/cli.md) are there by name.
			var raw map[string]any
			json.Unmarshal(out.Bytes(), &raw)
			for _, k := range []string{"format_version", "target", "scanned", "sampled", "patterns"} {
				if _, ok := raw[k]; !ok {
					t.Errorf("no %q in the JSON", k)
				}
			}
			for _, p := range raw["patterns"].([]any) {
				pm := p.(map[string]any)
				for _, k := range []string{"pattern", "keys", "with_ttl", "types", "memory_bytes", "ttl_seconds", "idle_seconds", "timestamp_parts"} {
					if _, ok := pm[k]; !ok {
						t.Errorf("pattern %v has no %q", pm["pattern"], k)
					}
				}
			}
			if !reflect.DeepEqual(got.Target, f.s.Target) {
				t.Errorf("target %+v, want %+v", got.Target, f.s.Target)
			}
		})
	}
}

func TestRender_Errors(t *testing.T) {
	if err := Render(&bytes.Buffer{}, storyFixture(), "yaml"); err == nil || !strings.Contains(err.Error(), "text, markdown, json") {
		t.Errorf("Render(yaml): %v", err)
	}
	for _, format := range Formats {
		if err := Render(&bytes.Buffer{}, nil, format); err == nil {
			t.Errorf("Render(nil, %s): no error", format)
		}
		if err := Render(failingWriter{}, storyFixture(), format); err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Errorf("Render(%s) to a failing writer: %v", format, err)
		}
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// TestSuggestions_Parse pins the job files suggested from what the
// survey read inside keys, and parses each as keyjob validate would:
// a fields job for the device hashes, a members job for the timelines
// and one for the event streams; none for the config hashes (no time in
// their field names).
func TestSuggestions_Parse(t *testing.T) {
	s := insideFixture()
	used := map[string]bool{}
	var all []Suggestion
	for _, p := range s.Patterns {
		all = append(all, insideSuggestions(s, p, used)...)
	}
	var names []string
	for _, sg := range all {
		names = append(names, sg.Name)
		t.Run(sg.Name, func(t *testing.T) {
			golden.Check(t, filepath.Join("testdata", "suggest", sg.Name+".yaml.golden"), sg.Data)
			job, err := jobs.Parse(sg.Name+".yaml", sg.Data)
			if err != nil {
				t.Fatalf("%v\n%s", err, sg.Data)
			}
			if job.Select.Regex == nil || !job.Match("devices:1").OK() && !job.Match("timeline:1").OK() && !job.Match("events:1").OK() {
				t.Errorf("the job selects none of the pattern's keys")
			}
			if !bytes.Contains(sg.Data, []byte("# REVIEW: how long should")) {
				t.Errorf("no REVIEW mark on the placeholder")
			}
		})
	}
	if want := "devices-fields-ttl trim-timeline trim-events"; strings.Join(names, " ") != want {
		t.Errorf("suggestions %q, want %q", names, want)
	}
}
