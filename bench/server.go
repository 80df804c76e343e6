package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/rueidis"
)

// redisServer is a throwaway redis-server process on a free loopback port,
// in a directory of its own, persisting nothing.
type redisServer struct {
	Addr   string
	Dir    string
	Client rueidis.Client
	cmd    *exec.Cmd
	exited chan struct{}
}

// URL is the server's redis:// URL.
func (s *redisServer) URL() string { return "redis://" + s.Addr + "/0" }

// startRedis starts redis-server in dir. When rdb is not "", the server
// loads it at start (a hard link, or a copy, named dump.rdb in dir); it
// never writes it back (--save ""). extra are more arguments of the
// server's.
func startRedis(ctx context.Context, bin, dir, rdb string, extra ...string) (*redisServer, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if rdb != "" {
		if err := linkOrCopy(rdb, filepath.Join(dir, "dump.rdb")); err != nil {
			return nil, fmt.Errorf("rdb: %w", err)
		}
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &redisServer{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Dir: dir, exited: make(chan struct{})}
	s.cmd = exec.Command(bin, append([]string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no",
		"--dir", dir, "--dbfilename", "dump.rdb",
		"--logfile", filepath.Join(dir, "redis.log"),
		"--daemonize", "no",
		// Count the SCAN calls above 2 ms and the script calls above
		// 1 ms in SLOWLOG.
		"--slowlog-log-slower-than", "1000", "--slowlog-max-len", "100000",
	}, extra...)...)
	s.cmd.Stdout, s.cmd.Stderr = io.Discard, io.Discard
	// The server dies with the bench, even when the bench is killed.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() { s.cmd.Wait(); close(s.exited) }()
	if err := s.connect(ctx); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// connect waits until the server answers PING (it answers LOADING while it
// reads its RDB).
func (s *redisServer) connect(ctx context.Context) error {
	deadline := time.Now().Add(5 * time.Minute)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return fmt.Errorf("redis-server exited at start: see %s", filepath.Join(s.Dir, "redis.log"))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if s.Client == nil {
			c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{s.Addr}, DisableCache: true, ForceSingleClient: true})
			if err != nil {
				last = err
				continue
			}
			s.Client = c
		}
		if last = s.Client.Do(ctx, s.Client.B().Ping().Build()).Error(); last == nil {
			return nil
		}
	}
	return fmt.Errorf("redis-server on %s did not come up: %v", s.Addr, last)
}

// Stop kills the server (nothing to save) and removes its directory.
func (s *redisServer) Stop() {
	s.Kill()
	os.RemoveAll(s.Dir)
}

// Kill ends the server and keeps its directory.
func (s *redisServer) Kill() {
	if s.Client != nil {
		s.Client.Close()
	}
	if s.cmd.Process != nil {
		s.cmd.Process.Kill()
		<-s.exited
	}
}

// Save writes the dataset to dir/dump.rdb and returns its path. BGSAVE,
// not SAVE: a large dataset takes longer than the client's timeout.
func (s *redisServer) Save(ctx context.Context) (string, error) {
	if err := s.Client.Do(ctx, s.Client.B().Bgsave().Build()).Error(); err != nil {
		return "", fmt.Errorf("BGSAVE: %w", err)
	}
	for {
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		text, err := s.Client.Do(ctx, s.Client.B().Info().Section("persistence").Build()).ToString()
		if err != nil {
			return "", err
		}
		if strings.Contains(text, "rdb_bgsave_in_progress:0") {
			if !strings.Contains(text, "rdb_last_bgsave_status:ok") {
				return "", fmt.Errorf("BGSAVE failed: see %s", filepath.Join(s.Dir, "redis.log"))
			}
			return filepath.Join(s.Dir, "dump.rdb"), nil
		}
	}
}

// ResetStats clears INFO commandstats and SLOWLOG before a case.
func (s *redisServer) ResetStats(ctx context.Context) error {
	for _, cmd := range []rueidis.Completed{
		s.Client.B().ConfigResetstat().Build(),
		s.Client.B().SlowlogReset().Build(),
	} {
		if err := s.Client.Do(ctx, cmd).Error(); err != nil {
			return err
		}
	}
	return nil
}

// cmdStat is one line of INFO commandstats.
type cmdStat struct {
	Calls int64
	Usec  int64
}

// CommandStats reads INFO commandstats, less the bench's own CONFIG
// RESETSTAT.
func (s *redisServer) CommandStats(ctx context.Context) (map[string]cmdStat, error) {
	text, err := s.Client.Do(ctx, s.Client.B().Info().Section("commandstats").Build()).ToString()
	if err != nil {
		return nil, err
	}
	out := map[string]cmdStat{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		name, rest, ok := strings.Cut(line, ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		name = strings.TrimPrefix(name, "cmdstat_")
		if name == "config|resetstat" || name == "slowlog|reset" {
			continue
		}
		var st cmdStat
		for _, kv := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "calls":
				st.Calls, _ = strconv.ParseInt(v, 10, 64)
			case "usec":
				st.Usec, _ = strconv.ParseInt(v, 10, 64)
			}
		}
		out[name] = st
	}
	return out, nil
}

// slow is what SLOWLOG holds of a case: the SCAN calls above 2 ms of
// server time and the slowest one's time, the script calls (EVALSHA,
// EVAL) above 1 ms and the slowest one's, and the other commands above
// 2 ms. Those are single-key commands of a microsecond or so: one past
// 2 ms says the server thread was held by something other than its
// command (descheduled on a busy machine, a page fault), and so may a
// SCAN or a script call.
type slow struct {
	Scans, Scripts, Others     int64
	Others1ms                  int64 // the others above 1 ms: the scripts' control
	SlowestScan, SlowestScript time.Duration
}

func (s *redisServer) Slow(ctx context.Context) (slow, error) {
	var out slow
	entries, err := s.Client.Do(ctx, s.Client.B().SlowlogGet().Count(-1).Build()).ToArray()
	if err != nil {
		return out, err
	}
	for _, e := range entries {
		fields, err := e.ToArray()
		if err != nil || len(fields) < 4 {
			continue
		}
		args, err := fields[3].AsStrSlice()
		if err != nil || len(args) == 0 {
			continue
		}
		us, err := fields[2].AsInt64()
		if err != nil {
			continue
		}
		d := time.Duration(us) * time.Microsecond
		switch strings.ToLower(args[0]) {
		case "scan":
			if d > 2*time.Millisecond {
				out.Scans++
				out.SlowestScan = max(out.SlowestScan, d)
			}
		case "evalsha", "eval":
			out.Scripts++
			out.SlowestScript = max(out.SlowestScript, d)
		default:
			out.Others1ms++
			if d > 2*time.Millisecond {
				out.Others++
			}
		}
	}
	return out, nil
}

// Keyspace returns db0's keys and keys with an expiry (INFO keyspace).
func (s *redisServer) Keyspace(ctx context.Context) (keys, expires int64, err error) {
	text, err := s.Client.Do(ctx, s.Client.B().Info().Section("keyspace").Build()).ToString()
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(text, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "db0:")
		if !ok {
			continue
		}
		for _, kv := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "keys":
				keys, _ = strconv.ParseInt(v, 10, 64)
			case "expires":
				expires, _ = strconv.ParseInt(v, 10, 64)
			}
		}
	}
	return keys, expires, nil
}

// CPU is the server process's user+system CPU time so far (/proc): the
// server's whole cost, network I/O included, which commandstats leaves out.
func (s *redisServer) CPU() (time.Duration, error) {
	return procCPU(s.cmd.Process.Pid)
}

// clockTicks is USER_HZ, 100 on every Linux this runs on.
const clockTicks = 100

func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("bad /proc stat")
	}
	f := strings.Fields(s[i+1:])
	// After the command: state is field 3 of stat(5), utime 14, stime 15.
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func linkOrCopy(src, dst string) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
