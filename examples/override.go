package examples

import (
	"fmt"
	"strings"
)

// Job gives the example job file name with top-level sections replaced,
// or added at the end when the example has none: each override is one
// top-level YAML block in block style, such as "limits:\n  rate:
// unlimited\n  scan_count: 50\n". Tests derive their jobs from the
// examples this way, so that a change to an example reaches every test
// that claims to run it, instead of drifting copies.
func Job(name string, overrides ...string) (string, error) {
	data, err := Files.ReadFile(name)
	if err != nil {
		return "", err
	}
	blocks, order := topLevel(string(data))
	for _, o := range overrides {
		key, _, ok := strings.Cut(o, ":")
		if !ok || key == "" || strings.ContainsAny(key[:1], " \t#") {
			return "", fmt.Errorf("override %q: want a top-level block such as \"limits:\\n  rate: 100\\n\"", o)
		}
		if !strings.HasSuffix(o, "\n") {
			o += "\n"
		}
		if _, seen := blocks[key]; !seen {
			order = append(order, key)
		}
		blocks[key] = o
	}
	var b strings.Builder
	for _, k := range order {
		b.WriteString(blocks[k])
	}
	return b.String(), nil
}

// MustJob is Job for test tables: it panics on an override it cannot make.
func MustJob(name string, overrides ...string) string {
	s, err := Job(name, overrides...)
	if err != nil {
		panic(err)
	}
	return s
}

// topLevel splits a block-style YAML document into its top-level blocks,
// keyed by field; comments and blank lines go with the block after them.
func topLevel(doc string) (map[string]string, []string) {
	blocks := map[string]string{}
	var order []string
	var pending strings.Builder
	cur := ""
	for _, line := range strings.SplitAfter(doc, "\n") {
		if line == "" {
			continue
		}
		top := line[0] != ' ' && line[0] != '\t' && line[0] != '#' && line[0] != '\n'
		if top {
			cur, _, _ = strings.Cut(line, ":")
			order = append(order, cur)
			blocks[cur] = pending.String()
			pending.Reset()
		}
		if cur == "" || !top && (line[0] == '#' || line[0] == '\n') {
			pending.WriteString(line)
			continue
		}
		blocks[cur] += line
	}
	if pending.Len() > 0 && cur != "" {
		blocks[cur] += pending.String()
	}
	return blocks, order
}
