package main_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/keyjob/keyjob/internal/redistest"
)

// keyjob's own image (Dockerfile, scripts/keyjob-image.sh, make
// keyjob-image), built here without a registry, runs `keyjob version`
// and a plan against the test Redis from its container. $KEYJOB_IMAGE
// names an image built already and skips the build.
func TestImageE2E_VersionAndPlan(t *testing.T) {
	img := keyjobImage(t)
	srv := redistest.Start(t, redistest.Options{})
	applyE2ESeed(t, 500, srv.Client(t))
	ctx := context.Background()
	ip, err := srv.Container.ContainerIP(ctx)
	if err != nil {
		t.Fatal(err)
	}

	out, code := runImage(t, img, nil, "version")
	if code != 0 || !strings.HasPrefix(out, "keyjob ") {
		t.Fatalf("keyjob version in the image: exit %d\n%s", code, out)
	}

	job := writeJob(t, t.TempDir(), "job.yaml", applyE2ETicketJob)
	out, code = runImage(t, img, []testcontainers.ContainerFile{{HostFilePath: job, ContainerFilePath: "/jobs/job.yaml", FileMode: 0o644}},
		"plan", "--detailed-exitcode", "--redis", "redis://"+ip+":6379", "/jobs/job.yaml")
	// With --detailed-exitcode plan exits 2 when the job would change keys.
	if code != 2 || !strings.Contains(out, "ticket-ttl-backfill") || !strings.Contains(out, "change") {
		t.Fatalf("keyjob plan in the image: exit %d, want 2 (changes to make)\n%s", code, out)
	}
}

// The image as examples/kubernetes runs it: the state dir on a volume, the
// URL from the environment, the status port published. A first container
// stops at --limit (as a pod that is killed would, with its checkpoint),
// a second one with the same command line resumes and completes while
// /metrics and /status are scraped from outside; a third finds the run
// completed and exits 0. The root file system is read-only, as in the
// example. The containers run as root here, where a named
// volume is root's; Kubernetes gives it to the image's user (fsGroup).
func TestImageE2E_JobResumesFromVolume(t *testing.T) {
	img := keyjobImage(t)
	srv := redistest.Start(t, redistest.Options{})
	c := srv.Client(t)
	applyE2ESeed(t, 2000, c)
	ctx := context.Background()
	ip, err := srv.Container.ContainerIP(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id := strconv.FormatInt(time.Now().UnixNano(), 36)
	vol, jobVol := "keyjob-test-state-"+id, "keyjob-test-job-"+id
	t.Cleanup(func() { exec.Command("docker", "volume", "rm", "-f", vol, jobVol).Run() })
	// The job file goes into a volume of its own (the ConfigMap's part):
	// nothing can be copied into a container whose root is read-only.
	job := writeJob(t, t.TempDir(), "job.yaml", applyE2ETicketJob)
	loader := []testcontainers.ContainerCustomizer{
		testcontainers.WithCmd("version"), testcontainers.WithWaitStrategy(waitExit()),
		testcontainers.WithMounts(testcontainers.VolumeMount(jobVol, "/jobs")),
		testcontainers.WithFiles(testcontainers.ContainerFile{HostFilePath: job, ContainerFilePath: "/jobs/job.yaml", FileMode: 0o644}),
	}
	if labels := redistest.RunLabels(); labels != nil {
		loader = append(loader, testcontainers.WithLabels(labels))
	}
	if out, code := runContainer(t, img, loader...); code != 0 {
		t.Fatalf("loading the job file: exit %d\n%s", code, out)
	}
	jobArgs := func(more ...string) []string {
		return append([]string{"apply", "--yes", "--resume-if-checkpoint", "--state-dir", "/state", "--progress", "log",
			"--status-addr", "0.0.0.0:9090", "--rate", "300"}, append(more, "/jobs/job.yaml")...)
	}
	opts := func(args []string, wait ...wait.Strategy) []testcontainers.ContainerCustomizer {
		o := []testcontainers.ContainerCustomizer{
			testcontainers.WithCmd(args...),
			testcontainers.WithEnv(map[string]string{"REDIS_URL": "redis://" + ip + ":6379"}),
			testcontainers.WithMounts(testcontainers.VolumeMount(vol, "/state"), testcontainers.VolumeMount(jobVol, "/jobs")),
			testcontainers.WithConfigModifier(func(c *container.Config) { c.User = "0:0" }),
			// As the example's securityContext: nothing is written outside /state.
			testcontainers.WithHostConfigModifier(func(h *container.HostConfig) { h.ReadonlyRootfs = true }),
			testcontainers.WithExposedPorts("9090/tcp"),
			testcontainers.WithWaitStrategy(wait...),
		}
		if labels := redistest.RunLabels(); labels != nil {
			o = append(o, testcontainers.WithLabels(labels))
		}
		return o
	}

	out, code := runContainer(t, img, opts(jobArgs("--limit", "300"), waitExit())...)
	if code != 0 || !strings.Contains(out, "--limit 300 reached") {
		t.Fatalf("first pod: exit %d, want 0 at --limit\n%s", code, out)
	}

	// The second pod resumes: scraped from outside while it runs.
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	ctr, err := testcontainers.Run(rctx, img, opts(jobArgs(), wait.ForHTTP("/status").WithPort("9090/tcp").WithStartupTimeout(time.Minute))...)
	testcontainers.CleanupContainer(t, ctr)
	if err != nil {
		t.Fatalf("second pod: %v", err)
	}
	endpoint, err := ctr.PortEndpoint(rctx, "9090/tcp", "http")
	if err != nil {
		t.Fatal(err)
	}
	mf := getMetrics(t, endpoint)
	wantMetric(t, mf, "keyjob_run_info", map[string]string{"command": "apply", "job": "ticket-ttl-backfill", "target": ip + ":6379/0"}, 1)
	if changed := metricValue(t, mf, "keyjob_keys_total", map[string]string{"outcome": "change"}); changed < 300 {
		t.Errorf("the resumed run's metrics count %v changes, want at least the first pod's 300", changed)
	}
	st := getStatus(t, endpoint)
	if !st.Live || st.Job != "ticket-ttl-backfill" || st.Outcomes["change"] < 300 {
		t.Errorf("/status of the resumed run: %+v", st)
	}
	code, out = waitContainer(t, ctr)
	if code != 0 || !strings.Contains(out, "Resuming ticket-ttl-backfill") || !strings.Contains(out, "status: 0.0.0.0:9090 is reachable from other hosts") {
		t.Fatalf("second pod: exit %d, want 0, a resume and the non-loopback warning\n%s", code, out)
	}

	out, code = runContainer(t, img, opts(jobArgs(), waitExit())...)
	if code != 0 || !strings.Contains(out, "completed; nothing to do") {
		t.Fatalf("third pod: exit %d, want 0 and nothing to do\n%s", code, out)
	}
}

func waitExit() wait.Strategy { return wait.ForExit().WithExitTimeout(2 * time.Minute) }

// keyjobImage builds the image from this checkout once per test binary
// (scripts/keyjob-image.sh), tagged localhost/keyjob:test, unless
// $KEYJOB_IMAGE names one built already.
func keyjobImage(t *testing.T) string {
	t.Helper()
	if img := os.Getenv("KEYJOB_IMAGE"); img != "" {
		return img
	}
	testImage.once.Do(func() {
		cmd := exec.Command("bash", filepath.Join(root, "scripts", "keyjob-image.sh"), "localhost/keyjob:test")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			testImage.err = fmt.Errorf("scripts/keyjob-image.sh: %v\n%s", err, out)
		}
	})
	if testImage.err != nil {
		t.Fatal(testImage.err)
	}
	return "localhost/keyjob:test"
}

var testImage struct {
	once sync.Once
	err  error
}

// runImage runs the image with args to its end and returns its output
// (stdout and stderr) and exit code.
func runImage(t *testing.T, img string, files []testcontainers.ContainerFile, args ...string) (string, int) {
	t.Helper()
	opts := []testcontainers.ContainerCustomizer{testcontainers.WithCmd(args...), testcontainers.WithWaitStrategy(waitExit())}
	if len(files) > 0 {
		opts = append(opts, testcontainers.WithFiles(files...))
	}
	if labels := redistest.RunLabels(); labels != nil {
		opts = append(opts, testcontainers.WithLabels(labels))
	}
	return runContainer(t, img, opts...)
}

// runContainer runs a container of img to its end (opts wait for its
// exit) and returns its output and exit code.
func runContainer(t *testing.T, img string, opts ...testcontainers.ContainerCustomizer) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ctr, err := testcontainers.Run(ctx, img, opts...)
	testcontainers.CleanupContainer(t, ctr)
	if err != nil {
		t.Fatalf("docker run %s: %v", img, err)
	}
	code, out := waitContainer(t, ctr)
	return out, code
}

// waitContainer waits for ctr to exit (two minutes at most) and returns
// its exit code and output.
func waitContainer(t *testing.T, ctr *testcontainers.DockerContainer) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for {
		st, err := ctr.State(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Running {
			logs, err := ctr.Logs(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer logs.Close()
			b, _ := io.ReadAll(logs)
			return st.ExitCode, string(b)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the container did not exit within 2 minutes")
		case <-time.After(100 * time.Millisecond):
		}
	}
}
