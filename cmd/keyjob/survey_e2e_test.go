package main_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/keyjob/keyjob/internal/redistest"
	"github.com/keyjob/keyjob/internal/redisx"
)

// TestMatrix_SurveySuggestTrim: from the command line, survey --suggest
// on sorted sets scored in milliseconds writes trim-timeline.yaml where it
// can read inside keys (CLIENT NO-TOUCH), and that job validates and plans
// the members the seeding made old; on Redis 7.0 it writes none and the
// report says why.
func TestMatrix_SurveySuggestTrim(t *testing.T) { redistest.OnMatrix(t, surveySuggestTrim) }

func surveySuggestTrim(t *testing.T, image string) {
	ctx := context.Background()
	srv := redistest.Start(t, redistest.Options{Image: image})
	c := srv.Client(t)
	const sets = 30
	now := time.Now().UnixMilli()
	var cmds rueidis.Commands
	for i := range sets {
		old := now - int64(100+i)*24*3600*1000
		cmds = append(cmds, c.B().Zadd().Key(fmt.Sprintf("timeline:%d", i)).ScoreMember().
			ScoreMember(float64(old), "old").ScoreMember(float64(now), "new").Build())
	}
	for _, r := range c.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := redisx.Dial(ctx, redisx.Options{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	noTouch := conn.NoTouch()
	conn.Close()

	dir := filepath.Join(t.TempDir(), "jobs")
	r := keyjob(t, nil, "survey", "--redis", srv.URL, "--suggest", dir)
	wantExit(t, r, 0)
	path := filepath.Join(dir, "trim-timeline.yaml")
	if !noTouch {
		if _, err := os.Stat(path); err == nil || !strings.Contains(r.stdout, "Inside keys not read") {
			t.Errorf("without NO-TOUCH: %s written, or the report does not say why\n%s", path, r)
		}
		return
	}
	if !strings.Contains(r.stderr, "wrote "+path+": timeline:{n}, sorted-set members older than 90d by their unix_ms score") ||
		!strings.Contains(r.stdout, "Inside keys") {
		t.Fatalf("no trim job written, or no Inside keys table\n%s", r)
	}
	wantExit(t, keyjob(t, nil, "validate", path), 0)
	p := keyjob(t, nil, "plan", "--redis", srv.URL, "--format", "json", path)
	wantExit(t, p, 0)
	var plan struct {
		Members struct {
			Selected int64 `json:"selected"`
		} `json:"members"`
	}
	stdoutJSON(t, p, &plan)
	if plan.Members.Selected != sets {
		t.Errorf("the suggested job selects %d members, want the %d older than 90 days\n%s", plan.Members.Selected, sets, p)
	}
}
