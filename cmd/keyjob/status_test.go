package main

// The status server's handler and the address check, without a server:
// the end-to-end test (status_e2e_test.go) scrapes a real run.

import (
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/keyjob/keyjob/apply"
)

func TestCheckStatusAddr(t *testing.T) {
	for _, c := range []struct {
		addr string
		ok   bool
	}{
		{"", true},
		{"127.0.0.1:9090", true},
		{"localhost:9090", true},
		{"[::1]:9090", true},
		{"0.0.0.0:9090", true},
		{":9090", false},
		{"9090", false},
		{"127.0.0.1", false},
	} {
		err := checkStatusAddr(c.addr)
		if (err == nil) != c.ok {
			t.Errorf("checkStatusAddr(%q) = %v, want ok %t", c.addr, err, c.ok)
		}
		if err != nil && exitCode(err, nil) != exitUsage {
			t.Errorf("checkStatusAddr(%q): exit %d, want %d", c.addr, exitCode(err, nil), exitUsage)
		}
	}
}

// serve is the handler of a status fed with one progress.
func serve(t *testing.T, p apply.Progress) (status map[string]any, metrics string) {
	t.Helper()
	s := &liveStatus{head: statusDoc{Command: "apply", Job: "orders-ttl", Target: "10.0.0.1:6379/0", Mode: "cluster", Live: true}}
	// Two snapshots 2 s apart: 2,000 keys/s.
	first := p
	first.Scanned, first.Elapsed = p.Scanned-4000, p.Elapsed-2*time.Second
	s.update(first)
	s.update(p)
	srv := httptest.NewServer(s.handler())
	defer srv.Close()
	get := func(path string) string {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", path, resp.Status)
		}
		return string(b)
	}
	if err := json.Unmarshal([]byte(get("/status")), &status); err != nil {
		t.Fatalf("/status: %v", err)
	}
	return status, get("/metrics")
}

func TestStatusHandler_Running(t *testing.T) {
	p := apply.Progress{
		Scanned: 10000, Expected: 50000, Changed: 6000,
		Skips: map[string]int64{"ttl": 3000, "regex": 1000}, Rate: 500, Elapsed: 10 * time.Second,
		Nodes: []apply.NodeProgress{{Addr: "10.0.0.1:6379", Slots: "0-8191", Scanned: 6000}, {Addr: "10.0.0.2:6379", Slots: "8192-16383", Scanned: 4000, Done: true}},
	}
	st, metrics := serve(t, p)
	if st["state"] != "running" || st["job"] != "orders-ttl" || st["target"] != "10.0.0.1:6379/0" || st["paused"] != nil {
		t.Errorf("/status: %v", st)
	}
	if st["keys_per_second"] != 2000.0 || st["eta_seconds"] != 20.0 || st["rate_limit"] != 500.0 {
		t.Errorf("/status rate %v eta %v limit %v; want 2000, 20, 500", st["keys_per_second"], st["eta_seconds"], st["rate_limit"])
	}
	if o := st["outcomes"].(map[string]any); o["change"] != 6000.0 || o["ttl"] != 3000.0 || o["regex"] != 1000.0 {
		t.Errorf("/status outcomes %v", o)
	}
	if sh := st["shards"].([]any); len(sh) != 2 {
		t.Errorf("/status shards %v, want 2", sh)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mf, err := parser.TextToMetricFamilies(strings.NewReader(metrics))
	if err != nil {
		t.Fatalf("/metrics: %v\n%s", err, metrics)
	}
	for _, line := range []string{
		`keyjob_keys_scanned_total 10000`,
		`keyjob_keys_expected 50000`,
		`keyjob_keys_total{outcome="change"} 6000`,
		`keyjob_keys_total{outcome="ttl"} 3000`,
		`keyjob_scan_keys_per_second 2000`,
		`keyjob_rate_limit_changes_per_second 500`,
		`keyjob_eta_seconds 20`,
		`keyjob_paused 0`,
		`keyjob_finished 0`,
		`keyjob_run_info{command="apply",job="orders-ttl",target="10.0.0.1:6379/0"} 1`,
		`keyjob_shard_keys_scanned_total{node="10.0.0.1:6379",slots="0-8191"} 6000`,
		`keyjob_shard_done{node="10.0.0.2:6379",slots="8192-16383"} 1`,
	} {
		if !strings.Contains(metrics, line+"\n") {
			t.Errorf("/metrics has no line %s", line)
		}
	}
	if mf["keyjob_keys_total"].GetType().String() != "COUNTER" || mf["keyjob_paused"].GetType().String() != "GAUGE" {
		t.Errorf("types: keyjob_keys_total %s, keyjob_paused %s", mf["keyjob_keys_total"].GetType(), mf["keyjob_paused"].GetType())
	}
	if _, ok := mf["go_goroutines"]; !ok {
		t.Errorf("/metrics has no Go runtime metrics")
	}
}

// Paused by the operator or the pause file, the status says who, why and
// how to resume; unlimited, the rate limit is +Inf.
func TestStatusHandler_Paused(t *testing.T) {
	for _, c := range []struct{ reason, by, resume string }{
		{"paused by the operator (p)", "operator", "press p"},
		{"pause file /run/keyjob/pause exists", "pause-file", "remove /run/keyjob/pause"},
	} {
		st, metrics := serve(t, apply.Progress{Scanned: 5000, Rate: math.Inf(1), Elapsed: 5 * time.Second, Paused: c.reason})
		p, _ := st["paused"].(map[string]any)
		if st["state"] != "paused" || p == nil || p["by"] != c.by || p["reason"] != c.reason || !strings.Contains(p["resume"].(string), c.resume) {
			t.Errorf("%s: /status %v", c.reason, st)
		}
		if st["rate_limit"] != nil {
			t.Errorf("unlimited: rate_limit %v, want null", st["rate_limit"])
		}
		for _, line := range []string{"keyjob_paused 1", `keyjob_pause_info{by="` + c.by + `",guard="",reason="` + c.reason + `"} 1`, "keyjob_rate_limit_changes_per_second +Inf"} {
			if !strings.Contains(metrics, line+"\n") {
				t.Errorf("%s: /metrics has no line %s", c.reason, line)
			}
		}
	}
}

// Before the first batch the status says starting; a finished run says
// finished and not paused.
func TestStatusHandler_States(t *testing.T) {
	s := &liveStatus{head: statusDoc{Command: "undo", Job: "j"}}
	if d := s.snapshot(); d.State != "starting" {
		t.Errorf("before any progress: %q, want starting", d.State)
	}
	s.update(apply.Progress{Scanned: 10, Paused: "paused by the operator (p)"})
	s.Finish()
	if d := s.snapshot(); d.State != "finished" || d.Paused != nil {
		t.Errorf("finished: %q paused %v", d.State, d.Paused)
	}
}

// keyjob status on a state dir without runs, or for a job without one,
// is the operator's argument error (exit 4), naming what it looked for.
func TestStateStatus_NoRun(t *testing.T) {
	dir := t.TempDir()
	for _, job := range []string{"", "orders-ttl"} {
		_, err := stateStatus(dir, job)
		if err == nil || exitCode(err, nil) != exitUsage || !strings.Contains(err.Error(), "checkpoint.json") {
			t.Errorf("stateStatus(%q): %v, want exit 4 naming checkpoint.json", job, err)
		}
	}
	if _, err := stateStatus(dir+"/missing", ""); err == nil || exitCode(err, nil) != exitUsage {
		t.Errorf("a missing state dir: %v, want exit 4", err)
	}
}
