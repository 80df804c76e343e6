package main_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/redis/rueidis"

	"github.com/keyjob/keyjob/internal/redistest"
)

// A run started with --status-addr serves /status and /metrics while it
// lasts: paused by the pause file they say so and who can resume it;
// running they show the counts, the rate limit and the guards; every
// figure scraped is at most the run's final one in its report; the
// target never shows the password. Once the run is over, keyjob status
// prints the report's figures from the state dir.
func TestStatusE2E_LiveRun(t *testing.T) {
	const password = "s3cret-status-pw"
	srv := redistest.Start(t, redistest.Options{})
	c := srv.Client(t)
	applyE2ESeed(t, 3000, c)
	if err := c.Do(context.Background(), c.B().ConfigSet().ParameterValue().ParameterValue("requirepass", password).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	job := writeJob(t, dir, "job.yaml", ticketTTLJob("ticket-ttl-backfill", "  rate: 1000\n  scan_count: 100\n"))
	state := filepath.Join(dir, "state")
	pause := filepath.Join(dir, "pause")
	if err := os.WriteFile(pause, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	url := "redis://:" + password + "@" + srv.Addr

	p := start(t, nil, applyE2EArgs(url, state, "--yes", "--pause-file", pause, "--status-addr", "127.0.0.1:0", job)...)
	addrRE := regexp.MustCompile(`status: http://(127\.0\.0\.1:\d+)/status`)
	var base string
	p.waitFor(t, "the status address on stdout", func() bool {
		m := addrRE.FindStringSubmatch(p.result().stdout)
		if m != nil {
			base = "http://" + m[1]
		}
		return m != nil
	})

	// Paused by the pause file: /status and /metrics say so.
	var st statusJSON
	p.waitFor(t, "/status to say paused", func() bool {
		st = getStatus(t, base)
		return st.State == "paused"
	})
	if st.Paused == nil || st.Paused.By != "pause-file" || !strings.Contains(st.Paused.Resume, pause) {
		t.Errorf("paused by the pause file, /status says %+v", st.Paused)
	}
	if st.Job != "ticket-ttl-backfill" || st.Target != srv.Addr+"/0" || st.Command != "apply" || !st.Live {
		t.Errorf("/status names job %q target %q command %q live %t; want ticket-ttl-backfill, %s/0, apply, live", st.Job, st.Target, st.Command, st.Live, srv.Addr)
	}
	mf := getMetrics(t, base)
	wantMetric(t, mf, "keyjob_paused", nil, 1)
	wantMetric(t, mf, "keyjob_pause_info", map[string]string{"by": "pause-file"}, 1)
	wantMetric(t, mf, "keyjob_run_info", map[string]string{"command": "apply", "job": "ticket-ttl-backfill", "target": srv.Addr + "/0"}, 1)

	if err := os.Remove(pause); err != nil {
		t.Fatal(err)
	}
	p.waitFor(t, "/status to show changes", func() bool {
		st = getStatus(t, base)
		return st.State == "running" && st.Outcomes["change"] > 0
	})
	mf = getMetrics(t, base)
	wantMetric(t, mf, "keyjob_paused", nil, 0)
	wantMetric(t, mf, "keyjob_rate_limit_changes_per_second", nil, 1000)
	wantMetric(t, mf, "keyjob_guard_state", map[string]string{"guard": "memory", "node": srv.Addr, "state": "blind"}, 1)
	wantMetric(t, mf, "keyjob_guard_state", map[string]string{"guard": "fork", "node": srv.Addr, "state": "ok"}, 1)
	if v := metricValue(t, mf, "keyjob_guard_pause_level", map[string]string{"guard": "latency", "node": srv.Addr}); v <= 0 {
		t.Errorf("keyjob_guard_pause_level{guard=latency} = %v, want the level in seconds", v)
	}
	scanned := metricValue(t, mf, "keyjob_keys_scanned_total", nil)
	changed := metricValue(t, mf, "keyjob_keys_total", map[string]string{"outcome": "change"})
	if scanned <= 0 || changed <= 0 {
		t.Errorf("mid-run scrape: scanned %v, changed %v; want both above 0", scanned, changed)
	}
	if len(st.Guards) == 0 || st.GuardLine == "" {
		t.Errorf("/status has no guards: %+v", st)
	}
	body := getBody(t, base+"/status") + getBody(t, base+"/metrics")
	// The README's check, with curl itself where the machine has it.
	if curl, err := exec.LookPath("curl"); err == nil {
		out, err := exec.Command(curl, "-sf", base+"/metrics").Output()
		if err != nil || !strings.Contains(string(out), `keyjob_keys_total{outcome="change"}`) {
			t.Errorf("curl %s/metrics: %v\n%s", base, err, out)
		}
		body += string(out)
	} else {
		t.Logf("no curl on the PATH: /metrics read with Go's client only")
	}
	if strings.Contains(body, password) {
		t.Errorf("the status shows the password")
	}

	r := p.wait(t)
	wantExit(t, r, 0)
	rep := onlyReport(t, state, "ticket-ttl-backfill")
	if scanned > float64(rep.Scanned) || changed > float64(rep.Outcomes.Change) {
		t.Errorf("mid-run scrape scanned %v changed %v, beyond the report's %d and %d", scanned, changed, rep.Scanned, rep.Outcomes.Change)
	}
	if st.Scanned > rep.Scanned {
		t.Errorf("/status scanned %d beyond the report's %d", st.Scanned, rep.Scanned)
	}

	// From the state dir, the report's figures exactly.
	r = keyjob(t, nil, "status", "--format", "json", state, "ticket-ttl-backfill")
	wantExit(t, r, 0)
	var after statusJSON
	stdoutJSON(t, r, &after)
	if after.Live || after.State != "completed" || after.Scanned != rep.Scanned || after.Outcomes["change"] != rep.Outcomes.Change {
		t.Errorf("keyjob status: live %t state %q scanned %d change %d; the report says scanned %d change %d\n%s",
			after.Live, after.State, after.Scanned, after.Outcomes["change"], rep.Scanned, rep.Outcomes.Change, r)
	}
	for k, v := range rep.Outcomes.Skip {
		if after.Outcomes[k] != v {
			t.Errorf("keyjob status: %s %d, the report says %d", k, after.Outcomes[k], v)
		}
	}
	r = keyjob(t, nil, "status", state)
	wantExit(t, r, 0)
	if !strings.Contains(r.stdout, "completed") || !strings.Contains(r.stdout, "ticket-ttl-backfill") {
		t.Errorf("keyjob status (text) does not say the run completed\n%s", r)
	}

	// undo serves its status too.
	r = keyjob(t, nil, "undo", "--redis", url, "--yes", "--progress", "none", "--status-addr", "127.0.0.1:0", rep.Journal)
	wantExit(t, r, 0)
	if !addrRE.MatchString(r.stdout) || strings.Contains(r.stdout+r.stderr, password) {
		t.Errorf("undo --status-addr: no status address, or the password shows\n%s", r)
	}
}

// --status-addr without a host would listen on every interface: refused
// before anything runs.
func TestStatusE2E_RefusesAddrWithoutHost(t *testing.T) {
	job := writeJob(t, t.TempDir(), "job.yaml", applyE2ETicketJob)
	r := keyjob(t, nil, "apply", "--redis", "redis://127.0.0.1:1", "--yes", "--status-addr", ":9090", job)
	wantExit(t, r, 4)
	if !strings.Contains(r.stderr, "127.0.0.1:9090") || !strings.Contains(r.stderr, "0.0.0.0:9090") {
		t.Errorf("the refusal does not say what to give instead\n%s", r)
	}
}

// statusJSON is the part of /status (and keyjob status --format json)
// the tests read: the contract, not the command's own type.
type statusJSON struct {
	Command  string           `json:"command"`
	Job      string           `json:"job"`
	Target   string           `json:"target"`
	Live     bool             `json:"live"`
	State    string           `json:"state"`
	Scanned  int64            `json:"scanned"`
	Outcomes map[string]int64 `json:"outcomes"`
	Paused   *struct {
		By     string `json:"by"`
		Guard  string `json:"guard"`
		Reason string `json:"reason"`
		Resume string `json:"resume"`
	} `json:"paused"`
	GuardLine string            `json:"guard_line"`
	Guards    []json.RawMessage `json:"guards"`
}

func getBody(t *testing.T, url string) string {
	t.Helper()
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v\n%s", url, resp.Status, err, b)
	}
	return string(b)
}

func getStatus(t *testing.T, base string) statusJSON {
	t.Helper()
	var d statusJSON
	if err := json.Unmarshal([]byte(getBody(t, base+"/status")), &d); err != nil {
		t.Fatalf("/status is not JSON: %v", err)
	}
	return d
}

// getMetrics scrapes /metrics and parses it as Prometheus' text format.
func getMetrics(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mf, err := parser.TextToMetricFamilies(strings.NewReader(getBody(t, base+"/metrics")))
	if err != nil {
		t.Fatalf("/metrics is not Prometheus' text format: %v", err)
	}
	return mf
}

// metricValue is the value of the series of name whose labels include
// labels; the test fails when there is none.
func metricValue(t *testing.T, mf map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	f, ok := mf[name]
	if !ok {
		t.Fatalf("no metric %s", name)
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		}
		return m.GetUntyped().GetValue()
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

func wantMetric(t *testing.T, mf map[string]*dto.MetricFamily, name string, labels map[string]string, want float64) {
	t.Helper()
	if got := metricValue(t, mf, name, labels); got != want {
		t.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
}

// A guard's pause shows on /status (by the guard, which one, why, that it
// resumes by itself) and /metrics: the memory guard, made to pause by a
// maxmemory set under the usage mid-run, then lifted.
func TestStatusE2E_GuardPause(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	c := srv.Client(t)
	applyE2ESeed(t, 10000, c)
	dir := t.TempDir()
	job := writeJob(t, dir, "job.yaml", ticketTTLJob("ticket-ttl-backfill", "  rate: 1000\n  scan_count: 100\n"))
	state := filepath.Join(dir, "state")
	p := start(t, nil, applyE2EArgs(srv.URL, state, "--yes", "--status-addr", "127.0.0.1:0", job)...)
	base := statusBase(t, p)
	p.waitFor(t, "changes", func() bool { return getStatus(t, base).Outcomes["change"] > 0 })

	used := usedMemory(t, c)
	limit := int64(float64(used) / 0.915) // above the pause level (90%), under the abort (95%)
	configSet(t, c, "maxmemory", strconv.FormatInt(limit, 10))
	var st statusJSON
	p.waitFor(t, "/status to say the memory guard paused", func() bool {
		st = getStatus(t, base)
		return st.Paused != nil && st.Paused.By == "guard"
	})
	if st.State != "paused" || st.Paused.Guard != "memory" || !strings.Contains(st.Paused.Resume, "by itself") || st.Paused.Reason == "" {
		t.Errorf("/status while the memory guard pauses: state %q, paused %+v", st.State, st.Paused)
	}
	mf := getMetrics(t, base)
	wantMetric(t, mf, "keyjob_paused", nil, 1)
	wantMetric(t, mf, "keyjob_pause_info", map[string]string{"by": "guard", "guard": "memory"}, 1)
	wantMetric(t, mf, "keyjob_guard_state", map[string]string{"guard": "memory", "node": srv.Addr, "state": "pause"}, 1)
	share := metricValue(t, mf, "keyjob_guard_value", map[string]string{"guard": "memory", "node": srv.Addr, "unit": "ratio"})
	pauseAt := metricValue(t, mf, "keyjob_guard_pause_level", map[string]string{"guard": "memory", "node": srv.Addr})
	abortAt := metricValue(t, mf, "keyjob_guard_abort_level", map[string]string{"guard": "memory", "node": srv.Addr})
	if share < pauseAt || share >= abortAt || pauseAt != 0.9 || abortAt != 0.95 {
		t.Errorf("memory guard: value %v, pause level %v, abort level %v; want 0.9 <= value < 0.95", share, pauseAt, abortAt)
	}

	// keyjob status asks the live run while it lasts.
	r := keyjob(t, nil, "status", "--format", "json", state, "ticket-ttl-backfill")
	wantExit(t, r, 0)
	var live statusJSON
	stdoutJSON(t, r, &live)
	if !live.Live || live.State != "paused" || live.Paused == nil || live.Paused.Guard != "memory" {
		t.Errorf("keyjob status during the pause: live %t, state %q, paused %+v; want the live run's pause\n%s", live.Live, live.State, live.Paused, r)
	}
	r = keyjob(t, nil, "status", state)
	if wantExit(t, r, 0); !strings.Contains(r.stdout, "paused      by guard") {
		t.Errorf("keyjob status (text) during the pause does not say the guard paused the run\n%s", r)
	}

	configSet(t, c, "maxmemory", "0")
	r = p.wait(t)
	wantExit(t, r, 0)
	if _, err := os.Stat(filepath.Join(state, "ticket-ttl-backfill", "status-addr")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the live run's address is left behind: %v", err)
	}
	if rep := onlyReport(t, state, "ticket-ttl-backfill"); !rep.has("pause memory") || !rep.Completed {
		t.Errorf("the report has no memory pause, or the run did not complete: %v\n%s", rep.events(), r)
	}
}

// On a cluster /metrics and /status have each primary's progress and
// each node's guards.
func TestStatusE2E_ClusterShards(t *testing.T) {
	cl := redistest.StartCluster(t, 3, 0)
	c := cl.Client(t)
	clusterE2ESeed(t, c, time.Now())
	dir := t.TempDir()
	job := writeJob(t, dir, "job.yaml", ticketTTLJob("ticket-ttl-backfill", "  rate: 1000\n  scan_count: 100\n"))
	state := filepath.Join(dir, "state")
	p := start(t, nil, clusterE2EApply(cl.URL, state, "--status-addr", "127.0.0.1:0", job)...)
	base := statusBase(t, p)
	var mf map[string]*dto.MetricFamily
	p.waitFor(t, "three shards on /metrics", func() bool {
		mf = getMetrics(t, base)
		return len(mf["keyjob_shard_keys_scanned_total"].GetMetric()) == 3
	})
	slots := map[string]bool{}
	for _, m := range mf["keyjob_shard_keys_scanned_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "slots" {
				slots[l.GetValue()] = true
			}
		}
	}
	nodes := map[string]bool{}
	for _, m := range mf["keyjob_guard_state"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "node" {
				nodes[l.GetValue()] = true
			}
		}
	}
	if len(slots) != 3 || slots[""] || len(nodes) != 3 {
		t.Errorf("shards' slots %v, guards' nodes %v; want 3 of each", slots, nodes)
	}
	r := p.waitUpTo(t, clusterRunTimeout)
	wantExit(t, r, 0)
	rep := onlyReport(t, state, "ticket-ttl-backfill")
	r = keyjob(t, nil, "status", "--format", "json", state, "ticket-ttl-backfill")
	wantExit(t, r, 0)
	var after struct {
		Scanned int64 `json:"scanned"`
		Shards  []struct {
			Scanned int64 `json:"scanned"`
			Done    bool  `json:"done"`
		} `json:"shards"`
	}
	stdoutJSON(t, r, &after)
	var sum int64
	for _, s := range after.Shards {
		sum += s.Scanned
		if !s.Done {
			t.Errorf("keyjob status: a shard not done after the run: %s", r.stdout)
		}
	}
	if len(after.Shards) != 3 || sum != rep.Scanned || after.Scanned != rep.Scanned {
		t.Errorf("keyjob status: %d shards scanning %d keys, %d in all; the report scanned %d", len(after.Shards), sum, after.Scanned, rep.Scanned)
	}
}

// statusBase waits for the run to print its status address.
func statusBase(t *testing.T, p *proc) string {
	t.Helper()
	addrRE := regexp.MustCompile(`status: http://(127\.0\.0\.1:\d+)/status`)
	var base string
	p.waitFor(t, "the status address on stdout", func() bool {
		if m := addrRE.FindStringSubmatch(p.result().stdout); m != nil {
			base = "http://" + m[1]
		}
		return base != ""
	})
	return base
}

func configSet(t *testing.T, c rueidis.Client, name, value string) {
	t.Helper()
	if err := c.Do(context.Background(), c.B().ConfigSet().ParameterValue().ParameterValue(name, value).Build()).Error(); err != nil {
		t.Fatalf("CONFIG SET %s %s: %v", name, value, err)
	}
}

func usedMemory(t *testing.T, c rueidis.Client) int64 {
	t.Helper()
	info, err := c.Do(context.Background(), c.B().Info().Section("memory").Build()).ToString()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("INFO memory has no used_memory")
	return 0
}
