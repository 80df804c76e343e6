// Package redistest starts real Redis servers in Docker containers for tests:
// a fresh server per test with the configuration the test needs, faults to
// inject (kill, restart, pause), replicas, and keyspace snapshots to compare
// before and after a job. There is no fake Redis in keyjob's tests.
//
// It is imported only from _test.go files. It depends on testcontainers-go
// and rueidis, never on keyjob's own packages.
//
// The image is $KEYJOB_REDIS_IMAGE, else localhost/keyjob-redis:local when
// that image exists (scripts/redis-image.sh builds it without a registry),
// else redis:7.4. When Docker cannot be reached or the server does not start,
// the test fails: it is never skipped, so CI cannot pass without Redis.
//
// Functions that take a testing.TB (Start, StartReplica, Client) register
// cleanups and fail the test; everything else takes a context and returns
// an error, so it can also be called from another goroutine.
package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/redis/rueidis"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	"github.com/testcontainers/testcontainers-go/wait"
)

const (
	// LocalImage is the image scripts/redis-image.sh builds.
	LocalImage = "localhost/keyjob-redis:local"
	// HubImage is used when neither $KEYJOB_REDIS_IMAGE nor LocalImage is there.
	HubImage = "redis:7.4"

	redisPort      = "6379/tcp"
	startupTimeout = 60 * time.Second
)

// runLabels tag every container and network with $KEYJOB_TEST_RUN, when
// set, so that .ci/run can remove its own leftovers on a shared machine
// without touching those of other test runs.
func runLabels() map[string]string {
	if run := os.Getenv("KEYJOB_TEST_RUN"); run != "" {
		return map[string]string{"keyjob.test.run": run}
	}
	return nil
}

// Options configure a server. The zero value is a server without
// persistence, without a memory limit, with debug commands enabled.
type Options struct {
	AOF       bool     // appendonly yes, appendfsync everysec
	MaxMemory string   // maxmemory, e.g. "64mb"; "" means "0" (no limit)
	Policy    string   // maxmemory-policy, e.g. "allkeys-lru"; "" keeps Redis's default
	Tmpfs     string   // size of a tmpfs at /data, e.g. "64m"; its content is lost on Restart
	Save      string   // save points, e.g. "60 1000"; "" means no RDB snapshots
	Args      []string // more redis-server arguments, e.g. {"--hz", "100"}
	// Image is the server's image; "" is Image(t)'s. The matrix tests
	// name one of Matrix's.
	Image string
	// Pre7: a server older than Redis 7.0 (the refusal's test), which
	// knows no --enable-debug-command (its DEBUG is always on).
	Pre7 bool
}

// args is the redis-server command line. Both LocalImage (entrypoint
// redis-server) and the official image (an entrypoint script that prepends
// redis-server to arguments starting with "-") accept bare flags.
func (o Options) args() []string {
	maxmem := o.MaxMemory
	if maxmem == "" {
		maxmem = "0"
	}
	args := []string{
		"--protected-mode", "no",
		"--save", o.Save,
		"--maxmemory", maxmem,
		// Replicas sync at once instead of waiting 5s for more of them.
		"--repl-diskless-sync-delay", "0",
	}
	if !o.Pre7 {
		args = append(args, "--enable-debug-command", "yes")
	}
	if o.Policy != "" {
		args = append(args, "--maxmemory-policy", o.Policy)
	}
	if o.AOF {
		args = append(args, "--appendonly", "yes", "--appendfsync", "everysec")
	}
	return append(args, o.Args...)
}

// Server is one Redis server in a container. URL and Addr change on
// Restart (Docker maps a new host port): read them again and make new
// clients afterwards. A Server is not safe for concurrent Restart.
type Server struct {
	URL       string // redis://127.0.0.1:PORT
	Addr      string // 127.0.0.1:PORT
	Container *testcontainers.DockerContainer
	Options   Options
}

var env struct {
	once   sync.Once
	docker *testcontainers.DockerClient
	image  string
	err    error
}

// setup prepares the environment once per test binary: testcontainers'
// settings for machines without a registry, the Docker client and the image.
func setup() (*testcontainers.DockerClient, string, error) {
	env.once.Do(func() {
		// Ryuk, the reaper, is an image of its own that cannot be pulled
		// here; every Start registers its own cleanup instead.
		setDefaultEnv("TESTCONTAINERS_RYUK_DISABLED", "true")
		if _, err := os.Stat("/.dockerenv"); err == nil {
			// Inside a container testcontainers dials the bridge gateway
			// instead of the port published on localhost, and times out.
			setDefaultEnv("TESTCONTAINERS_HOST_OVERRIDE", "localhost")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		env.docker, env.err = testcontainers.NewDockerClientWithOpts(ctx)
		if env.err == nil {
			_, env.err = env.docker.Ping(ctx, client.PingOptions{})
		}
		if env.err != nil {
			env.err = fmt.Errorf("docker is unreachable (%w): tests that talk to Redis need a Docker engine; start one or set DOCKER_HOST", env.err)
			return
		}
		env.image = chooseImage(ctx, env.docker)
	})
	return env.docker, env.image, env.err
}

func setDefaultEnv(key, value string) {
	if _, ok := os.LookupEnv(key); !ok {
		os.Setenv(key, value)
	}
}

func chooseImage(ctx context.Context, docker *testcontainers.DockerClient) string {
	if img := os.Getenv("KEYJOB_REDIS_IMAGE"); img != "" {
		return img
	}
	if _, err := docker.ImageInspect(ctx, LocalImage); err == nil {
		return LocalImage
	}
	return HubImage
}

// Image returns the image Start uses, failing t when Docker is unreachable.
func Image(t testing.TB) string {
	t.Helper()
	_, img, err := setup()
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	return img
}

// Start runs a fresh server and terminates it when the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	return start(t, opts)
}

func start(t testing.TB, opts Options, extra ...testcontainers.ContainerCustomizer) *Server {
	t.Helper()
	img := Image(t)
	if opts.Image != "" {
		img = opts.Image
	}
	ctx, cancel := context.WithTimeout(context.Background(), startupTimeout)
	defer cancel()

	custom := []testcontainers.ContainerCustomizer{
		testcontainers.WithLogger(tclog.TestLogger(t)), // container events in the test's own log
		testcontainers.WithExposedPorts(redisPort),
		testcontainers.WithCmd(opts.args()...),
		testcontainers.WithWaitStrategy(
			wait.ForLog("Ready to accept connections").WithStartupTimeout(startupTimeout),
		),
	}
	if labels := runLabels(); labels != nil {
		custom = append(custom, testcontainers.WithLabels(labels))
	}
	if opts.Tmpfs != "" {
		custom = append(custom, testcontainers.WithTmpfs(map[string]string{"/data": "rw,size=" + opts.Tmpfs}))
	}
	custom = append(custom, extra...)

	ctr, err := testcontainers.Run(ctx, img, custom...)
	testcontainers.CleanupContainer(t, ctr)
	if err != nil {
		t.Fatalf("redistest: start %s: %v%s", img, err, imageHint(img))
	}
	s := &Server{Container: ctr, Options: opts}
	if err := s.ready(ctx); err != nil {
		t.Fatalf("redistest: %v", err)
	}
	return s
}

func imageHint(img string) string {
	if img == HubImage {
		return "\n(no registry? build a local image with `make image` or scripts/redis-image.sh, or set KEYJOB_REDIS_IMAGE)"
	}
	return ""
}

// ready reads the published port and waits until the server answers PING
// with PONG: after a restart the log line the wait strategy looks for is
// already there, and a server loading its data answers LOADING.
func (s *Server) ready(ctx context.Context) error {
	host, err := s.Container.Host(ctx)
	if err != nil {
		return fmt.Errorf("container host: %w", err)
	}
	if host == "localhost" {
		host = "127.0.0.1" // Docker publishes on IPv4; localhost may resolve to ::1 first.
	}
	port, err := s.Container.MappedPort(ctx, redisPort)
	if err != nil {
		return fmt.Errorf("mapped port: %w", err)
	}
	s.Addr = net.JoinHostPort(host, port.Port())
	s.URL = "redis://" + s.Addr

	var last error
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if last = ping(ctx, s.Addr); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("redis at %s not ready: %w", s.Addr, errors.Join(ctx.Err(), last))
		case <-tick.C:
		}
	}
}

// ping sends one inline PING and expects +PONG (not -LOADING, not EOF from
// a proxy whose server is not listening yet).
func ping(ctx context.Context, addr string) error {
	d := net.Dialer{Timeout: time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	reply, err := pingReply(conn)
	if err == nil && reply != "+PONG" {
		err = fmt.Errorf("PING: %s", reply)
	}
	return err
}

// pingReply sends one inline PING on conn, closes it and gives the reply's
// first line.
func pingReply(conn net.Conn) (string, error) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return "", err
	}
	buf := make([]byte, 128)
	n, err := conn.Read(buf)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(buf[:n])), nil
}

// Client returns a client for the server's current address, closed when the
// test ends. Client-side caching is off, as keyjob runs it.
func (s *Server) Client(t testing.TB) rueidis.Client {
	t.Helper()
	c, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress:  []string{s.Addr},
		DisableCache: true,
	})
	if err != nil {
		t.Fatalf("redistest: connect %s: %v", s.Addr, err)
	}
	t.Cleanup(c.Close)
	return c
}

// RunLabels are the labels of this test run's containers ($KEYJOB_TEST_RUN),
// for a test that starts a container of its own (keyjob's image); nil
// outside a labelled run.
func RunLabels() map[string]string { return runLabels() }
