package main_test

// The managed-service profile on every server of the matrix: commands a
// managed service renames away, and ACL users with the README's
// least-privilege rules minus one command at a time. Each combination
// either works or refuses before any change, naming what it lacks.

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/rueidis"

	"github.com/keyjob/keyjob/internal/redistest"
)

// readmeRule reads the +rules of `ACL SETUSER user` from the README, so the
// test checks the rules the README gives.
func readmeRule(t *testing.T, user string) []string {
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`ACL SETUSER ` + user + ` .*`).Find(b)
	var rules []string
	for _, f := range strings.Fields(string(m)) {
		if strings.HasPrefix(f, "+") {
			rules = append(rules, f)
		}
	}
	return rules
}

// managedSnapshot is every key's DUMP digest and PEXPIRETIME: the
// snapshot for servers without DEBUG.
func managedSnapshot(t *testing.T, c rueidis.Client) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	var cursor uint64
	for {
		e, err := c.Do(ctx, c.B().Scan().Cursor(cursor).Count(1000).Build()).AsScanEntry()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range e.Elements {
			res := c.DoMulti(ctx, c.B().Dump().Key(k).Build(), c.B().Pexpiretime().Key(k).Build())
			d, err1 := res[0].ToString()
			at, err2 := res[1].AsInt64()
			if err1 != nil || err2 != nil {
				t.Fatalf("%s: %v %v", k, err1, err2)
			}
			sum := sha1.Sum([]byte(d))
			out[k] = hex.EncodeToString(sum[:8]) + "@" + strconv.FormatInt(at, 10)
		}
		if cursor = e.Cursor; cursor == 0 {
			return out
		}
	}
}

func wantUnchanged(t *testing.T, what string, before, after map[string]string) {
	t.Helper()
	if len(before) != len(after) {
		t.Fatalf("%s: %d keys, were %d", what, len(after), len(before))
	}
	for k, v := range before {
		if after[k] != v {
			t.Fatalf("%s: %s changed (%s -> %s)", what, k, v, after[k])
		}
	}
}

// TestManaged_RenamedCommands: CONFIG, DEBUG, BGSAVE, BGREWRITEAOF, SAVE,
// SCRIPT and MEMORY renamed away. The ticket job plans (saying what it
// cannot know), applies and surveys; a job that needs the script and the
// undo (a script too) are refused before any change, naming SCRIPT LOAD.
func TestManaged_RenamedCommands(t *testing.T) {
	for _, m := range redistest.Matrix(t) {
		t.Run(m.Name, func(t *testing.T) {
			t.Parallel()
			srv := redistest.Start(t, redistest.Options{Image: m.Image, Args: redistest.RenameAway(redistest.Managed...)})
			c := srv.Client(t)
			applyE2ESeed(t, 500, c)
			before := managedSnapshot(t, c)
			dir := t.TempDir()
			// select.type is re-checked at the write by the script, so the
			// ticket job as written needs SCRIPT; without select.type its
			// conditions are native (PEXPIREAT NX) and it runs.
			native := strings.Replace(applyE2ETicketJob, "  type: string\n", "", 1)
			if native == applyE2ETicketJob {
				t.Fatal("the ticket job has no select.type line to drop")
			}
			job := writeJob(t, dir, "job.yaml", native)
			state := filepath.Join(dir, "state")

			var plan clusterE2EPlanJSON
			p := keyjob(t, nil, "plan", "--redis", srv.URL, "--format", "json", job)
			wantExit(t, p, 0)
			stdoutJSON(t, p, &plan)
			if !plan.warns("memory_unknown") || !plan.warns("config_refused") || plan.Outcomes.Change == 0 {
				t.Errorf("plan: warnings %v, change %d; want memory_unknown and config_refused, and changes", plan.Warnings, plan.Outcomes.Change)
			}
			if txt := keyjob(t, nil, "plan", "--redis", srv.URL, job); !strings.Contains(txt.stdout, "MEMORY USAGE missing") {
				t.Errorf("the text plan does not say MEMORY USAGE is missing\n%s", txt)
			}
			wantUnchanged(t, "after plan", before, managedSnapshot(t, c))

			s := keyjob(t, nil, "survey", "--redis", srv.URL, "--format", "json")
			wantExit(t, s, 0)
			if !strings.Contains(s.stdout, `"memory_unknown"`) {
				t.Errorf("survey does not say memory is unknown\n%s", s)
			}

			// Jobs that need the script: refused before "run started".
			for name, text := range map[string]string{"idle.yaml": matrixIdleJob, "typed.yaml": applyE2ETicketJob} {
				r := keyjob(t, nil, applyE2EArgs(srv.URL, filepath.Join(dir, "state-"+name), "--yes", writeJob(t, dir, name, text))...)
				if r.code == 0 || !strings.Contains(r.stderr, "SCRIPT LOAD") || !strings.Contains(r.stderr, "+script|load") || strings.Contains(r.stderr, "run started") {
					t.Errorf("%s was not refused naming SCRIPT LOAD and +script|load\n%s", name, r)
				}
				wantUnchanged(t, "after the refusal of "+name, before, managedSnapshot(t, c))
			}

			r := keyjob(t, nil, applyE2EArgs(srv.URL, state, "--yes", job)...)
			wantExit(t, r, 0)
			if !strings.Contains(r.stdout+r.stderr, "memory of a key: unknown") {
				t.Errorf("the apply summary does not say memory is unknown\n%s", r)
			}
			after := managedSnapshot(t, c)
			changed := 0
			for k, v := range before {
				if after[k] != v {
					changed++
					if !applyE2ETicketName.MatchString(k) || !strings.HasSuffix(v, "@-1") || strings.HasSuffix(after[k], "@-1") {
						t.Errorf("%s: %s -> %s", k, v, after[k])
					}
				}
			}
			if int64(changed) != plan.Outcomes.Change {
				t.Errorf("apply changed %d keys, the plan said %d", changed, plan.Outcomes.Change)
			}

			cp := readCheckpoint(t, state, "ticket-ttl-backfill")
			u := keyjob(t, nil, applyE2EUndoArgs(srv.URL, "--yes", cp.Journal)...)
			if u.code == 0 || !strings.Contains(u.stderr, "+script|load") {
				t.Errorf("undo without SCRIPT was not refused naming +script|load\n%s", u)
			}
			wantUnchanged(t, "after undo's refusal", after, managedSnapshot(t, c))
		})
	}
}

// TestManaged_LeastPrivilege: for each of the README's apply rules, a user
// with all the others runs the ticket job and the dump-backed delete.
// Each run works (then it is undone) or is refused before any change,
// naming the command.
func TestManaged_LeastPrivilege(t *testing.T) {
	managedApplyRules := readmeRule(t, "keyjob-apply")
	if len(managedApplyRules) < 20 {
		t.Fatalf("README's keyjob-apply rules not found: %v", managedApplyRules)
	}
	for _, m := range redistest.Matrix(t) {
		t.Run(m.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			srv := redistest.Start(t, redistest.Options{Image: m.Image})
			c := srv.Client(t)
			applyE2ESeed(t, 200, c)
			dir := t.TempDir()
			jobs := []string{writeJob(t, dir, "job.yaml", applyE2ETicketJob), example("drop-deal-clicks.yaml")}
			before := managedSnapshot(t, c)
			for i, drop := range managedApplyRules {
				user := "u" + strconv.Itoa(i)
				args := []string{"ACL", "SETUSER", user, "on", ">pw", "resetkeys", "~*", "resetchannels", "-@all"}
				for _, r := range managedApplyRules {
					if r != drop {
						args = append(args, r)
					}
				}
				if err := c.Do(ctx, c.B().Arbitrary(args...).Build()).Error(); err != nil {
					t.Fatal(err)
				}
				url := strings.Replace(srv.URL, "redis://", "redis://"+user+":pw@", 1)
				name := strings.ToLower(strings.TrimPrefix(drop, "+"))
				for _, job := range jobs {
					state := filepath.Join(dir, "state-"+user)
					r := keyjob(t, nil, applyE2EArgs(url, state, "--yes", "--allow-looser-guards", job)...)
					if r.code != 0 {
						low := strings.ToLower(r.stderr)
						if !strings.Contains(low, name) && !strings.Contains(low, strings.ReplaceAll(name, "|", " ")) {
							t.Errorf("without %s, %s failed without naming it\n%s", drop, filepath.Base(job), r)
						}
						if strings.Contains(r.stderr, "run started") {
							t.Errorf("without %s, %s failed after it started\n%s", drop, filepath.Base(job), r)
						}
						wantUnchanged(t, "without "+drop, before, managedSnapshot(t, c))
						t.Logf("without %s: %s refused", drop, filepath.Base(job))
						continue
					}
					if a := managedSnapshot(t, c); len(a) == len(before) && filepath.Base(job) != "job.yaml" {
						t.Errorf("without %s, %s succeeded but deleted nothing", drop, filepath.Base(job))
					}
					t.Logf("without %s: %s works", drop, filepath.Base(job))
					jobName := map[bool]string{true: "ticket-ttl-backfill", false: "drop-deal-clicks"}[filepath.Base(job) == "job.yaml"]
					cp := readCheckpoint(t, state, jobName)
					u := keyjob(t, nil, applyE2EUndoArgs(srv.URL, "--yes", cp.Journal)...)
					wantExit(t, u, 0)
					wantUnchanged(t, "after undo (without "+drop+")", before, managedSnapshot(t, c))
				}
			}
		})
	}
}
