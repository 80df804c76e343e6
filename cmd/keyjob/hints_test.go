package main

// The next steps' command lines, without a server; that they run is
// tested end to end in hints_e2e_test.go.

import (
	"testing"

	"github.com/urfave/cli/v2"
)

// stepsOf runs apply's flag parsing on args and returns the resume and
// undo lines it would print.
func stepsOf(t *testing.T, env map[string]string, args ...string) (resume, undo, yes step) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	app := newApp(nil, nil)
	cmd := app.Command("apply")
	cmd.Action = func(c *cli.Context) error {
		resume = applyStep(c, c.Args().First(), "resume", "--resume")
		undo = undoStep(c, ".keyjob/j/run.journal")
		yes = applyStep(c, c.Args().First(), "confirm", "--yes")
		return nil
	}
	if err := app.Run(interspersed(app, append([]string{"keyjob", "apply"}, args...))); err != nil {
		t.Fatal(err)
	}
	return resume, undo, yes
}

func TestHints_CarryFlags(t *testing.T) {
	t.Setenv("REDIS_URL", "")
	resume, undo, yes := stepsOf(t, nil, "my job.yaml", "--redis", "rediss://cache.example:6380/2",
		"--tls-ca", "/etc/ca.pem", "--tls-cert", "c.pem", "--tls-key", "k.pem", "--state-dir", "/var/lib/keyjob",
		"--rate", "500", "--allow-looser-guards", "--disk-free-command", "df -B1 --output=avail /data | tail -1",
		"--limit", "100", "--restart", "--max-pause", "90s")
	want := "keyjob apply --redis rediss://cache.example:6380/2 --tls-ca /etc/ca.pem --tls-cert c.pem --tls-key k.pem --state-dir /var/lib/keyjob " +
		"--disk-free-command 'df -B1 --output=avail /data | tail -1' --max-pause 1m30s --allow-looser-guards --rate 500 --resume 'my job.yaml'"
	if resume.command != want || resume.secret {
		t.Errorf("resume:\n got %s\nwant %s (secret %v)", resume.command, want, resume.secret)
	}
	wantUndo := "keyjob undo --redis rediss://cache.example:6380/2 --tls-ca /etc/ca.pem --tls-cert c.pem --tls-key k.pem .keyjob/j/run.journal"
	if undo.command != wantUndo {
		t.Errorf("undo:\n got %s\nwant %s", undo.command, wantUndo)
	}
	// A step that adds a flag keeps --restart and --limit.
	wantYes := "keyjob apply --redis rediss://cache.example:6380/2 --tls-ca /etc/ca.pem --tls-cert c.pem --tls-key k.pem --state-dir /var/lib/keyjob " +
		"--disk-free-command 'df -B1 --output=avail /data | tail -1' --max-pause 1m30s --allow-looser-guards --rate 500 --limit 100 --restart --yes 'my job.yaml'"
	if yes.command != wantYes {
		t.Errorf("--yes:\n got %s\nwant %s", yes.command, wantYes)
	}
}

func TestHints_NoPassword(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"Flag", nil, []string{"j.yaml", "--redis", "redis://app:s3cret@10.0.0.5:6379"}},
		{"Env", map[string]string{"REDIS_URL": "redis://:s3cret@10.0.0.5:6379"}, []string{"j.yaml"}},
		{"Query", nil, []string{"j.yaml", "--redis", "redis://10.0.0.5:6379?password=s3cret"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resume, undo, _ := stepsOf(t, tt.env, tt.args...)
			for _, s := range []step{resume, undo} {
				if !s.secret || s.command != "keyjob "+map[bool]string{true: "apply", false: "undo"}[s.what == "resume"]+` --redis "$REDIS_URL" `+
					map[bool]string{true: "--resume j.yaml", false: ".keyjob/j/run.journal"}[s.what == "resume"] {
					t.Errorf("%s: %s (secret %v)", s.what, s.command, s.secret)
				}
			}
		})
	}
	t.Setenv("REDIS_URL", "")
	if resume, _, _ := stepsOf(t, nil, "j.yaml"); resume.command != "keyjob apply --resume j.yaml" {
		t.Errorf("the default URL: %s", resume.command)
	}
}
