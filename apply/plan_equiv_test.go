package apply

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/keyjob/keyjob/internal/redistest"
	"github.com/keyjob/keyjob/jobs"
	"github.com/keyjob/keyjob/planner"
)

// equivJobs cover every action (expire from a capture, expire fixed,
// persist, delete with backup none and dump; journal with the others) and every condition
// (type, ttl none/any/compare, idle, regex skip, bad timestamp, grace).
// Each works on its own prefix, so they share one server.
var equivJobs = []struct{ name, text string }{
	{"capture", `select: {match: "%s:*", type: string, regex: '^%[1]s:(?P<at>\d{10}):\w+$', ttl: none}
action: {expire: {from: {capture: at, format: unix}, after: 365d, grace: 1h}}
backup: journal`},
	{"capture-dump", `select: {match: "%s:*", regex: '^%[1]s:(?P<at>\d{10}):\w+$'}
action: {expire: {from: {capture: at, format: unix}, after: 365d, grace: 1h, when: always}}
backup: {mode: dump, max_dump_size: 1KiB}`},
	{"fixed-nx", `select: {match: "%s:*", idle: "> 1h"}
action: {expire: {ttl: 7d, when: no_ttl}}
backup: none`},
	{"fixed-longer", `select: {match: "%s:*", ttl: "> 1h"}
action: {expire: {ttl: 90d, when: longer}}
backup: journal`},
	{"persist", `select: {match: "%s:*", ttl: "< 60d", type: string}
action: {persist: {}}
backup: journal`},
	{"delete-none", `select: {match: "%s:*", regex: '^%[1]s:\d+:\w+$', idle: "< 1h"}
action: {delete: {}}
backup: none`},
	{"delete-dump-nottl", `select: {match: "%s:*", ttl: none}
action: {delete: {}}
backup: dump`},
	{"delete-dump", `select: {match: "%s:*", type: string}
action: {delete: {}}
backup: {mode: dump, max_dump_size: 1KiB}`},
}

// TestPlanEqualsApply plans each job, applies it to the same keyspace
// (no other writer) and checks that every outcome count of the plan is
// the report's, and that every key the plan kept as a sample ended as its
// outcome says.
func TestPlanEqualsApply(t *testing.T) {
	t.Run("Standalone", func(t *testing.T) {
		srv, c := startRedis(t, redistest.Options{})
		checkPlanEqualsApply(t, srv.URL, c)
	})
	t.Run("Cluster", func(t *testing.T) {
		cl := redistest.StartCluster(t, 3, 0)
		checkPlanEqualsApply(t, cl.URL, cl.Client(t))
	})
}

func checkPlanEqualsApply(t *testing.T, url string, c rueidis.Client) {
	for _, ej := range equivJobs {
		t.Run(ej.name, func(t *testing.T) {
			prefix := "eq" + strings.ReplaceAll(ej.name, "-", "")
			seedEquiv(t, c, prefix)
			text := "version: 1\nname: " + prefix + "\n" + fmt.Sprintf(ej.text, prefix) + "\nlimits: {rate: unlimited, scan_count: 40}\n"
			job := loadJob(t, text)
			conn := dial(t, url)
			plan, err := planner.Build(context.Background(), conn, job, planner.Options{})
			if err != nil {
				t.Fatalf("plan: %v", err)
			}
			before := snapshot(t, c)
			rep := mustRun(t, conn, job, Options{StateDir: t.TempDir()})
			after := snapshot(t, c)

			if plan.Outcomes.Change == 0 {
				t.Errorf("the plan changes nothing: the seed does not exercise %s", ej.name)
			}
			if got, want := rep.Outcomes.Change, plan.Outcomes.Change; got != want {
				t.Errorf("change: report %d, plan %d", got, want)
			}
			if got, want := rep.Outcomes.ChangeGrace, plan.Outcomes.ChangeGrace; got != want {
				t.Errorf("change_grace: report %d, plan %d", got, want)
			}
			if got, want := rep.Scanned, plan.Scanned; got != want {
				t.Errorf("scanned: report %d, plan %d", got, want)
			}
			for _, o := range append(planner.SkipOrder, string(jobs.Gone), string(jobs.ChangedSinceScan)) {
				if got, want := rep.Outcomes.Skip[o], plan.Outcomes.Skip[o]; got != want {
					t.Errorf("%s: report %d, plan %d", o, got, want)
				}
			}
			checkSamples(t, job, plan, before, after)
		})
	}
}

// checkSamples follows the plan's sample keys into the keyspace after the
// run: a skipped key is as it was, a changed key has what the plan said.
func checkSamples(t *testing.T, job *jobs.Job, plan *planner.Plan, before, after map[string]redistest.KeyState) {
	t.Helper()
	n := 0
	for outcome, keys := range plan.Samples {
		for _, k := range keys {
			n++
			was, now := before[k.Name], after[k.Name]
			_, exists := after[k.Name]
			if outcome != string(jobs.Change) && outcome != changeGrace {
				if now != was {
					t.Errorf("%s (plan: %s) changed: %v -> %v", k.Name, outcome, was, now)
				}
				continue
			}
			switch job.Action.Kind {
			case jobs.ActionDelete:
				if exists {
					t.Errorf("%s (plan: delete) still exists: %v", k.Name, now)
				}
			case jobs.ActionPersist:
				if now.ExpireAt != -1 {
					t.Errorf("%s (plan: persist) expires at %d", k.Name, now.ExpireAt)
				}
			default:
				want := k.NewExpire.UnixMilli()
				// A fixed TTL and the grace count from the run's start,
				// which is after the plan's.
				exact := job.Action.Expire.From != nil && !k.Grace
				if exact && now.ExpireAt != want || !exact && (now.ExpireAt < want || now.ExpireAt > want+10*time.Minute.Milliseconds()) {
					t.Errorf("%s (plan: %s) expires at %d, plan said %d", k.Name, outcome, now.ExpireAt, want)
				}
			}
		}
	}
	if n == 0 {
		t.Error("the plan kept no sample")
	}
}

// seedEquiv writes keys under prefix for every condition: names with a
// recent, an old (grace) and a bad timestamp and without one; no TTL, a
// short, a middle and a long TTL; idle for two hours or just written;
// small and big (past 1KiB) values; strings and hashes.
func seedEquiv(t *testing.T, c rueidis.Client, prefix string) {
	t.Helper()
	ctx := context.Background()
	nowMs := serverNowMs(t, c)
	now := nowMs / 1000
	small, big := "v", strings.Repeat("x", 4096)
	payload := map[string]string{}
	for _, v := range []string{small, big} {
		tmp := "{" + prefix + "}:tmp"
		do(t, c, c.B().Set().Key(tmp).Value(v).Build())
		p, err := c.Do(ctx, c.B().Dump().Key(tmp).Build()).ToString()
		if err != nil {
			t.Fatal(err)
		}
		payload[v] = p
		do(t, c, c.B().Del().Key(tmp).Build())
	}
	stamps := []string{
		fmt.Sprint(now - 86400),     // fresh: expires in about 364 days
		fmt.Sprint(now - 400*86400), // past: the grace TTL
		"0000000042",                // before 2000: bad_timestamp
	}
	ttls := []int64{0, nowMs + 30*60*1000, nowMs + 10*86400*1000, nowMs + 200*86400*1000}
	var cmds rueidis.Commands
	i := 0
	for _, st := range stamps {
		for _, ttl := range ttls {
			for _, idle := range []int64{0, 7200} {
				for _, v := range []string{small, big} {
					for _, name := range []string{fmt.Sprintf("%s:%s:k%d", prefix, st, i), fmt.Sprintf("%s:x%d", prefix, i)} {
						i++
						cmds = append(cmds, c.B().Restore().Key(name).Ttl(ttl).SerializedValue(payload[v]).Absttl().Idletime(idle).Build())
					}
				}
			}
		}
		// A few hashes: select.type string leaves them out.
		cmds = append(cmds, c.B().Hset().Key(fmt.Sprintf("%s:%s:h%d", prefix, st, i)).FieldValue().FieldValue("f", "v").Build())
		i++
	}
	// Fewer than 100 bad timestamps, so apply's unit-mistake guard stays quiet.
	do(t, c, cmds...)
}
