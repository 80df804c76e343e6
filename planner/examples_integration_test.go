package planner_test

import (
	"path/filepath"
	"testing"

	"github.com/keyjob/keyjob/internal/redistest"
	"github.com/keyjob/keyjob/internal/redisx"
	"github.com/keyjob/keyjob/internal/seed"
	"github.com/keyjob/keyjob/jobs"
	"github.com/keyjob/keyjob/planner"
)

// TestPlanner_Examples validates every job file in examples/ and plans it
// against the ticket story's keyspace. The story's own figures pin the
// counts of the examples written for it; an example added later gets the
// checks every plan must pass.
func TestPlanner_Examples(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(examplesDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples in %s: %v", examplesDir, err)
	}
	srv, c := startServer(t, redistest.Options{})
	st, err := seed.Story(testContext(t), c, 2000)
	if err != nil {
		t.Fatal(err)
	}
	conn := dial(t, srv.URL, nil)
	// A fields job needs hash-field expiry, which the default server
	// (Redis 7.0) has not: it is planned on the first of FieldServers,
	// seeded with the same story.
	var fieldConn *redisx.Conn
	connFor := func(job *jobs.Job) *redisx.Conn {
		if job.Fields == nil {
			return conn
		}
		if fieldConn == nil {
			fsrv, fc := startServer(t, redistest.Options{Image: redistest.FieldServers(t)[0].Image})
			if _, err := seed.Story(testContext(t), fc, 2000); err != nil {
				t.Fatal(err)
			}
			fieldConn = dial(t, fsrv.URL, nil)
		}
		return fieldConn
	}

	type want struct{ scanned, change, skipTTL int }
	known := map[string]want{
		"ticket-ttl-backfill.yaml": {st.Tickets.Total(), st.Tickets.WithoutTTL, st.Tickets.WithTTL},
		"drop-deal-clicks.yaml":    {st.DealClicks, st.DealClicks, 0},
		"sessions-fixed-ttl.yaml":  {st.Sessions, 0, st.Sessions},
		"report-cache-90d.yaml":    {0, 0, 0}, // the story has no reports
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			job, err := jobs.Load(f)
			if err != nil {
				t.Fatalf("examples/%s does not validate:\n%v", name, err)
			}
			p := build(t, connFor(job), job, planner.Options{})
			if len(p.Errors) > 0 {
				t.Errorf("plan errors: %+v", p.Errors)
			}
			if got, want := p.DBSize, int64(st.Keys()); got != want {
				t.Errorf("dbsize = %d, want %d", got, want)
			}
			sum := p.Outcomes.Change
			for _, n := range p.Outcomes.Skip {
				sum += n
			}
			if sum != p.Scanned {
				t.Errorf("change + skips = %d, scanned = %d", sum, p.Scanned)
			}
			if got, want := p.Job.SHA256, job.SHA256; got != want || len(got) != 64 {
				t.Errorf("job sha256 = %q, want %q", got, want)
			}
			w, ok := known[name]
			if !ok {
				t.Logf("examples/%s is new: only the generic checks apply", name)
				return
			}
			if got := p.Scanned; got != int64(w.scanned) {
				t.Errorf("scanned = %d, want %d", got, w.scanned)
			}
			if got := p.Outcomes.Change; got != int64(w.change) {
				t.Errorf("change = %d, want %d", got, w.change)
			}
			if got := p.Outcomes.Skip[wantTTL]; got != int64(w.skipTTL) {
				t.Errorf("skip.ttl = %d, want %d", got, w.skipTTL)
			}
		})
	}
}
