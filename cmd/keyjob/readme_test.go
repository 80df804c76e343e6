package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/keyjob/keyjob/jobs"
)

// The README's examples run as shown: a job file it shows under the name
// of an example is that example, line for line (comments aside), and one
// it shows without a name parses; every keyjob command it shows names a
// command that exists and only flags that command has. The docs under
// docs/ are held to the same for their job files and commands.
func TestReadme_ExamplesAsShown(t *testing.T) {
	app := newApp(io.Discard, io.Discard)
	files := []string{"../../README.md"}
	docs, _ := filepath.Glob("../../docs/*.md")
	files = append(files, docs...)
	commands := 0
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range fencedBlocks(string(data)) {
			switch b.lang {
			case "yaml":
				checkShownJob(t, file, b)
			case "sh", "bash", "console", "":
				for i, line := range strings.Split(b.text, "\n") {
					line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "$ "))
					if !strings.HasPrefix(line, "keyjob ") {
						continue
					}
					commands++
					if err := checkShownCommand(app, line); err != nil {
						t.Errorf("%s:%d: %s: %v", file, b.line+i+1, line, err)
					}
				}
			}
		}
	}
	if commands < 5 {
		t.Fatalf("found %d keyjob commands in the docs: the test reads the wrong files", commands)
	}
}

type fenced struct {
	lang, text string
	line       int // the line of the opening fence
}

func fencedBlocks(doc string) []fenced {
	var out []fenced
	lines := strings.Split(doc, "\n")
	for i := 0; i < len(lines); i++ {
		open, ok := strings.CutPrefix(lines[i], "```")
		if !ok {
			continue
		}
		b := fenced{lang: strings.TrimSpace(open), line: i + 1}
		var body []string
		for i++; i < len(lines) && !strings.HasPrefix(lines[i], "```"); i++ {
			body = append(body, lines[i])
		}
		b.text = strings.Join(body, "\n")
		out = append(out, b)
	}
	return out
}

var exampleHeader = regexp.MustCompile(`^# (examples/[a-z0-9-]+\.yaml)\s*$`)

func checkShownJob(t *testing.T, file string, b fenced) {
	t.Helper()
	if !strings.Contains(b.text, "version: 1") {
		return // a fragment (a guards block, a schema line)
	}
	first, _, _ := strings.Cut(b.text, "\n")
	if m := exampleHeader.FindStringSubmatch(first); m != nil {
		want, err := os.ReadFile(filepath.Join("../..", m[1]))
		if err != nil {
			t.Errorf("%s:%d: shows %s, which does not exist", file, b.line, m[1])
			return
		}
		if got, w := uncommented(b.text), uncommented(string(want)); got != w {
			t.Errorf("%s:%d: the job shown as %s is not that file:\n--- shown\n%s\n--- %s\n%s", file, b.line, m[1], got, m[1], w)
		}
		return
	}
	if _, err := jobs.Parse(file, []byte(b.text)); err != nil {
		t.Errorf("%s:%d: the job file shown does not parse: %v", file, b.line, err)
	}
}

// uncommented is a YAML text without its comment lines and blank lines.
func uncommented(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if t := strings.TrimSpace(l); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		out = append(out, strings.TrimRight(l, " "))
	}
	return strings.Join(out, "\n")
}

// checkShownCommand checks that a command line names a keyjob command and
// only flags it (or the app) has.
func checkShownCommand(app *cli.App, line string) error {
	if i := strings.Index(line, " #"); i >= 0 {
		line = line[:i]
	}
	fields := strings.Fields(line)
	if len(fields) < 2 {
		return nil
	}
	cmd := app.Command(fields[1])
	if cmd == nil {
		return fmt.Errorf("no command %q", fields[1])
	}
	known := map[string]bool{"help": true, "h": true}
	for _, f := range append(append([]cli.Flag{}, cmd.Flags...), app.Flags...) {
		for _, n := range f.Names() {
			known[n] = true
		}
	}
	for _, a := range fields[2:] {
		name, ok := strings.CutPrefix(a, "--")
		if !ok {
			continue
		}
		name, _, _ = strings.Cut(name, "=")
		if name != "" && !known[name] {
			return fmt.Errorf("%s has no flag --%s", cmd.Name, name)
		}
	}
	return nil
}
