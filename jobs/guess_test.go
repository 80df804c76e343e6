package jobs

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// The format that reads keys a job's format could not: for every named
// format and a layout, the commonest mistakes and the one key read both
// ways.
func TestGuessFormat(t *testing.T) {
	issued := clock.Now.Add(-30 * day).Truncate(time.Second)
	for _, tc := range []struct {
		format, value, want string
		words               []string
	}{
		{"unix", fmt.Sprint(issued.UnixMilli()), "unix_ms", []string{"format to unix_ms: it reads all 3", "with unix, not unix seconds", "with unix_ms, \"" + fmt.Sprint(issued.UnixMilli()) + "\" is " + issued.UTC().Format(time.RFC3339)}},
		{"unix_ms", fmt.Sprint(issued.Unix()), "unix", []string{"format to unix: it reads", "as unix_ms is 1970-01-", "seconds read as milliseconds", "with unix, \"" + fmt.Sprint(issued.Unix()) + "\" is " + issued.UTC().Format(time.RFC3339)}},
		{"rfc3339", issued.UTC().Format("2006-01-02"), "2006-01-02", []string{"format to 2006-01-02: it reads", "not an RFC 3339 time"}},
		{"2006-01-02", issued.UTC().Format(time.RFC3339), "rfc3339", []string{"format to rfc3339: it reads"}},
		{"2006-01-02", fmt.Sprint(issued.Unix()), "unix", []string{"format to unix: it reads"}},
		{"unix", "soon", "", []string{"No other format", `"soon"`}},
	} {
		j := job(t, `{match: "r:*", regex: '^r:(?P<t>.+):\d$'}`,
			`{expire: {from: {capture: t, format: "`+tc.format+`"}, after: 365d}}`)
		names := []string{"r:" + tc.value + ":1", "r:" + tc.value + ":2", "r:" + tc.value + ":3"}
		g := j.GuessFormat(names, clock)
		if g == nil || g.Format != tc.want {
			t.Errorf("%s on %q: guess %+v, want %q", tc.format, tc.value, g, tc.want)
			continue
		}
		w := g.Words()
		for _, s := range tc.words {
			if !strings.Contains(w, s) {
				t.Errorf("%s on %q: %q lacks %q", tc.format, tc.value, w, s)
			}
		}
		if !strings.Contains(w, `"r:`+tc.value+`:1"`) {
			t.Errorf("%s on %q: %q names no sample key", tc.format, tc.value, w)
		}
	}
	if g := job(t, `{match: "s:*"}`, `{expire: {ttl: 1d}}`).GuessFormat([]string{"s:1"}, clock); g != nil {
		t.Errorf("a fixed ttl: guess %+v", g)
	}
}
