package guard

import (
	"context"
	"strings"
	"testing"
)

func TestPathProbe(t *testing.T) {
	free, err := PathProbe(t.TempDir()).Free(context.Background(), "n:6379")
	if err != nil || free <= 0 {
		t.Fatalf("Free = %d, %v; want the free bytes of the temp dir's disk", free, err)
	}
	if _, err := PathProbe("/no/such/dir").Free(context.Background(), "n:6379"); err == nil || !strings.Contains(err.Error(), "/no/such/dir") {
		t.Fatalf("missing dir: %v, want an error naming it", err)
	}
}

func TestCommandProbe(t *testing.T) {
	cases := []struct {
		cmd  string
		want int64
		err  string
	}{
		{cmd: "echo 123456", want: 123456},
		{cmd: "printf '  42\\n'", want: 42},
		{cmd: "echo /data 977", want: 977}, // the last field
		{cmd: `test "$KEYJOB_NODE" = 10.0.0.1:6379 && echo 7`, want: 7},
		{cmd: "true", err: "printed nothing"},
		{cmd: "echo lots", err: `printed "lots"`},
		{cmd: "echo -5", err: "as a number"},
		{cmd: "exit 3", err: "exit status 3"},
	}
	for _, c := range cases {
		got, err := CommandProbe(c.cmd).Free(context.Background(), "10.0.0.1:6379")
		switch {
		case c.err == "" && (err != nil || got != c.want):
			t.Errorf("%s: %d, %v; want %d", c.cmd, got, err, c.want)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: %d, %v; want an error with %q", c.cmd, got, err, c.err)
		}
	}
	if s := CommandProbe("secret-ish command").String(); strings.Contains(s, "secret") {
		t.Errorf("String() = %q shows the command", s)
	}
}
