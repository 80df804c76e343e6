package main_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/keyjob/keyjob/internal/redistest"
)

// k8sManifest is the part of examples/kubernetes/keyjob-job.yaml the test
// reads: the ConfigMap's job file and the command lines of the Job's
// containers.
type k8sManifest struct {
	Kind string            `yaml:"kind"`
	Data map[string]string `yaml:"data"`
	Spec struct {
		Template struct {
			Spec struct {
				InitContainers []k8sContainer `yaml:"initContainers"`
				Containers     []k8sContainer `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type k8sContainer struct {
	Name string   `yaml:"name"`
	Args []string `yaml:"args"`
}

// The Kubernetes example's command lines run as written against a test
// Redis: the plan of the init container, then apply, twice (the second
// pod finds the run completed and exits 0). Only the paths of the mounts
// and the status port (any free loopback one here) are the test's. Its
// job file is examples/ticket-ttl-backfill.yaml, word for word.
func TestK8sExample_CommandLinesRun(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "examples", "kubernetes", "keyjob-job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var jobFile string
	var containers []k8sContainer
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var m k8sManifest
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("keyjob-job.yaml: %v", err)
		}
		switch m.Kind {
		case "ConfigMap":
			jobFile = m.Data["job.yaml"]
		case "Job":
			containers = append(m.Spec.Template.Spec.InitContainers, m.Spec.Template.Spec.Containers...)
		}
	}
	example, err := os.ReadFile(example("ticket-ttl-backfill.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if want := withoutComments(string(example)); jobFile != want {
		t.Errorf("the ConfigMap's job file is not examples/ticket-ttl-backfill.yaml:\n%s\nwant\n%s", jobFile, want)
	}
	if len(containers) != 2 || containers[0].Name != "plan" || containers[1].Name != "apply" {
		t.Fatalf("the Job's containers: %+v, want plan then apply", containers)
	}

	srv := redistest.Start(t, redistest.Options{})
	applyE2ESeed(t, 300, srv.Client(t))
	dir := t.TempDir()
	jobDir, state := filepath.Join(dir, "job"), filepath.Join(dir, "state")
	if err := os.MkdirAll(jobDir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeJob(t, jobDir, "job.yaml", jobFile)
	args := func(c k8sContainer) []string {
		var out []string
		for _, a := range c.Args {
			a = strings.ReplaceAll(a, "/job/", jobDir+"/")
			a = strings.ReplaceAll(a, "=/state", "="+state)
			a = strings.ReplaceAll(a, "0.0.0.0:9090", "127.0.0.1:0")
			out = append(out, a)
		}
		return out
	}
	env := []string{"REDIS_URL=" + srv.URL}
	r := keyjob(t, env, args(containers[0])...)
	wantExit(t, r, 0)
	r = keyjob(t, env, args(containers[1])...)
	wantExit(t, r, 0)
	if !strings.Contains(r.stdout, "status: http://127.0.0.1:") {
		t.Errorf("apply did not serve its status\n%s", r)
	}
	if rep := onlyReport(t, state, "ticket-ttl-backfill"); !rep.Completed || rep.Outcomes.Change == 0 {
		t.Errorf("the run did not complete with changes: %+v", rep)
	}
	r = keyjob(t, env, args(containers[1])...)
	wantExit(t, r, 0)
	if !strings.Contains(r.stdout, "nothing to do") {
		t.Errorf("a pod after the run completed does not say there is nothing to do\n%s", r)
	}
}

// withoutComments drops a job file's leading comment block.
func withoutComments(s string) string {
	for strings.HasPrefix(s, "#") {
		_, s, _ = strings.Cut(s, "\n")
	}
	return s
}
