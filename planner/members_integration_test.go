package planner_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/keyjob/keyjob/internal/redistest"
	"github.com/keyjob/keyjob/planner"
)

// A members job's plan counts, per changed key, the members older than
// the cutoff (ZCOUNT) and all it holds (ZCARD), puts a set with none in
// no_members and one scored in the wrong unit in bad_timestamp, sees no key
// of another type (SCAN TYPE), and says so in every format.
func TestPlanner_Members(t *testing.T) {
	t.Parallel()
	srv, c := startServer(t, redistest.Options{})
	ctx := testContext(t)
	now := time.Now().UnixMilli()
	const dayMs = int64(24 * time.Hour / time.Millisecond)
	var cmds rueidis.Commands
	var wantSelected, wantHeld int64
	for i := range 10 {
		z := c.B().Zadd().Key(fmt.Sprintf("timeline:%d", i)).ScoreMember()
		for j := range 10 * (i + 1) {
			age := int64(j) * 20 * dayMs // 0, 20d, 40d, ... : older than 90d from j = 5
			z = z.ScoreMember(float64(now-age), fmt.Sprintf("m%d", j))
			if j >= 5 {
				wantSelected++
			}
			wantHeld++
		}
		cmds = append(cmds, z.Build())
	}
	cmds = append(cmds,
		c.B().Zadd().Key("timeline:new").ScoreMember().ScoreMember(float64(now), "a").Build(),
		c.B().Zadd().Key("timeline:secs").ScoreMember().ScoreMember(float64(now/1000-100*86400), "a").Build(),
		c.B().Set().Key("timeline:str").Value("x").Build(),
		c.B().Hset().Key("timeline:hash").FieldValue().FieldValue("f", "v").Build())
	doAll(t, ctx, c, cmds)

	job := parseJob(t, "trim.yaml", `version: 1
name: trim-timelines
select:
  match: "timeline:*"
  type: zset
members:
  score: {format: unix_ms}
  older_than: 90d
action:
  delete: {}
backup: dump
`)
	p := build(t, dial(t, srv.URL, nil), job, planner.Options{})
	if p.Scanned != 12 || p.Outcomes.Change != 10 || p.Outcomes.Skip["no_members"] != 1 || p.Outcomes.Skip["bad_timestamp"] != 1 {
		t.Errorf("scanned %d, outcomes %+v: want 12 scanned, 10 changed, 1 no_members, 1 bad_timestamp", p.Scanned, p.Outcomes)
	}
	m := p.Members
	if m == nil || m.Selected != wantSelected || m.Held != wantHeld || m.ScoreFormat != "unix_ms" {
		t.Fatalf("members %+v, want %d selected of %d", m, wantSelected, wantHeld)
	}
	if cut := p.GeneratedAt.Add(-90 * 24 * time.Hour); !m.Cutoff.Equal(cut) || m.CutoffScore != fmt.Sprintf("(%d", cut.UnixMilli()) {
		t.Errorf("cutoff %v %s, want %v", m.Cutoff, m.CutoffScore, cut)
	}
	// One set of 12 in seconds is more than 1% of the keys to change: a
	// unit mistake, which apply refuses.
	if p.Estimates.AOFBytes == 0 || p.Estimates.MemoryFreedBytes == 0 || len(p.Errors) != 1 || p.Errors[0].Code != planner.ErrUnitMistake ||
		!strings.Contains(p.Errors[0].Message, "members.score.format") {
		t.Errorf("estimates %+v errors %+v", p.Estimates, p.Errors)
	}
	var text, md, js bytes.Buffer
	if err := planner.RenderText(&text, p); err != nil {
		t.Fatal(err)
	}
	if err := planner.RenderMarkdown(&md, p); err != nil {
		t.Fatal(err)
	}
	if err := planner.RenderJSON(&js, p); err != nil {
		t.Fatal(err)
	}
	sel := fmt.Sprintf("%d", wantSelected)
	for name, out := range map[string]string{"text": text.String(), "markdown": md.String()} {
		if !strings.Contains(out, "members selected") || !strings.Contains(out, sel) || !strings.Contains(out, "no member older than the cutoff") {
			t.Errorf("%s report says nothing of the members:\n%s", name, out)
		}
	}
	var doc struct {
		FormatVersion int `json:"format_version"`
		Members       struct {
			Selected int64 `json:"selected"`
		} `json:"members"`
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil || doc.FormatVersion != planner.FormatVersion || doc.Members.Selected != wantSelected {
		t.Errorf("JSON: %v %+v", err, doc)
	}
	t.Log(text.String())
}

// A stream members job's plan counts, per changed stream, the entries
// whose ID is below the cutoff: all of an all-old stream at once, those of
// a stream that straddles the cutoff by XRANGE in chunks (more than one
// here), with the oldest entry kept; a new or empty stream is no_members,
// one with IDs written by hand (before 2000) bad_timestamp.
func TestPlanner_MembersStream(t *testing.T) {
	t.Parallel()
	srv, c := startServer(t, redistest.Options{})
	ctx := testContext(t)
	now := time.Now().UnixMilli()
	const dayMs = int64(24 * time.Hour / time.Millisecond)
	old, recent := now-30*dayMs, now-dayMs
	xadd := func(key string, ms int64, seq int) rueidis.Completed {
		return c.B().Xadd().Key(key).Id(fmt.Sprintf("%d-%d", ms, seq)).FieldValue().FieldValue("f", "v").Build()
	}
	var cmds rueidis.Commands
	for i := range 600 { // 600 old entries, 3 per ms: three chunks of the count
		cmds = append(cmds, xadd("events:mixed", old+int64(i/3), i%3))
	}
	for i := range 10 {
		cmds = append(cmds, xadd("events:mixed", recent+int64(i), 0))
	}
	for i := range 40 {
		cmds = append(cmds, xadd("events:old", old+int64(i), 0))
	}
	cmds = append(cmds, xadd("events:new", recent, 0),
		c.B().Xadd().Key("events:fixture").Id("1-1").FieldValue().FieldValue("f", "v").Build(),
		xadd("events:empty", old, 0),
		c.B().Xdel().Key("events:empty").Id(fmt.Sprintf("%d-0", old)).Build(),
		c.B().Set().Key("events:str").Value("x").Build(),
		c.B().Zadd().Key("events:zset").ScoreMember().ScoreMember(float64(old), "a").Build())
	doAll(t, ctx, c, cmds)

	job := parseJob(t, "trim.yaml", `version: 1
name: trim-event-streams
select:
  match: "events:*"
  type: stream
members:
  older_than: 7d
action:
  delete: {}
backup: dump
`)
	p := build(t, dial(t, srv.URL, nil), job, planner.Options{})
	if p.Scanned != 5 || p.Outcomes.Change != 2 || p.Outcomes.Skip["no_members"] != 2 || p.Outcomes.Skip["bad_timestamp"] != 1 {
		t.Errorf("scanned %d, outcomes %+v: want 5 scanned, 2 changed, 2 no_members, 1 bad_timestamp", p.Scanned, p.Outcomes)
	}
	m := p.Members
	if m == nil || m.Type != "stream" || m.Selected != 640 || m.Held != 650 || m.ScoreFormat != "" {
		t.Fatalf("members %+v, want 640 selected of 650", m)
	}
	if cut := p.GeneratedAt.Add(-7 * 24 * time.Hour); !m.Cutoff.Equal(cut) || m.CutoffID != fmt.Sprintf("%d-0", cut.UnixMilli()) {
		t.Errorf("cutoff %v %s, want %v", m.Cutoff, m.CutoffID, cut)
	}
	floors := map[string]string{}
	for _, k := range p.Samples["change"] {
		if k.Members == nil {
			t.Fatalf("sample %s without its members", k.Name)
		}
		floors[k.Name] = fmt.Sprintf("%d/%d %s", k.Members.Selected, k.Members.Held, k.Members.FloorID)
	}
	want := map[string]string{"events:mixed": fmt.Sprintf("600/610 %d-0", recent), "events:old": "40/40 "}
	if fmt.Sprint(floors) != fmt.Sprint(want) {
		t.Errorf("samples %v, want %v", floors, want)
	}
	// One stream of 3 with IDs that are no times: a unit mistake.
	if p.Estimates.AOFBytes == 0 || len(p.Errors) != 1 || p.Errors[0].Code != planner.ErrUnitMistake ||
		!strings.Contains(p.Errors[0].Message, "streams") {
		t.Errorf("estimates %+v errors %+v", p.Estimates, p.Errors)
	}
	var js bytes.Buffer
	if err := planner.RenderJSON(&js, p); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		FormatVersion int `json:"format_version"`
		Members       struct {
			Type     string `json:"type"`
			CutoffID string `json:"cutoff_id"`
			Selected int64  `json:"selected"`
		} `json:"members"`
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil || doc.FormatVersion != 3 || doc.Members.Type != "stream" || doc.Members.Selected != 640 || doc.Members.CutoffID != m.CutoffID {
		t.Errorf("JSON: %v %+v", err, doc)
	}
}
