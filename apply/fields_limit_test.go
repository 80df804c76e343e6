package apply

import (
	"context"
	"fmt"
	"testing"

	"github.com/keyjob/keyjob/internal/redistest"
	"github.com/keyjob/keyjob/jobs"
	"github.com/keyjob/keyjob/planner"
)

// TestResume_FieldsLimit: a fields job run with --limit 2 and resumed
// until it completes, some invocation stopping in the middle of a batch,
// changes exactly the fields a single run would, and its report counts
// each hash changed once (a hash changed before a stop inside its batch
// was counted again by the resume as a hash with no field to change).
// Hashes with no field to change do not use up the limit (an invocation
// whose allowed keys were such hashes changed nothing, stopped, and the
// next did the same: --resume never ended).
func TestResume_FieldsLimit(t *testing.T) {
	m := redistest.FieldServers(t)[0]
	srv, c := startRedis(t, redistest.Options{Image: m.Image})
	set := seedDevices(t, c)
	// Hashes with no field to change, many: a batch begins with some.
	for i := range 60 {
		key := fmt.Sprintf("devices:p%d", i)
		if err := c.Do(context.Background(), c.B().Hset().Key(key).FieldValue().FieldValue("name", "x").Build()).Error(); err != nil {
			t.Fatal(err)
		}
		set.hashes = append(set.hashes, key)
	}
	beforeHashes := readHashes(t, c, set.hashes)
	state := t.TempDir()
	job := loadJob(t, fieldsJob)
	plan, err := planner.Build(context.Background(), dial(t, srv.URL), job, planner.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rep := runLimited(t, srv.URL, job, state)

	want, fields := expectFields(t, beforeHashes, job, loadCheckpoint(t, state, job.Name).RunStartMs)
	assertHashes(t, "after the limited runs", want, readHashes(t, c, set.hashes))
	var hashes int64
	for k, w := range want {
		for name, f := range w {
			if beforeHashes[k][name] != f {
				hashes++
				break
			}
		}
	}
	if got := rep.Outcomes.Change; got != hashes {
		t.Errorf("report: %d hashes changed, the keyspace says %d", got, hashes)
	}
	if got := rep.Outcomes.FieldsChanged; got != fields {
		t.Errorf("report: %d fields changed, the keyspace says %d", got, fields)
	}
	// The plan, made before, counts the hashes with no field to change.
	if plan.Outcomes.Change != rep.Outcomes.Change || plan.Outcomes.Skip[string(jobs.SkipNoFields)] != rep.Outcomes.Skip[string(jobs.SkipNoFields)] {
		t.Errorf("plan %+v, limited runs %+v", plan.Outcomes, rep.Outcomes)
	}
}
