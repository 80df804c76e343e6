package main

import (
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// --out onto something that is not a regular file (a FIFO here; /dev/null
// in the wild) writes into it and leaves it what it was: renaming a
// temporary file over /dev/null replaced the device with a file.
func TestWriteReport_NotARegularFile(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "report.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() {
		f, err := os.Open(fifo)
		if err != nil {
			got <- err.Error()
			return
		}
		defer f.Close()
		b, _ := io.ReadAll(f)
		got <- string(b)
	}()
	err := writeReport(io.Discard, fifo, func(w io.Writer) error {
		_, err := io.WriteString(w, "the report\n")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != "the report\n" {
		t.Errorf("read %q from the FIFO", s)
	}
	fi, err := os.Lstat(fifo)
	if err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Fatalf("%s is no longer a FIFO: %v %v", fifo, fi.Mode(), err)
	}
}

// A regular file is replaced whole, and no temporary file is left behind.
func TestWriteReport_RegularFile(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "plan.md")
	if err := os.WriteFile(out, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeReport(io.Discard, out, func(w io.Writer) error {
		_, err := io.WriteString(w, "new")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	entries, _ := os.ReadDir(dir)
	if string(b) != "new" || len(entries) != 1 {
		t.Errorf("got %q and %d files, want \"new\" and 1", b, len(entries))
	}
}
