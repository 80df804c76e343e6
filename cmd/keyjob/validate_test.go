package main_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestValidate_HostileFiles runs the binary on job files built to exhaust
// a YAML parser (one took 93 s and 15 GB before the bounds): each is
// refused with FILE:LINE:COL, exit 4, and the process's peak memory stays
// under 100 MiB.
func TestValidate_HostileFiles(t *testing.T) {
	h := "version: 1\nname: x\n"
	// Each file is head, then body repeated n times, then tail, written in
	// pieces: the test's own memory counts in the child's peak until exec.
	files := []struct {
		name, head, body, tail string
		n                      int
		want                   string
	}{
		{"nested.yaml", h + "description: ", "[", "\n", 100000, ":3:78: want nesting at most 64 deep"},
		{"keys.yaml", h, "a: b\n", "", 200000, ":2001:2: want at most 2000"},
		{"long.yaml", h + "description: \"", strings.Repeat("a", 1<<20), "\"\n", 50, ":3:1048558: want a job file of at most 1 MiB"},
		{"utf8.yaml", h + "select: {match: \"k:*\", regex: '^k:\xff$'}\naction: {delete: {}}\nbackup: none\n", "", "", 0, ":3:35: want UTF-8 text"},
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(f.name, ".yaml"), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), f.name)
			writeRepeated(t, path, f.head, f.body, f.tail, f.n)
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), peakRSSEnv+"="+bin+"\x1fvalidate\x1f"+path)
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			if code := cmd.ProcessState.ExitCode(); code != 4 {
				t.Fatalf("exit %d (%v), want 4; stderr:\n%.500s", code, err, stderr.String())
			}
			if want := path + f.want; !strings.Contains(stderr.String(), want) {
				t.Errorf("stderr does not hold %q:\n%.500s", want, stderr.String())
			}
			_, kib, ok := strings.Cut(stdout.String(), "peak-rss-kib=")
			n, perr := strconv.ParseInt(strings.TrimSpace(kib), 10, 64)
			if !ok || perr != nil {
				t.Fatalf("the launcher did not say the peak memory: %q", stdout.String())
			}
			if n > 100<<10 {
				t.Errorf("peak memory %d MiB, want under 100 MiB", n>>10)
			}
		})
	}
}

func writeRepeated(t *testing.T, path, head, body, tail string, n int) {
	t.Helper()
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(out)
	w.WriteString(head)
	for range n {
		w.WriteString(body)
	}
	w.WriteString(tail)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
