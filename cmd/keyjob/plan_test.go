package main_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/keyjob/keyjob/internal/redistest"
	"github.com/keyjob/keyjob/internal/seed"
)

// password is the server's password in the credential tests; it must
// never show in anything keyjob prints or writes.
const password = "s3cret-PW"

// planReport is the part of plan --format json that docs/cli.md makes a
// contract.
type planReport struct {
	FormatVersion *int `json:"format_version"`
	Job           struct {
		Name   string `json:"name"`
		SHA256 string `json:"sha256"`
	} `json:"job"`
	Target struct {
		Address      string `json:"address"`
		DB           *int   `json:"db"`
		Mode         string `json:"mode"`
		RedisVersion string `json:"redis_version"`
	} `json:"target"`
	DBSize  *int64 `json:"dbsize"`
	Scanned *int64 `json:"scanned"`
	Sample  *struct {
		Requested int64   `json:"requested"`
		Fraction  float64 `json:"fraction"`
		Margin    float64 `json:"margin"`
	} `json:"sample"`
	Outcomes struct {
		Change *int64           `json:"change"`
		Skip   map[string]int64 `json:"skip"`
	} `json:"outcomes"`
	Estimates map[string]json.RawMessage `json:"estimates"`
	Samples   map[string][]struct {
		Key string `json:"key"`
		Why string `json:"why"`
	} `json:"samples"`
	Warnings []message `json:"warnings"`
	Errors   []message `json:"errors"`
}

type message struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (p planReport) errorCodes() []string {
	var out []string
	for _, e := range p.Errors {
		out = append(out, e.Code)
	}
	return out
}

// decodePlan reads a JSON report and checks that every contract field is
// there, of the right type.
func decodePlan(t *testing.T, out string) planReport {
	t.Helper()
	var p planReport
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("the report is not JSON: %v\n%s", err, out)
	}
	var missing []string
	check := func(ok bool, field string) {
		if !ok {
			missing = append(missing, field)
		}
	}
	check(p.FormatVersion != nil && *p.FormatVersion == 3, "format_version: 3")
	check(p.Job.Name != "", "job.name")
	check(len(p.Job.SHA256) == 64, "job.sha256")
	check(p.Target.Address != "", "target.address")
	check(p.Target.DB != nil, "target.db")
	check(p.Target.Mode == "standalone", "target.mode: standalone")
	check(p.Target.RedisVersion != "", "target.redis_version")
	check(p.DBSize != nil, "dbsize")
	check(p.Scanned != nil, "scanned")
	check(p.Outcomes.Change != nil, "outcomes.change")
	for _, b := range []string{"regex", "ttl", "idle", "bad_timestamp", "too_big_to_backup"} {
		_, ok := p.Outcomes.Skip[b]
		check(ok, "outcomes.skip."+b)
	}
	for _, e := range []string{"aof_bytes", "memory_freed_bytes", "duration_seconds"} {
		_, ok := p.Estimates[e]
		check(ok, "estimates."+e)
	}
	check(p.Warnings != nil, "warnings (a list)")
	check(p.Errors != nil, "errors (a list)")
	if len(missing) > 0 {
		t.Fatalf("the JSON report lacks %s\n%s", strings.Join(missing, ", "), out)
	}
	return p
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// storyServer starts a server with the ticket story's keyspace.
func storyServer(t *testing.T, tickets int, opts redistest.Options) (*redistest.Server, rueidis.Client, seed.StoryStats) {
	t.Helper()
	srv := redistest.Start(t, opts)
	c := srv.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := seed.Story(ctx, c, tickets)
	if err != nil {
		t.Fatal(err)
	}
	return srv, c, st
}

// TestCLI_Plan runs keyjob plan as a user would, in every format and with
// every output flag, against the ticket story.
func TestCLI_Plan(t *testing.T) {
	t.Parallel()
	srv, _, st := storyServer(t, 500, redistest.Options{})
	ticket := example("ticket-ttl-backfill.yaml")
	redis := "--redis=" + srv.URL

	t.Run("JSON", func(t *testing.T) {
		r := keyjob(t, nil, "plan", redis, "--format", "json", ticket)
		wantExit(t, r, 0)
		p := decodePlan(t, r.stdout)
		if got, want := p.Job.Name, "ticket-ttl-backfill"; got != want {
			t.Errorf("job.name = %q, want %q", got, want)
		}
		if got, want := p.Job.SHA256, fileSHA256(t, ticket); got != want {
			t.Errorf("job.sha256 = %s, want the file's %s", got, want)
		}
		if got, want := p.Target.Address, srv.Addr; got != want {
			t.Errorf("target.address = %q, want %q", got, want)
		}
		if got := *p.Target.DB; got != 0 {
			t.Errorf("target.db = %d, want 0", got)
		}
		if got, want := *p.DBSize, int64(st.Keys()); got != want {
			t.Errorf("dbsize = %d, want %d", got, want)
		}
		if got, want := *p.Scanned, int64(st.Tickets.Total()); got != want {
			t.Errorf("scanned = %d, want %d", got, want)
		}
		if got, want := *p.Outcomes.Change, int64(st.Tickets.WithoutTTL); got != want {
			t.Errorf("outcomes.change = %d, want %d", got, want)
		}
		if got, want := p.Outcomes.Skip["ttl"], int64(st.Tickets.WithTTL); got != want {
			t.Errorf("outcomes.skip.ttl = %d, want %d", got, want)
		}
		if len(p.Errors) > 0 || p.Sample != nil {
			t.Errorf("errors %+v, sample %+v; want neither", p.Errors, p.Sample)
		}
		if r.stderr != "" {
			t.Errorf("stderr = %q, want nothing", r.stderr)
		}
	})

	t.Run("Text", func(t *testing.T) {
		r := keyjob(t, nil, "plan", redis, ticket)
		wantExit(t, r, 0)
		first, _, _ := strings.Cut(r.stdout, "\n")
		want := fmt.Sprintf("keyjob plan ticket-ttl-backfill → %s/0: %d keys will get a TTL", srv.Addr, st.Tickets.WithoutTTL)
		if !strings.HasPrefix(first, want) {
			t.Errorf("first line = %q, want it to start with %q", first, want)
		}
	})

	t.Run("Markdown", func(t *testing.T) {
		r := keyjob(t, nil, "plan", redis, "--format", "markdown", ticket)
		wantExit(t, r, 0)
		want := fmt.Sprintf("### keyjob plan: `ticket-ttl-backfill` — %d keys will get a TTL", st.Tickets.WithoutTTL)
		if first, _, _ := strings.Cut(r.stdout, "\n"); !strings.HasPrefix(first, want) {
			t.Errorf("first line = %q, want it to start with %q", first, want)
		}
	})

	t.Run("FlagsAfterJobFile", func(t *testing.T) {
		r := keyjob(t, nil, "plan", ticket, "--format", "json", "--redis", srv.URL, "--scan-rate", "unlimited")
		wantExit(t, r, 0)
		if got, want := *decodePlan(t, r.stdout).Scanned, int64(st.Tickets.Total()); got != want {
			t.Errorf("scanned = %d, want %d", got, want)
		}
	})

	t.Run("RedisURLFromEnv", func(t *testing.T) {
		r := keyjob(t, []string{"REDIS_URL=" + srv.URL}, "plan", ticket, "--format=json")
		wantExit(t, r, 0)
		if got, want := decodePlan(t, r.stdout).Target.Address, srv.Addr; got != want {
			t.Errorf("target.address = %q, want %q", got, want)
		}
	})

	t.Run("Out", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "plan.json")
		r := keyjob(t, nil, "plan", ticket, redis, "--format", "json", "--out", out)
		wantExit(t, r, 0)
		if r.stdout != "" {
			t.Errorf("stdout = %q, want nothing: the report goes to --out", r.stdout)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := *decodePlan(t, string(b)).Outcomes.Change, int64(st.Tickets.WithoutTTL); got != want {
			t.Errorf("change in --out = %d, want %d", got, want)
		}
		if left, _ := filepath.Glob(out + ".*"); len(left) > 0 {
			t.Errorf("temp files left beside the report: %v", left)
		}
	})

	t.Run("DetailedExitcode", func(t *testing.T) {
		nothing := writeJob(t, t.TempDir(), "nothing.yaml", `
version: 1
name: nothing
select:
  match: "nosuchprefix:*"
action:
  expire:
    ttl: 1d
`)
		tests := []struct {
			name, job string
			want      int
		}{
			{"Changes", ticket, 2},
			// Every session has a TTL already.
			{"AllSkipped", example("sessions-fixed-ttl.yaml"), 0},
			{"NoKeys", nothing, 0},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := keyjob(t, nil, "plan", tt.job, redis, "--format", "json", "--detailed-exitcode")
				wantExit(t, r, tt.want)
				p := decodePlan(t, r.stdout) // the report is printed whatever the code
				if changes := *p.Outcomes.Change > 0; changes != (tt.want == 2) {
					t.Errorf("exit %d with %d changes", r.code, *p.Outcomes.Change)
				}
			})
		}
	})

	t.Run("Sample", func(t *testing.T) {
		r := keyjob(t, nil, "plan", ticket, redis, "--format", "json", "--sample", "100")
		wantExit(t, r, 0)
		p := decodePlan(t, r.stdout)
		if p.Sample == nil || p.Sample.Requested != 100 || p.Sample.Fraction <= 0 || p.Sample.Fraction > 1 {
			t.Errorf("sample = %+v, want requested 100 and a fraction in (0, 1]", p.Sample)
		}
		text := keyjob(t, nil, "plan", ticket, redis, "--sample", "100")
		wantExit(t, text, 0)
		if !strings.Contains(text.stdout, "estimate") {
			t.Errorf("a sampled text report does not say it is an estimate:\n%s", text.stdout)
		}
	})

	t.Run("UsageErrors", func(t *testing.T) {
		tests := []struct {
			name string
			args []string
			want string
		}{
			{"UnknownFormat", []string{"plan", ticket, redis, "--format", "xml"}, "--format"},
			{"MissingJobFile", []string{"plan", filepath.Join(t.TempDir(), "nope.yaml"), redis}, "nope.yaml"},
			{"NoJobFile", []string{"plan", redis}, "one job file"},
			{"TwoJobFiles", []string{"plan", ticket, ticket, redis}, "one job file"},
			{"UnknownFlag", []string{"plan", ticket, redis, "--colour"}, "colour"},
			{"BadSample", []string{"plan", ticket, redis, "--sample", "many"}, "sample"},
			{"BadScanRate", []string{"plan", ticket, redis, "--scan-rate", "fast"}, ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := keyjob(t, nil, tt.args...)
				wantExit(t, r, 4)
				if !strings.Contains(r.stderr, tt.want) {
					t.Errorf("stderr does not mention %q:\n%s", tt.want, r.stderr)
				}
				if r.stdout != "" && !strings.Contains(r.stdout, "USAGE") {
					t.Errorf("a usage error printed a report:\n%s", r.stdout)
				}
			})
		}
	})
}

// TestCLI_PlanReadOnly is docs/safety.md's first promise for the binary: a plan
// in every format changes no key, value, expiry or LRU clock.
func TestCLI_PlanReadOnly(t *testing.T) {
	t.Parallel()
	srv, c, _ := storyServer(t, 500, redistest.Options{})
	ctx := context.Background()
	if err := c.Do(ctx, c.B().Set().Key("zz:last").Value("v").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	if err := redistest.WaitIdle(ctx, c, "zz:last", 2); err != nil {
		t.Fatal(err)
	}
	before, err := redistest.ReadState(ctx, c, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, job := range []string{"ticket-ttl-backfill.yaml", "drop-deal-clicks.yaml", "sessions-fixed-ttl.yaml"} {
		for _, format := range []string{"text", "markdown", "json"} {
			wantExit(t, keyjob(t, nil, "plan", example(job), "--redis", srv.URL, "--format", format), 0)
		}
	}
	after, err := redistest.ReadState(ctx, c, true)
	if err != nil {
		t.Fatal(err)
	}
	if got := before.Touched(after); len(got) > 0 {
		t.Errorf("keyjob plan changed the server:\n%s", strings.Join(got, "\n"))
	}
}

// TestCLI_PlanErrors: a plan with errors exits 1 but still prints its
// report; a plan that cannot be made prints one line that says why.
func TestCLI_PlanErrors(t *testing.T) {
	t.Parallel()

	t.Run("UnitMistake", func(t *testing.T) {
		t.Parallel()
		srv := redistest.Start(t, redistest.Options{})
		c := srv.Client(t)
		now := time.Now()
		var cmds rueidis.Commands
		var millis []string
		for i := range 40 {
			ms := now.Add(-time.Duration(i+1) * 24 * time.Hour).UnixMilli()
			name := fmt.Sprintf("ticket:%d:%d:Tok%dxyz", ms, i, i)
			millis = append(millis, name)
			cmds = append(cmds, c.B().Set().Key(name).Value("t").Build())
		}
		for i := range 10 {
			s := now.Add(-time.Duration(i+1) * 24 * time.Hour).Unix()
			cmds = append(cmds, c.B().Set().Key(fmt.Sprintf("ticket:%d:%d:Ok%dxyz", s, i, i)).Value("t").Build())
		}
		for _, res := range c.DoMulti(context.Background(), cmds...) {
			if err := res.Error(); err != nil {
				t.Fatal(err)
			}
		}
		job := writeJob(t, t.TempDir(), "ticket-digits.yaml", `
version: 1
name: ticket-digits
select:
  match: "ticket:*"
  regex: '^ticket:(?P<issued>\d+):(?P<customer>\d+):[A-Za-z0-9]+$'
  ttl: none
action:
  expire:
    from: { capture: issued, format: unix }
    after: 365d
`)
		r := keyjob(t, nil, "plan", job, "--redis", srv.URL, "--format", "json", "--detailed-exitcode")
		wantExit(t, r, 1)
		wantOneLineError(t, r, "unit_mistake")
		p := decodePlan(t, r.stdout)
		if got := p.errorCodes(); !slices.Contains(got, "unit_mistake") {
			t.Errorf("errors = %v, want unit_mistake", got)
		}
		if got, want := p.Outcomes.Skip["bad_timestamp"], int64(40); got != want {
			t.Errorf("skip.bad_timestamp = %d, want %d", got, want)
		}
		bad := p.Samples["bad_timestamp"]
		if len(bad) == 0 || len(bad) > 10 {
			t.Errorf("%d bad_timestamp samples, want 1 to 10", len(bad))
		}
		for _, s := range bad {
			if !slices.Contains(millis, s.Key) || s.Why == "" {
				t.Errorf("bad_timestamp sample %q (why %q) is not one of the millisecond keys, or says no why", s.Key, s.Why)
			}
		}

		text := keyjob(t, nil, "plan", job, "--redis", srv.URL)
		wantExit(t, text, 1)
		if !strings.Contains(text.stdout, "keyjob plan ticket-digits") || !strings.Contains(text.stdout, "\nerror: ") || !strings.Contains(text.stdout, "bad_timestamp") {
			t.Errorf("the text report of a plan with errors is not printed in full:\n%s", text.stdout)
		}
	})

	t.Run("MaxChanges", func(t *testing.T) {
		t.Parallel()
		srv, _, st := storyServer(t, 300, redistest.Options{})
		job := writeJob(t, t.TempDir(), "limited.yaml", `
version: 1
name: limited
select:
  match: "deal:clicks:*"
action:
  delete: {}
backup: dump
limits:
  max_changes: 5
`)
		out := filepath.Join(t.TempDir(), "plan.json")
		r := keyjob(t, nil, "plan", job, "--redis", srv.URL, "--format", "json", "--out", out)
		wantExit(t, r, 1)
		wantOneLineError(t, r, "max_changes_exceeded")
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatalf("the report was not written to --out: %v", err)
		}
		p := decodePlan(t, string(b))
		if got := p.errorCodes(); !slices.Contains(got, "max_changes_exceeded") {
			t.Errorf("errors = %v, want max_changes_exceeded", got)
		}
		if got, want := *p.Outcomes.Change, int64(st.DealClicks); got != want {
			t.Errorf("change = %d, want %d", got, want)
		}
	})

	t.Run("IdleUnderLFU", func(t *testing.T) {
		t.Parallel()
		srv, _, _ := storyServer(t, 100, redistest.Options{MaxMemory: "64mb", Policy: "allkeys-lfu"})
		job := writeJob(t, t.TempDir(), "idle.yaml", `
version: 1
name: idle-sessions
select:
  match: "session:*"
  idle: "> 30d"
action:
  delete: {}
backup: dump
`)
		r := keyjob(t, nil, "plan", job, "--redis", srv.URL, "--format", "json")
		wantExit(t, r, 1)
		wantOneLineError(t, r, "LFU", "allkeys-lfu", "select.idle")
		if r.stdout != "" {
			t.Errorf("a plan that could not be made printed a report:\n%s", r.stdout)
		}
		// The same server plans a job without select.idle.
		wantExit(t, keyjob(t, nil, "plan", example("ticket-ttl-backfill.yaml"), "--redis", srv.URL), 0)
	})

	t.Run("ConfigRefused", func(t *testing.T) {
		t.Parallel()
		srv, _, st := storyServer(t, 200, redistest.Options{Args: []string{"--rename-command", "CONFIG", ""}})
		r := keyjob(t, nil, "plan", example("ticket-ttl-backfill.yaml"), "--redis", srv.URL, "--format", "json")
		wantExit(t, r, 0)
		p := decodePlan(t, r.stdout)
		var codes []string
		for _, w := range p.Warnings {
			codes = append(codes, w.Code)
		}
		if !slices.Contains(codes, "config_refused") {
			t.Errorf("warnings = %v, want config_refused", codes)
		}
		if got, want := *p.Scanned, int64(st.Tickets.Total()); got != want {
			t.Errorf("scanned = %d, want %d", got, want)
		}
	})
}

// TestCLI_Unreachable: a target that does not answer is one clear line and
// exit 1, never a hang or a stack trace, and never the password.
func TestCLI_Unreachable(t *testing.T) {
	t.Parallel()
	for _, url := range []string{"redis://127.0.0.1:1", "redis://:" + password + "@127.0.0.1:1/0"} {
		t.Run(strings.ReplaceAll(url, "/", "_"), func(t *testing.T) {
			t.Parallel()
			r := keyjob(t, nil, "plan", example("ticket-ttl-backfill.yaml"), "--redis", url)
			wantExit(t, r, 1)
			wantOneLineError(t, r, "127.0.0.1:1", "unreachable")
			if strings.Contains(r.stdout+r.stderr, password) {
				t.Errorf("the password shows:\n%s", r)
			}
		})
	}
}

// TestCLI_Paused: a server that accepts connections but never answers
// (docker pause: a hung process, a full network buffer) must not hang plan.
func TestCLI_Paused(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Options{})
	ctx := context.Background()
	if err := srv.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Unpause(ctx) })
	r := keyjob(t, nil, "plan", example("ticket-ttl-backfill.yaml"), "--redis", srv.URL)
	wantExit(t, r, 1)
	wantOneLineError(t, r, srv.Addr)
	t.Logf("%s", r.stderr)
}

// TestCLI_Credentials: a server that wants a password. A wrong or missing
// one is exit 1 and a message about credentials; the right one works, and
// the password shows nowhere: stdout, stderr, the report file (docs/safety.md,
// promise 5).
func TestCLI_Credentials(t *testing.T) {
	t.Parallel()
	srv, c, st := storyServer(t, 200, redistest.Options{})
	// Set after the start: the harness's readiness PING has no password.
	if err := c.Do(context.Background(), c.B().ConfigSet().ParameterValue().ParameterValue("requirepass", password).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	ticket := example("ticket-ttl-backfill.yaml")

	for _, tt := range []struct{ name, url string }{
		{"WrongPassword", "redis://:wrong-PW@" + srv.Addr},
		{"WrongUser", "redis://nobody:" + password + "@" + srv.Addr},
		{"NoPassword", "redis://" + srv.Addr},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := keyjob(t, nil, "plan", ticket, "--redis", tt.url)
			wantExit(t, r, 1)
			wantOneLineError(t, r, "credentials", srv.Addr)
			for _, secret := range []string{password, "wrong-PW"} {
				if strings.Contains(r.stdout+r.stderr, secret) {
					t.Errorf("%q shows:\n%s", secret, r)
				}
			}
		})
	}

	url := "redis://:" + password + "@" + srv.Addr + "/0"
	for _, format := range []string{"text", "markdown", "json"} {
		t.Run("RightPassword/"+format, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "plan."+format)
			r := keyjob(t, nil, "plan", ticket, "--redis", url, "--format", format)
			wantExit(t, r, 0)
			rf := keyjob(t, []string{"REDIS_URL=" + url}, "plan", ticket, "--format", format, "--out", out)
			wantExit(t, rf, 0)
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(r.stdout+r.stderr+rf.stdout+rf.stderr+string(b), password) {
				t.Errorf("the password shows in the output or the report:\n%s\n%s\n%s", r, rf, b)
			}
			if format == "json" {
				if got, want := *decodePlan(t, r.stdout).Scanned, int64(st.Tickets.Total()); got != want {
					t.Errorf("scanned = %d, want %d", got, want)
				}
			}
		})
	}
}

// TestCLI_DBConflict: a job file's db: that contradicts the URL's /N is an
// argument error (exit 4) before anything is read; agreeing, or a URL
// without /N, plans that database.
func TestCLI_DBConflict(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Options{})
	job := writeJob(t, t.TempDir(), "db1.yaml", `
version: 1
name: sessions-db1
db: 1
select:
  match: "session:*"
  ttl: none
action:
  expire:
    ttl: 7d
`)
	tests := []struct {
		url    string
		code   int
		wantDB int
	}{
		{srv.URL + "/0", 4, 0},
		{srv.URL + "/3", 4, 0},
		{srv.URL + "/1", 0, 1},
		{srv.URL, 0, 1},
	}
	for _, tt := range tests {
		t.Run(strings.TrimPrefix(strings.TrimPrefix(tt.url, srv.URL), "/")+"_", func(t *testing.T) {
			r := keyjob(t, nil, "plan", job, "--redis", tt.url, "--format", "json")
			wantExit(t, r, tt.code)
			if tt.code != 0 {
				wantOneLineError(t, r, "db 1")
				return
			}
			if got := *decodePlan(t, r.stdout).Target.DB; got != tt.wantDB {
				t.Errorf("target.db = %d, want %d", got, tt.wantDB)
			}
		})
	}
}

// TestCLI_BadRedisURL: a --redis that is not a usable URL is an argument
// error (exit 4), and its password never shows in the message.
func TestCLI_BadRedisURL(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, url string }{
		{"Scheme", "http://:" + password + "@127.0.0.1:6379"},
		{"Port", "redis://:" + password + "@127.0.0.1:notaport"},
		{"Unparsable", "redis://:" + password + "@[::1"},
		{"DB", "redis://:" + password + "@127.0.0.1:6379/x"},
		{"TLSFlagsWithoutRediss", "redis://:" + password + "@127.0.0.1:6379"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := []string{"plan", example("ticket-ttl-backfill.yaml"), "--redis", tt.url}
			if tt.name == "TLSFlagsWithoutRediss" {
				args = append(args, "--tls-insecure-skip-verify")
			}
			r := keyjob(t, nil, args...)
			wantExit(t, r, 4)
			wantOneLineError(t, r)
			if strings.Contains(r.stdout+r.stderr, password) {
				t.Errorf("the password shows:\n%s", r)
			}
		})
	}
}
