package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// Every command's --help shows its examples, and every example parses:
// its flags are the command's and take the values given (the command's
// action is not run).
func TestHelp_Examples(t *testing.T) {
	for _, cmd := range newApp(nil, nil).Commands {
		ex := commandExamples[cmd.Name]
		if len(ex) == 0 {
			t.Errorf("keyjob %s --help has no example", cmd.Name)
			continue
		}
		var out bytes.Buffer
		if code := run([]string{"keyjob", cmd.Name, "--help"}, &out, &out); code != 0 || !strings.Contains(out.String(), "Examples:\n     "+ex[0]) {
			t.Errorf("keyjob %s --help (exit %d) does not show %q:\n%s", cmd.Name, code, ex[0], out.String())
		}
		for _, e := range ex {
			args := exampleArgs(e)
			if args[1] != cmd.Name {
				t.Errorf("example %q is not of keyjob %s", e, cmd.Name)
				continue
			}
			app := newApp(&out, &out)
			ran := false
			app.Command(cmd.Name).Action = func(c *cli.Context) error {
				ran = true
				return nil
			}
			if err := app.Run(interspersed(app, args)); err != nil || !ran {
				t.Errorf("example %q does not parse: %v", e, err)
			}
		}
	}
}

// exampleArgs splits an example as a shell would, for the quoting the
// examples use, without its comment and redirection; "$REDIS_URL" is a
// URL.
func exampleArgs(e string) []string {
	e, _, _ = strings.Cut(e, "#")
	e, _, _ = strings.Cut(e, ">")
	var args []string
	for _, f := range strings.Fields(e) {
		f = strings.Trim(f, `"'`)
		if f == "$REDIS_URL" {
			f = "redis://127.0.0.1:6379"
		}
		args = append(args, f)
	}
	return args
}
