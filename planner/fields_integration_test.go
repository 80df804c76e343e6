package planner_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/keyjob/keyjob/internal/commands"
	"github.com/keyjob/keyjob/internal/redistest"
	"github.com/keyjob/keyjob/planner"
)

// A fields job is refused before any key is read on a server without
// hash-field expiry (Redis 7.0, Valkey 8.1), naming the versions that
// have it.
func TestPlanner_FieldsRefused(t *testing.T) {
	for _, m := range redistest.NoFieldServers(t) {
		t.Run(m.Name, func(t *testing.T) {
			t.Parallel()
			srv, _ := startServer(t, redistest.Options{Image: m.Image})
			job := loadExample(t, "device-fields-ttl.yaml")
			_, err := planner.Build(testContext(t), dial(t, srv.URL, nil), job, planner.Options{})
			var fe *commands.FieldExpiryError
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), "Redis 7.4 or later, or Valkey 9.0 or later") {
				t.Fatalf("plan of a fields job: %v, want the refusal naming the versions", err)
			}
			t.Log(err)
		})
	}
}

// seedDevices writes the hashes of the fields tests and returns the
// fields each outcome holds, by "key field".
func seedDevices(t *testing.T, c rueidis.Client) {
	t.Helper()
	ctx := testContext(t)
	now := time.Now().Unix()
	seen := func(ago time.Duration, suffix string) string {
		return fmt.Sprintf("seen:%d:%s", now-int64(ago/time.Second), suffix)
	}
	const day = 24 * time.Hour
	doAll(t, ctx, c, rueidis.Commands{
		c.B().Hset().Key("devices:1").FieldValue().
			FieldValue(seen(day, "a"), "1").FieldValue(seen(2*day, "b"), "22").FieldValue(seen(40*day, "c"), "333").
			FieldValue(seen(day, "d"), "4").FieldValue(fmt.Sprintf("seen:%d:e", time.Now().UnixMilli()), "5").
			FieldValue("seen:junk", "6").FieldValue("name:x", "7").Build(),
		c.B().Arbitrary("HPEXPIRE", "devices:1", "3600", "FIELDS", "1", seen(day, "d")).Build(),
		c.B().Hset().Key("devices:2").FieldValue().FieldValue("other:1", "x").FieldValue("other:2", "y").Build(),
		c.B().Hset().Key("devices:3").FieldValue().FieldValue(seen(3*day, "a"), "1").FieldValue("seen:9999999999:z", "2").Build(),
		c.B().Set().Key("devices:s").Value("x").Build(),
		c.B().Zadd().Key("devices:z").ScoreMember().ScoreMember(1, "seen:1:a").Build(),
	})
}

// A fields job's plan walks the fields of every hash selected and counts
// them per outcome (change, grace, already a TTL, regex miss, bad
// timestamp), puts a hash with none to change in no_fields, counts the
// new field expiries in the schedule, applies the unit-mistake check to
// the fields' timestamps, and says so in every format.
func TestPlanner_Fields(t *testing.T) {
	for _, m := range redistest.FieldServers(t) {
		t.Run(m.Name, func(t *testing.T) {
			t.Parallel()
			srv, c := startServer(t, redistest.Options{Image: m.Image})
			seedDevices(t, c)
			job := loadExample(t, "device-fields-ttl.yaml")
			p := build(t, dial(t, srv.URL, nil), job, planner.Options{})
			if p.Scanned != 3 || p.Outcomes.Change != 2 || p.Outcomes.Skip["no_fields"] != 1 {
				t.Errorf("scanned %d, outcomes %+v: want 3 hashes scanned, 2 changed, 1 no_fields", p.Scanned, p.Outcomes)
			}
			f := p.Fields
			if f == nil {
				t.Fatal("no fields in the plan")
			}
			want := map[string]int64{"regex": 2, "ttl": 1, "bad_timestamp": 1}
			if f.Walked != 8 || f.Change != 4 || f.ChangeGrace != 1 || !maps.Equal(f.Skip, want) {
				t.Errorf("fields %+v, want 8 walked, 4 change (1 grace), skips %v", f, want)
			}
			var scheduled int64
			for _, b := range p.Expiries {
				scheduled += b.Keys
			}
			if scheduled != 4 || p.PeakMinute == nil || f.MeanFieldBytes == 0 || p.Estimates.AOFBytes == 0 || p.Estimates.MemoryAddedBytes != 4*16 {
				t.Errorf("schedule %+v (%d), peak %+v, mean field %d, estimates %+v", p.Expiries, scheduled, p.PeakMinute, f.MeanFieldBytes, p.Estimates)
			}
			if len(p.Errors) != 1 || p.Errors[0].Code != planner.ErrUnitMistake || !strings.Contains(p.Errors[0].Message, "fields with a timestamp") {
				t.Errorf("errors %+v, want the unit mistake of the fields (1 bad of 5)", p.Errors)
			}
			if s := f.Samples["bad_timestamp"]; len(s) != 1 || s[0].Key != "devices:3" || s[0].Field != "seen:9999999999:z" {
				t.Errorf("bad_timestamp samples %+v", s)
			}
			var text, md, js bytes.Buffer
			for _, r := range []struct {
				w  *bytes.Buffer
				fn func(io.Writer, *planner.Plan) error
			}{{&text, planner.RenderText}, {&md, planner.RenderMarkdown}, {&js, planner.RenderJSON}} {
				if err := r.fn(r.w, p); err != nil {
					t.Fatal(err)
				}
			}
			for name, out := range map[string]string{"text": text.String(), "markdown": md.String()} {
				if !strings.Contains(out, "fields walked") || !strings.Contains(out, "already has a TTL") || !strings.Contains(out, "seen:9999999999:z") {
					t.Errorf("%s report says nothing of the fields:\n%s", name, out)
				}
			}
			var doc struct {
				FormatVersion int `json:"format_version"`
				Fields        struct {
					Change int64 `json:"change"`
				} `json:"fields"`
			}
			if err := json.Unmarshal(js.Bytes(), &doc); err != nil || doc.FormatVersion != 3 || doc.Fields.Change != 4 {
				t.Errorf("JSON: %v %+v", err, doc)
			}
			t.Log(text.String())
		})
	}
}

// A user whose ACL rules lack a command a fields job reads is told which
// rule to grant, not that the server lacks hash-field expiry.
func TestPlanner_FieldsDenied(t *testing.T) {
	m := redistest.FieldServers(t)[0]
	srv, c := startServer(t, redistest.Options{Image: m.Image})
	ctx := testContext(t)
	rules := "+scan +time +info +ping +config|get +memory|usage +pexpiretime +hscan +hstrlen +client|setname +hello +select"
	args := append([]string{"ACL", "SETUSER", "planner", "on", ">pw", "resetkeys", "~*", "resetchannels", "-@all"}, strings.Fields(rules)...)
	doAll(t, ctx, c, rueidis.Commands{c.B().Arbitrary(args...).Build()})
	url := strings.Replace(srv.URL, "redis://", "redis://planner:pw@", 1)
	p, err := planner.Build(ctx, dial(t, url, nil), loadExample(t, "device-fields-ttl.yaml"), planner.Options{})
	var fe *commands.FieldExpiryError
	if errors.As(err, &fe) {
		t.Fatalf("a denied HPEXPIRETIME read as a server without it: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Errors) == 0 || p.Errors[0].Code != planner.ErrMissingCommand || !strings.Contains(p.Errors[0].Message, "+hpexpiretime") {
		t.Errorf("errors %+v, want missing_command naming +hpexpiretime", p.Errors)
	}
}
