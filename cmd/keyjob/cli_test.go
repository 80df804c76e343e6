package main_test

// The command line end to end, as a user runs it, for what needs no
// server: every test runs the binary (e2e_helpers_test.go) and reads its
// exit code, stdout and stderr.

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestCLI_Version(t *testing.T) {
	t.Parallel()
	r := keyjob(t, nil, "version")
	wantExit(t, r, 0)
	if re := regexp.MustCompile(`^keyjob \S+ \(commit \S+, go1\.\d+`); !re.MatchString(r.stdout) {
		t.Errorf("version prints %q, want keyjob VERSION (commit C, goX)", r.stdout)
	}
}

func TestCLI_Schema(t *testing.T) {
	t.Parallel()
	r := keyjob(t, nil, "schema")
	wantExit(t, r, 0)
	var schema struct {
		Schema     string                     `json:"$schema"`
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &schema); err != nil {
		t.Fatalf("schema is not JSON: %v\n%s", err, r.stdout)
	}
	if !strings.Contains(schema.Schema, "json-schema.org") {
		t.Errorf("$schema = %q, want a JSON Schema dialect", schema.Schema)
	}
	for _, field := range []string{"version", "name", "db", "select", "members", "action", "backup", "limits", "guards"} {
		if _, ok := schema.Properties[field]; !ok {
			t.Errorf("schema has no property %q", field)
		}
	}
}

func TestCLI_Validate(t *testing.T) {
	t.Parallel()
	examples, err := filepath.Glob(filepath.Join(root, "examples", "*.yaml"))
	if err != nil || len(examples) == 0 {
		t.Fatalf("no examples: %v", err)
	}

	t.Run("Examples", func(t *testing.T) {
		r := keyjob(t, nil, append([]string{"validate"}, examples...)...)
		wantExit(t, r, 0)
		for _, f := range examples {
			if !strings.Contains(r.stdout, "ok "+f+" (") {
				t.Errorf("stdout does not say %s is ok:\n%s", f, r.stdout)
			}
		}
		if r.stderr != "" {
			t.Errorf("stderr = %q, want nothing", r.stderr)
		}
	})

	bad := []struct {
		name, content string
		want          string // FILE is replaced by the file's path
	}{
		{"unknown-field.yaml", `
version: 1
name: bad-unknown
select:
  match: "a:*"
  colour: red
action:
  delete: {}
backup: none
`, "FILE:5:3: select.colour: unknown field"},
		{"bad-duration.yaml", `
version: 1
name: bad-duration
select:
  match: "ticket:*"
  regex: '^ticket:(?P<issued>\d+)$'
action:
  expire:
    from: { capture: issued, format: unix }
    after: 1 year
`, `FILE:9:12: action.expire.after: want a duration such as 365d or 1h30m, got "1 year"`},
		{"bad-regex.yaml", `
version: 1
name: bad-regex
select:
  match: "ticket:*"
  regex: '^ticket:(?P<issued>\d+$'
action:
  persist: {}
`, "FILE:5:10: select.regex: want an RE2 regular expression"},
		{"whole-keyspace.yaml", `
version: 1
name: bad-all
select:
  match: "*"
action:
  delete: {}
backup: none
`, "FILE:4:10: select.match: want a glob narrower than the whole keyspace"},
		{"delete-without-backup.yaml", `
version: 1
name: bad-delete
select:
  match: "a:*"
action:
  delete: {}
`, "FILE:6:11: backup: want dump or none with a delete job"},
		{"bad-type.yaml", `
version: 1
name: bad-type
select:
  match: "a:*"
  type: json
action:
  persist: {}
`, `FILE:5:9: select.type: want one of string, hash, list, set, zset, stream, got "json"`},
	}
	for _, tt := range bad {
		t.Run(strings.TrimSuffix(tt.name, ".yaml"), func(t *testing.T) {
			path := writeJob(t, t.TempDir(), tt.name, tt.content)
			r := keyjob(t, nil, "validate", path)
			wantExit(t, r, 4)
			if want := strings.ReplaceAll(tt.want, "FILE", path); !strings.Contains(r.stderr, want) {
				t.Errorf("stderr does not hold %q:\n%s", want, r.stderr)
			}
			if !strings.HasSuffix(r.stderr, "keyjob: 1 of 1 job files are invalid\n") {
				t.Errorf("stderr does not end with the count of invalid files:\n%s", r.stderr)
			}
		})
	}

	t.Run("GoodAndBad", func(t *testing.T) {
		badPath := writeJob(t, t.TempDir(), bad[0].name, bad[0].content)
		r := keyjob(t, nil, "validate", examples[0], badPath)
		wantExit(t, r, 4)
		if !strings.Contains(r.stdout, "ok "+examples[0]) {
			t.Errorf("the good file is not reported ok:\n%s", r)
		}
		if !regexp.MustCompile(regexp.QuoteMeta(badPath) + `:\d+:\d+: `).MatchString(r.stderr) {
			t.Errorf("stderr does not name %s:LINE:COL:\n%s", badPath, r.stderr)
		}
	})

	t.Run("Missing", func(t *testing.T) {
		r := keyjob(t, nil, "validate", filepath.Join(t.TempDir(), "nope.yaml"))
		wantExit(t, r, 4)
		if !strings.Contains(r.stderr, "nope.yaml") {
			t.Errorf("stderr does not name the missing file:\n%s", r.stderr)
		}
	})

	t.Run("NoFiles", func(t *testing.T) {
		wantExit(t, keyjob(t, nil, "validate"), 4)
	})

	t.Run("NoServerNeeded", func(t *testing.T) {
		// validate never dials, even with a target that cannot answer.
		r := keyjob(t, []string{"REDIS_URL=redis://127.0.0.1:1"}, "validate", examples[0])
		wantExit(t, r, 0)
	})
}

// TestCLI_ExitCodes: the exit codes of docs/cli.md that need no server. Every
// failure also ends with one line on stderr that says why.
func TestCLI_ExitCodes(t *testing.T) {
	t.Parallel()
	ticket := example("ticket-ttl-backfill.yaml")
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"Version", []string{"version"}, 0},
		{"Schema", []string{"schema"}, 0},
		{"NoArguments", nil, 0},
		{"Help", []string{"help"}, 0},
		{"HelpPlan", []string{"help", "plan"}, 0},
		{"PlanHelpFlag", []string{"plan", "--help"}, 0},
		{"ValidateGood", []string{"validate", ticket}, 0},
		{"UnknownCommand", []string{"nosuch"}, 4},
		{"HelpUnknownCommand", []string{"help", "nosuch"}, 4},
		{"UnknownAppFlag", []string{"--nosuch"}, 4},
		{"UnknownPlanFlag", []string{"plan", ticket, "--nosuch"}, 4},
		{"NegativeSample", []string{"plan", ticket, "--sample", "-5", "--redis", "redis://127.0.0.1:1"}, 4},
		{"ValidateNothing", []string{"validate"}, 4},
		{"PlanUnreachable", []string{"plan", ticket, "--redis", "redis://127.0.0.1:1"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := keyjob(t, nil, tt.args...)
			wantExit(t, r, tt.code)
			if tt.code != 0 {
				wantOneLineError(t, r)
			}
		})
	}
}
