package jobs

import (
	"encoding/json"
	"os"
	"sort"
	"strings"
	"testing"
)

// docs/job-file.md names every field the schema has (as `a.b.c`), so the
// reference cannot fall behind the format: a field added to the job file
// and its schema fails this test until the docs describe it.
func TestDocs_EveryFieldDocumented(t *testing.T) {
	raw, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	defs, _ := s["$defs"].(map[string]any)
	paths := map[string]bool{}
	var walk func(prefix string, node map[string]any, depth int)
	walk = func(prefix string, node map[string]any, depth int) {
		if depth > 8 {
			return
		}
		if ref, ok := node["$ref"].(string); ok {
			if d, ok := defs[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any); ok {
				walk(prefix, d, depth+1)
			}
		}
		for _, k := range []string{"oneOf", "anyOf", "allOf"} {
			alts, _ := node[k].([]any)
			for _, a := range alts {
				if m, ok := a.(map[string]any); ok {
					walk(prefix, m, depth+1)
				}
			}
		}
		props, _ := node["properties"].(map[string]any)
		for name, p := range props {
			path := name
			if prefix != "" {
				path = prefix + "." + name
			}
			paths[path] = true
			if m, ok := p.(map[string]any); ok {
				walk(path, m, depth+1)
			}
		}
	}
	walk("", s, 0)
	if len(paths) < 20 {
		t.Fatalf("found %d fields in the schema: the walk is wrong", len(paths))
	}
	read := func(name string) string {
		b, err := os.ReadFile("../docs/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	doc, guards := read("job-file.md"), read("guards.md")
	var missing []string
	for p := range paths {
		// Documented: its path, or its last two parts, in backquotes, or
		// its name as written in a backquoted example (`{capture: ...}`);
		// a guard level in guards.md, which job-file.md points to.
		parts := strings.Split(p, ".")
		last := parts[len(parts)-1]
		short := strings.Join(parts[max(0, len(parts)-2):], ".")
		in := strings.Contains(doc, "`"+p) || strings.Contains(doc, "`"+short) ||
			strings.Contains(doc, "`"+last+"`") || strings.Contains(doc, "{"+last+":") || strings.Contains(doc, ", "+last+":")
		if g, ok := strings.CutPrefix(p, "guards."); ok {
			in = in || strings.Contains(guards, "`"+g)
		}
		if !in {
			missing = append(missing, p)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("docs/job-file.md does not name these job-file fields: %s", strings.Join(missing, ", "))
	}
}
