package main_test

// The command line end to end, as a user runs it: TestMain builds the
// binary once, and every test runs it with os/exec and reads its exit
// code, stdout and stderr. Tests that need a server start real Redis
// (internal/redistest).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var (
	// bin is the keyjob binary TestMain builds.
	bin string
	// root is the module's root folder.
	root string
)

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	var err error
	if root, err = moduleRoot(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	dir, err := os.MkdirTemp("", "keyjob-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin = filepath.Join(dir, "keyjob")
	build := exec.Command("go", "build", "-o", bin, "./cmd/keyjob")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build ./cmd/keyjob: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// moduleRoot walks up from the test's folder to the one holding go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the test's folder")
		}
		dir = parent
	}
}

// result is what one run of the binary gave.
type result struct {
	code           int
	stdout, stderr string
	args           []string
}

func (r result) String() string {
	return fmt.Sprintf("keyjob %s: exit %d\n--- stdout:\n%s--- stderr:\n%s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// runTimeout bounds every run: a command that hangs (an unreachable server
// never given up on) fails the test instead of the suite's timeout.
const runTimeout = 60 * time.Second

// keyjob runs the binary with args, without a terminal and without
// $REDIS_URL unless env sets it.
func keyjob(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = t.TempDir()
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "REDIS_URL=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String(), args: args}
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("keyjob %s did not end within %v\n%s", strings.Join(args, " "), runTimeout, r)
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("run keyjob: %v", err)
	}
	return r
}

// wantExit fails the test when r did not exit with code.
func wantExit(t *testing.T, r result, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\n%s", r.code, code, r)
	}
}

// wantOneLineError checks the stderr of a failed run: one line that starts
// with "keyjob: " and says why, no stack trace, and each of want in it.
func wantOneLineError(t *testing.T, r result, want ...string) {
	t.Helper()
	msg := strings.TrimRight(r.stderr, "\n")
	if msg == "" || strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "keyjob: ") {
		t.Errorf("stderr = %q, want one line starting with \"keyjob: \"", r.stderr)
	}
	for _, bad := range []string{"goroutine ", "panic", ".go:"} {
		if strings.Contains(r.stderr, bad) {
			t.Errorf("stderr holds %q, a stack trace or source position:\n%s", bad, r.stderr)
		}
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("stderr %q does not mention %q", msg, w)
		}
	}
}

// example is the path of examples/NAME.
func example(name string) string { return filepath.Join(root, "examples", name) }

// writeFile writes a file in a fresh temp folder and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(strings.TrimLeft(content, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

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
	for _, field := range []string{"version", "name", "db", "select", "action", "backup", "limits", "guards"} {
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
			path := writeFile(t, tt.name, tt.content)
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
		badPath := writeFile(t, bad[0].name, bad[0].content)
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

// TestCLI_ExitCodes: the exit codes of cli.md that need no server. Every
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
