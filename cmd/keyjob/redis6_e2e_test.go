package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redis/rueidis"

	"github.com/keyjob/keyjob/internal/redistest"
)

// redis6Image is the Redis 6.0 image: $KEYJOB_MATRIX_OLD (make test-matrix
// builds it), else scripts/server-image.sh builds it here (a minute the
// first time, then it exists). A server that cannot be built fails.
func redis6Image(t *testing.T) string {
	if img := os.Getenv("KEYJOB_MATRIX_OLD"); img != "" {
		return img
	}
	cmd := exec.Command("bash", filepath.Join(root, "scripts", "server-image.sh"), "redis-6.0")
	cmd.Dir = root
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("scripts/server-image.sh redis-6.0: %v\n%s", err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// redis6Snapshot is every key's DUMP digest and whether it has a TTL:
// Redis 6 has no PEXPIRETIME.
func redis6Snapshot(t *testing.T, c rueidis.Client) map[string]string {
	t.Helper()
	return dumpSnapshot(t, c, func(k string) rueidis.Completed { return c.B().Pttl().Key(k).Build() },
		func(ttl int64) string { return map[bool]string{true: "ttl", false: "none"}[ttl >= 0] })
}

// TestMatrix_Redis6: Redis 6.x is not supported. plan, apply and undo
// refuse it before any change, naming the minimum version; survey, which
// only reads (PTTL where PEXPIRETIME is missing), works on it.
func TestMatrix_Redis6(t *testing.T) {
	img := redis6Image(t)
	srv := redistest.Start(t, redistest.Options{Image: img, Pre7: true})
	c := srv.Client(t)
	applyE2ESeed(t, 300, c)
	before := redis6Snapshot(t, c)
	dir := t.TempDir()
	job := writeJob(t, dir, "job.yaml", applyE2ETicketJob)
	wantRefused := func(what string, r result) {
		t.Helper()
		if r.code == 0 || !strings.Contains(r.stderr, "runs Redis 6.") || !strings.Contains(r.stderr, "needs Redis 7.0 or later") || strings.Contains(r.stderr, "run started") {
			t.Errorf("%s on Redis 6 was not refused naming the minimum version\n%s", what, r)
		}
		wantUnchanged(t, "after "+what, before, redis6Snapshot(t, c))
	}
	wantRefused("plan", keyjob(t, nil, "plan", "--redis", srv.URL, job))
	wantRefused("apply", keyjob(t, nil, applyE2EArgs(srv.URL, filepath.Join(dir, "state6"), "--yes", job)...))

	// A journal written on a supported server, pointed at Redis 6.
	other := redistest.Start(t, redistest.Options{})
	oc := other.Client(t)
	applyE2ESeed(t, 50, oc)
	state := filepath.Join(dir, "state")
	wantExit(t, keyjob(t, nil, applyE2EArgs(other.URL, state, "--yes", job)...), 0)
	cp := readCheckpoint(t, state, "ticket-ttl-backfill")
	wantRefused("undo", keyjob(t, nil, applyE2EUndoArgs(srv.URL, "--yes", "--allow-other-target", cp.Journal)...))

	s := keyjob(t, nil, "survey", "--redis", srv.URL, "--format", "json")
	wantExit(t, s, 0)
	var survey struct {
		Patterns []struct {
			Pattern string `json:"pattern"`
			Keys    int64  `json:"keys"`
			WithTTL int64  `json:"with_ttl"`
		} `json:"patterns"`
	}
	stdoutJSON(t, s, &survey)
	var keys, withTTL, wantTTL int64
	for _, p := range survey.Patterns {
		keys += p.Keys
		withTTL += p.WithTTL
	}
	for _, v := range before {
		if strings.HasSuffix(v, "@ttl") {
			wantTTL++
		}
	}
	if keys != int64(len(before)) || withTTL != wantTTL {
		t.Errorf("survey on Redis 6: %d keys, %d with a TTL; want %d, %d\n%s", keys, withTTL, len(before), wantTTL, s.stdout)
	}
	wantUnchanged(t, "after survey", before, redis6Snapshot(t, c))
}
