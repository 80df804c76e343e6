package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/urfave/cli/v2"

	"github.com/keyjob/keyjob/apply"
	"github.com/keyjob/keyjob/guard"
	"github.com/keyjob/keyjob/internal/checkpoint"
)

// statusAddrFlag is --status-addr, on apply and undo.
func statusAddrFlag() cli.Flag {
	return &cli.StringFlag{Name: "status-addr", Usage: "serve /status (JSON) and /metrics (Prometheus) on `HOST:PORT` while the run lasts; give the host: 127.0.0.1:9090 for this machine only, 0.0.0.0:9090 to be reachable from others"}
}

// checkStatusAddr refuses an address without a host: Go would listen on
// every interface for ":9090", and a run's status (job, target, figures)
// is shown to other hosts only when the operator says so.
func checkStatusAddr(addr string) error {
	if addr == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return usageError(fmt.Errorf("--status-addr %q: want HOST:PORT, e.g. 127.0.0.1:9090", addr))
	}
	if host == "" {
		return usageError(fmt.Errorf("--status-addr %q has no host and would listen on every interface: give 127.0.0.1:%s for this machine only, or 0.0.0.0:%s to be reachable from other hosts", addr, port, port))
	}
	return nil
}

// statusDoc is a run's status: what /status serves, what /metrics is made
// of, and what `keyjob status` prints from the state dir.
type statusDoc struct {
	Command string `json:"command"` // apply | undo
	Job     string `json:"job"`
	// Target is host:port/db: never a URL, never a password.
	Target string `json:"target"`
	Mode   string `json:"mode,omitempty"` // standalone | cluster
	RunID  string `json:"run_id,omitempty"`
	// Live: a running keyjob serves it; false when read from the state dir.
	Live bool `json:"live"`
	// State is starting, running, paused or finished while live; from the
	// state dir, completed or the report's reason for stopping.
	State    string           `json:"state"`
	Scanned  int64            `json:"scanned"`
	Expected int64            `json:"expected"`
	Outcomes map[string]int64 `json:"outcomes"`
	// KeysPerSecond is the scan rate over the last few seconds.
	KeysPerSecond float64 `json:"keys_per_second"`
	// RateLimit is the change-rate limit; null when unlimited.
	RateLimit      *float64     `json:"rate_limit"`
	ETASeconds     *float64     `json:"eta_seconds"`
	ElapsedSeconds float64      `json:"elapsed_seconds"`
	Paused         *statusPause `json:"paused"`
	// GuardLine is the operator's guard line (Gate.Status).
	GuardLine string        `json:"guard_line,omitempty"`
	Guards    []statusGuard `json:"guards"`
	Shards    []statusShard `json:"shards"`
	// From the state dir: where the run's files are, and how it stopped.
	Checkpoint string   `json:"checkpoint,omitempty"`
	Report     string   `json:"report,omitempty"`
	Journal    string   `json:"journal,omitempty"`
	Stopped    string   `json:"stopped,omitempty"`
	Pauses     int      `json:"pauses,omitempty"`
	Updated    string   `json:"updated"`
	Warnings   []string `json:"warnings,omitempty"`

	// resumed: a live run continues Checkpoint, whose counts the status
	// shows until the first batch.
	resumed bool
}

// statusPause says who paused the run, why, and how it resumes.
type statusPause struct {
	By     string `json:"by"` // operator | pause-file | guard
	Guard  string `json:"guard,omitempty"`
	Reason string `json:"reason"`
	Since  string `json:"since,omitempty"`
	Resume string `json:"resume"`
}

type statusGuard struct {
	Guard  string   `json:"guard"`
	Node   string   `json:"node"`
	State  string   `json:"state"`
	Figure string   `json:"figure"`
	Levels string   `json:"levels"`
	Note   string   `json:"note,omitempty"`
	Unit   string   `json:"unit"`
	Value  *float64 `json:"value"`
	Pause  *float64 `json:"pause_level"`
	Abort  *float64 `json:"abort_level"`
}

type statusShard struct {
	Addr    string `json:"addr"`
	Slots   string `json:"slots,omitempty"`
	Scanned int64  `json:"scanned"`
	Done    bool   `json:"done"`
}

func num(f float64) *float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return &f
}

// liveStatus follows a run for its status server: the executor's
// progress and the guards.
type liveStatus struct {
	mu       sync.Mutex
	head     statusDoc
	last     apply.Progress
	seen     bool
	finished bool
	rate     rateMeter
	gate     *guard.Gate

	srv  *http.Server
	addr string
	done chan struct{}
	// addrFile is where keyjob status finds the live run (statusAddrFile);
	// written at the first progress, once the job's state folder exists.
	addrFile  string
	addrWrote bool
}

// statusAddrFile is the file in the job's state folder that holds a live
// run's status address, for keyjob status.
const statusAddrFile = "status-addr"

// startStatus listens on addr and serves the run's status until Close; a
// nil *liveStatus (whose methods do nothing) when addr is "". It says on
// w where it listens, and warns when that is reachable from other hosts.
func startStatus(w io.Writer, addr string, head statusDoc) (*liveStatus, error) {
	if addr == "" {
		return nil, nil
	}
	if err := checkStatusAddr(addr); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--status-addr: %w", err)
	}
	head.Live = true
	// The address as given, with the port listened on (port 0: any).
	host, _, _ := net.SplitHostPort(addr)
	tcp, _ := ln.Addr().(*net.TCPAddr)
	s := &liveStatus{head: head, addr: ln.Addr().String(), done: make(chan struct{})}
	if tcp != nil {
		s.addr = net.JoinHostPort(host, strconv.Itoa(tcp.Port))
	}
	if head.resumed {
		s.fromCheckpoint(head.Checkpoint)
	}
	if head.Checkpoint != "" {
		s.addrFile = filepath.Join(filepath.Dir(head.Checkpoint), statusAddrFile)
	}
	s.srv = &http.Server{Handler: s.handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		defer close(s.done)
		s.srv.Serve(ln)
	}()
	fmt.Fprintf(w, "status: http://%s/status and http://%s/metrics\n", s.addr, s.addr)
	if tcp != nil && !tcp.IP.IsLoopback() {
		fmt.Fprintf(w, "status: %s is reachable from other hosts (no authentication; it shows the job, the target without password, and the figures)\n", s.addr)
	}
	return s, nil
}

// fromCheckpoint starts a resumed run's status at its checkpoint's
// counts: until the first batch they are the run's figures.
func (s *liveStatus) fromCheckpoint(path string) {
	cp, err := checkpoint.Load(path)
	if err != nil {
		return
	}
	p := apply.Progress{Skips: map[string]int64{}}
	for k, v := range cp.Counts {
		switch k {
		case "change_grace":
			continue
		case "change":
			p.Changed = v
		default:
			p.Skips[k] = v
		}
		p.Scanned += v
	}
	s.head.RunID = cp.RunID
	s.last = p
}

// Close stops serving.
func (s *liveStatus) Close() {
	if s == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s.srv.Shutdown(ctx)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.addrWrote {
		os.Remove(s.addrFile)
	}
}

// writeAddr tells keyjob status where the live run is: the address to
// dial (loopback when listening on every interface).
func (s *liveStatus) writeAddr() {
	host, port, _ := net.SplitHostPort(s.addr)
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	if os.WriteFile(s.addrFile, []byte(net.JoinHostPort(host, port)+"\n"), 0o600) == nil {
		s.addrWrote = true
	}
}

// SetGate adds the guards' readings to the status.
func (s *liveStatus) SetGate(g *guard.Gate) {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.gate = g
	s.mu.Unlock()
}

// Observe wraps the display's observer so the status sees every
// progress too.
func (s *liveStatus) Observe(next func(apply.Progress)) func(apply.Progress) {
	if s == nil {
		return next
	}
	return func(p apply.Progress) {
		s.update(p)
		next(p)
	}
}

func (s *liveStatus) update(p apply.Progress) {
	s.mu.Lock()
	s.last, s.seen = p, true
	s.rate.add(p.Elapsed, p.Scanned)
	if s.addrFile != "" && !s.addrWrote {
		s.addrWrote = true // once, written or not
		s.writeAddr()
	}
	s.mu.Unlock()
}

// Finish marks the run over: the status says finished until Close.
func (s *liveStatus) Finish() {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.finished = true
	s.mu.Unlock()
}

// snapshot is the status now.
func (s *liveStatus) snapshot() statusDoc {
	s.mu.Lock()
	d, p, seen, finished, gate := s.head, s.last, s.seen, s.finished, s.gate
	rate := s.rate.perSecond()
	s.mu.Unlock()
	d.Updated = time.Now().UTC().Format(time.RFC3339)
	d.Scanned, d.Expected, d.ElapsedSeconds = p.Scanned, p.Expected, p.Elapsed.Seconds()
	d.Outcomes = outcomesOf(p)
	d.KeysPerSecond = rate
	if p.Rate > 0 {
		d.RateLimit = num(p.Rate)
	}
	if rate > 0 && p.Expected > 0 {
		e := eta(p, rate).Seconds()
		d.ETASeconds = &e
	}
	for _, n := range p.Nodes {
		d.Shards = append(d.Shards, statusShard{Addr: n.Addr, Slots: n.Slots, Scanned: n.Scanned, Done: n.Done})
	}
	if p.Paused != "" {
		d.Paused = operatorPause(p.Paused)
	}
	if gate != nil {
		d.GuardLine = gate.Status()
		rs, _ := gate.Readings()
		for _, r := range rs {
			d.Guards = append(d.Guards, statusGuard{Guard: r.Guard, Node: r.Node, State: r.State, Figure: r.Figure, Levels: r.Levels, Note: r.Note,
				Unit: r.Unit, Value: num(r.Value), Pause: num(r.Pause), Abort: num(r.Abort)})
		}
		if v := gate.Verdict(); v.Action != "ok" && d.Paused == nil && !finished {
			reason := v.Reason
			if v.NotCause {
				reason += " (not the run's doing: nothing was sent during the pause)"
			}
			d.Paused = &statusPause{By: "guard", Guard: v.Guard, Reason: reason, Since: v.Since.UTC().Format(time.RFC3339),
				Resume: "resumes by itself once " + v.Guard + " is back under its level (--max-pause ends the run with its checkpoint if it lasts)"}
		}
	}
	switch {
	case finished: // p.Done is one node's walk ending, not the run's
		d.State, d.Paused = "finished", nil
	case d.Paused != nil:
		d.State = "paused"
	case seen:
		d.State = "running"
	default:
		d.State = "starting"
	}
	return d
}

// operatorPause reads apply's pause reason (Control): the operator's key
// or the pause file.
func operatorPause(reason string) *statusPause {
	if path, ok := strings.CutPrefix(reason, "pause file "); ok {
		path = strings.TrimSuffix(path, " exists")
		return &statusPause{By: "pause-file", Reason: reason, Resume: "remove " + path}
	}
	return &statusPause{By: "operator", Reason: reason, Resume: "press p again in the run's terminal"}
}

// outcomesOf is the count of each outcome: change and every skip reason.
func outcomesOf(p apply.Progress) map[string]int64 {
	out := map[string]int64{"change": p.Changed}
	for k, v := range p.Skips {
		out[k] = v
	}
	return out
}

func (s *liveStatus) handler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(statusCollector{s.snapshot},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(s.snapshot())
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, "keyjob: /status (JSON) and /metrics (Prometheus)")
	})
	return mux
}

// The metrics: one scrape is one snapshot of statusDoc.
var (
	mInfo       = prometheus.NewDesc("keyjob_run_info", "The run being served: 1, with its command, job and target (host:port/db) as labels.", []string{"command", "job", "target"}, nil)
	mScanned    = prometheus.NewDesc("keyjob_keys_scanned_total", "Keys the walk scanned and decided, across resumes.", nil, nil)
	mExpected   = prometheus.NewDesc("keyjob_keys_expected", "Keys the walk is expected to scan (the plan or the summary's sample; 0 unknown).", nil, nil)
	mOutcome    = prometheus.NewDesc("keyjob_keys_total", "Keys per outcome across resumes: change, or the reason they were skipped.", []string{"outcome"}, nil)
	mRate       = prometheus.NewDesc("keyjob_scan_keys_per_second", "Keys scanned per second over the last few seconds.", nil, nil)
	mRateLimit  = prometheus.NewDesc("keyjob_rate_limit_changes_per_second", "The change-rate limit now (+Inf: unlimited).", nil, nil)
	mETA        = prometheus.NewDesc("keyjob_eta_seconds", "Seconds until the walk is expected to end, at the current rate (absent when unknown).", nil, nil)
	mElapsed    = prometheus.NewDesc("keyjob_elapsed_seconds", "Seconds since this invocation's walk began.", nil, nil)
	mPaused     = prometheus.NewDesc("keyjob_paused", "1 while the run waits: paused by the operator, the pause file or a guard.", nil, nil)
	mPauseInfo  = prometheus.NewDesc("keyjob_pause_info", "1 while paused, with who paused (operator, pause-file, guard), the guard and the reason.", []string{"by", "guard", "reason"}, nil)
	mFinished   = prometheus.NewDesc("keyjob_finished", "1 once the run has ended (the server stops with the process).", nil, nil)
	mGuardValue = prometheus.NewDesc("keyjob_guard_value", "A guard's figure on a node, in the unit label's unit (absent when the server does not give it).", []string{"guard", "node", "unit"}, nil)
	mGuardPause = prometheus.NewDesc("keyjob_guard_pause_level", "The figure at which the guard pauses the run.", []string{"guard", "node", "unit"}, nil)
	mGuardAbort = prometheus.NewDesc("keyjob_guard_abort_level", "The figure at which the guard aborts the run (disk: below it).", []string{"guard", "node", "unit"}, nil)
	mGuardState = prometheus.NewDesc("keyjob_guard_state", "1 for the guard's state on a node (ok, pause, abort, blind, off), 0 for the others.", []string{"guard", "node", "state"}, nil)
	mShard      = prometheus.NewDesc("keyjob_shard_keys_scanned_total", "Keys scanned on one primary by this invocation.", []string{"node", "slots"}, nil)
	mShardDone  = prometheus.NewDesc("keyjob_shard_done", "1 once the primary's walk has ended.", []string{"node", "slots"}, nil)
)

var guardStates = []string{"ok", "pause", "abort", "blind", "off"}

// statusCollector makes the metrics of a status snapshot at each scrape.
type statusCollector struct{ snapshot func() statusDoc }

func (c statusCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{mInfo, mScanned, mExpected, mOutcome, mRate, mRateLimit, mETA, mElapsed, mPaused, mPauseInfo,
		mFinished, mGuardValue, mGuardPause, mGuardAbort, mGuardState, mShard, mShardDone} {
		ch <- d
	}
}

func (c statusCollector) Collect(ch chan<- prometheus.Metric) {
	d := c.snapshot()
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	}
	counter := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, v, labels...)
	}
	gauge(mInfo, 1, d.Command, d.Job, d.Target)
	counter(mScanned, float64(d.Scanned))
	gauge(mExpected, float64(d.Expected))
	for _, k := range sortedKeys(d.Outcomes) {
		counter(mOutcome, float64(d.Outcomes[k]), k)
	}
	gauge(mRate, d.KeysPerSecond)
	if d.RateLimit != nil {
		gauge(mRateLimit, *d.RateLimit)
	} else if d.State != "starting" {
		gauge(mRateLimit, math.Inf(1))
	}
	if d.ETASeconds != nil {
		gauge(mETA, *d.ETASeconds)
	}
	gauge(mElapsed, d.ElapsedSeconds)
	gauge(mPaused, b2f(d.Paused != nil))
	if p := d.Paused; p != nil {
		gauge(mPauseInfo, 1, p.By, p.Guard, p.Reason)
	}
	gauge(mFinished, b2f(d.State == "finished"))
	for _, g := range d.Guards {
		if g.Value != nil {
			gauge(mGuardValue, *g.Value, g.Guard, g.Node, g.Unit)
		}
		if g.Pause != nil {
			gauge(mGuardPause, *g.Pause, g.Guard, g.Node, g.Unit)
		}
		if g.Abort != nil {
			gauge(mGuardAbort, *g.Abort, g.Guard, g.Node, g.Unit)
		}
		for _, st := range guardStates {
			gauge(mGuardState, b2f(g.State == st), g.Guard, g.Node, st)
		}
	}
	for _, sh := range d.Shards {
		counter(mShard, float64(sh.Scanned), sh.Addr, sh.Slots)
		gauge(mShardDone, b2f(sh.Done), sh.Addr, sh.Slots)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func sortedKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// errNoRuns: the state dir holds no run.
var errNoRuns = errors.New("no run in the state dir")
