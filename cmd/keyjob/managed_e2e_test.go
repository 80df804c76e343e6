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
	return dumpSnapshot(t, c, func(k string) rueidis.Completed { return c.B().Pexpiretime().Key(k).Build() },
		func(at int64) string { return strconv.FormatInt(at, 10) })
}

// dumpSnapshot is every key's DUMP digest, followed by "@" and what
// expiry(the reply of ttl(key)) says of its TTL.
func dumpSnapshot(t *testing.T, c rueidis.Client, ttl func(key string) rueidis.Completed, expiry func(int64) string) map[string]string {
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
			res := c.DoMulti(ctx, c.B().Dump().Key(k).Build(), ttl(k))
			d, err1 := res[0].ToString()
			at, err2 := res[1].AsInt64()
			if err1 != nil || err2 != nil {
				t.Fatalf("%s: %v %v", k, err1, err2)
			}
			sum := sha1.Sum([]byte(d))
			out[k] = hex.EncodeToString(sum[:8]) + "@" + expiry(at)
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
// SCRIPT and MEMORY renamed away (and TYPE, for the survey). The ticket
// job plans, applies and surveys, each figure it cannot read shown as
// unknown with the reason (the plan's tables, the apply summary, the
// guard line); a job that needs the script and the undo (a script too)
// are refused before any change, naming SCRIPT LOAD.
func TestManaged_RenamedCommands(t *testing.T) {
	for _, m := range redistest.Matrix(t) {
		t.Run(m.Name, func(t *testing.T) {
			t.Parallel()
			srv := redistest.Start(t, redistest.Options{Image: m.Image, Args: redistest.RenameAway(append(redistest.Managed, "TYPE")...)})
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
			txt := keyjob(t, nil, "plan", "--redis", srv.URL, job)
			for _, want := range []*regexp.Regexp{
				regexp.MustCompile(`memory freed as keys expire +unknown +MEMORY USAGE missing`),
				regexp.MustCompile(`forks the run triggers +unknown +CONFIG GET refused`),
				regexp.MustCompile(`(?m)^total +\d+ +unknown$`),
			} {
				if !want.MatchString(txt.stdout) {
					t.Errorf("the text plan does not match %s\n%s", want, txt)
				}
			}
			wantUnchanged(t, "after plan", before, managedSnapshot(t, c))

			s := keyjob(t, nil, "survey", "--redis", srv.URL, "--format", "json")
			wantExit(t, s, 0)
			if !strings.Contains(s.stdout, `"memory_unknown"`) || !strings.Contains(s.stdout, `"types_unknown"`) || !strings.Contains(s.stdout, `"unknown": `) {
				t.Errorf("survey does not say memory and types are unknown\n%s", s)
			}
			if st := keyjob(t, nil, "survey", "--redis", srv.URL); !strings.Contains(st.stdout, "TYPE missing") {
				t.Errorf("the text survey does not say TYPE is missing\n%s", st)
			}

			// Jobs that need the script: refused before "run started".
			for name, text := range map[string]string{"idle.yaml": matrixIdleJob, "typed.yaml": applyE2ETicketJob} {
				r := keyjob(t, nil, applyE2EArgs(srv.URL, filepath.Join(dir, "state-"+name), "--yes", writeJob(t, dir, name, text))...)
				if r.code == 0 || !strings.Contains(r.stderr, "SCRIPT LOAD") || !strings.Contains(r.stderr, "+script|load") || strings.Contains(r.stderr, "run started") {
					t.Errorf("%s was not refused naming SCRIPT LOAD and +script|load\n%s", name, r)
				}
				wantUnchanged(t, "after the refusal of "+name, before, managedSnapshot(t, c))
			}

			r := keyjob(t, nil, "apply", "--redis", srv.URL, "--state-dir", state, "--progress", "log", "--yes", job)
			wantExit(t, r, 0)
			for _, want := range []string{"memory of a key: unknown (MEMORY USAGE missing", "forks the run triggers: unknown (CONFIG GET missing",
				"disk unknown blind (no --disk-path"} {
				if !strings.Contains(r.stdout+r.stderr, want) {
					t.Errorf("the apply summary or its guard line does not say %q\n%s", want, r)
				}
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

// TestManaged_LeastPrivilege: the README's least-privilege rules minus
// one command at a time. With the plan rules, plan and survey; with the
// apply rules, apply stopped by --limit and resumed, then undo, of the
// ticket job and of the dump-backed delete, all as that user. Each either
// works (undo gives the keyspace back) or is refused before any change,
// naming the command and its ACL rule. survey degrades where it can:
// without +type the types are unknown, without +object|idletime the idle
// times, and its notes say so.
func TestManaged_LeastPrivilege(t *testing.T) {
	planRules := readmeRule(t, "keyjob-plan")
	applyRules := readmeRule(t, "keyjob-apply")
	if len(planRules) < 15 || len(applyRules) < 20 {
		t.Fatalf("README's keyjob-plan or keyjob-apply rules not found: %v, %v", planRules, applyRules)
	}
	for _, m := range redistest.Matrix(t) {
		t.Run(m.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			srv := redistest.Start(t, redistest.Options{Image: m.Image})
			c := srv.Client(t)
			applyE2ESeed(t, 200, c)
			dir := t.TempDir()
			ticket := writeJob(t, dir, "job.yaml", applyE2ETicketJob)
			jobs := []string{ticket, example("drop-deal-clicks.yaml")}
			before := managedSnapshot(t, c)
			n := 0
			// user makes a user with rules less drop and returns its URL.
			user := func(rules []string, drop string) string {
				n++
				name := "u" + strconv.Itoa(n)
				args := []string{"ACL", "SETUSER", name, "on", ">pw", "resetkeys", "~*", "resetchannels", "-@all"}
				for _, r := range rules {
					if r != drop {
						args = append(args, r)
					}
				}
				if err := c.Do(ctx, c.B().Arbitrary(args...).Build()).Error(); err != nil {
					t.Fatal(err)
				}
				return strings.Replace(srv.URL, "redis://", "redis://"+name+":pw@", 1)
			}
			// refused checks a failed run named the command and its rule,
			// before any change.
			refused := func(drop, what string, r result, want map[string]string) {
				t.Helper()
				cmd := strings.ToLower(strings.TrimPrefix(drop, "+"))
				low := strings.ToLower(r.stderr)
				if !strings.Contains(low, cmd) && !strings.Contains(low, strings.ReplaceAll(cmd, "|", " ")) {
					t.Errorf("without %s, %s failed without naming it\n%s", drop, what, r)
				}
				if !strings.Contains(r.stderr, "ACL rule "+drop) && !strings.Contains(r.stderr, "NOPERM") && !strings.Contains(r.stderr, "NOAUTH") && !strings.Contains(r.stderr, "WRONGPASS") {
					t.Errorf("without %s, %s failed without naming the ACL rule %s\n%s", drop, what, drop, r)
				}
				if strings.Contains(r.stderr, "run started") {
					t.Errorf("without %s, %s failed after it started\n%s", drop, what, r)
				}
				wantUnchanged(t, what+" without "+drop, want, managedSnapshot(t, c))
				t.Logf("without %s: %s refused", drop, what)
			}

			// What the README and docs/commands.md say keyjob works without
			// (standalone, no /db in the URL): refusing is a failure there.
			works := map[string]bool{"+client|setname": true, "+hello": true, "+config|get": true, "+memory|usage": true,
				"+object|freq": true, "+select": true, "+cluster|myid": true, "+cluster|slots": true}
			for _, drop := range planRules {
				url := user(planRules, drop)
				p := keyjob(t, nil, "plan", "--redis", url, "--format", "json", ticket)
				if p.code != 0 && works[drop] {
					t.Errorf("without %s, plan failed\n%s", drop, p)
				} else if p.code != 0 {
					refused(drop, "plan", p, before)
				} else {
					t.Logf("without %s: plan works", drop)
				}
				wantUnchanged(t, "plan without "+drop, before, managedSnapshot(t, c))
				s := keyjob(t, nil, "survey", "--redis", url, "--format", "json")
				switch {
				case s.code != 0 && (works[drop] || drop == "+type" || drop == "+object|idletime"):
					t.Errorf("without %s, survey failed\n%s", drop, s)
				case s.code != 0:
					refused(drop, "survey", s, before)
				case drop == "+type" && !strings.Contains(s.stdout, `"types_unknown"`):
					t.Errorf("survey without +type does not note types_unknown\n%s", s)
				case drop == "+object|idletime" && !strings.Contains(s.stdout, `"idle_unknown"`):
					t.Errorf("survey without +object|idletime does not note idle_unknown\n%s", s)
				default:
					t.Logf("without %s: survey works", drop)
				}
				wantUnchanged(t, "survey without "+drop, before, managedSnapshot(t, c))
			}
			for _, need := range []string{"+scan", "+time", "+info"} {
				if s := keyjob(t, nil, "survey", "--redis", user(planRules, need), "--format", "json"); s.code == 0 {
					t.Errorf("survey without %s worked\n%s", need, s)
				}
			}

			for _, drop := range applyRules {
				url := user(applyRules, drop)
				for _, job := range jobs {
					base := filepath.Base(job)
					state := filepath.Join(dir, "state-"+strconv.Itoa(n)+"-"+base)
					r := keyjob(t, nil, applyE2EArgs(url, state, "--yes", "--allow-looser-guards", "--limit", "5", job)...)
					if r.code != 0 {
						if works[drop] {
							t.Errorf("without %s, apply of %s failed\n%s", drop, base, r)
						}
						refused(drop, "apply of "+base, r, before)
						continue
					}
					r = keyjob(t, nil, applyE2EArgs(url, state, "--yes", "--allow-looser-guards", "--resume", job)...)
					if r.code != 0 {
						t.Errorf("without %s, %s's resume failed after its start worked\n%s", drop, base, r)
						continue
					}
					after := managedSnapshot(t, c)
					if len(after) == len(before) && base != "job.yaml" {
						t.Errorf("without %s, %s succeeded but deleted nothing", drop, base)
					}
					t.Logf("without %s: apply and resume of %s work", drop, base)
					jobName := map[bool]string{true: "ticket-ttl-backfill", false: "drop-deal-clicks"}[base == "job.yaml"]
					cp := readCheckpoint(t, state, jobName)
					u := keyjob(t, nil, applyE2EUndoArgs(url, "--yes", cp.Journal)...)
					if u.code != 0 {
						refused(drop, "undo of "+base, u, after)
						u = keyjob(t, nil, applyE2EUndoArgs(srv.URL, "--yes", cp.Journal)...)
					} else {
						t.Logf("without %s: undo of %s works", drop, base)
					}
					wantExit(t, u, 0)
					wantUnchanged(t, "after undo (without "+drop+")", before, managedSnapshot(t, c))
				}
			}
		})
	}
}
