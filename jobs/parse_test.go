package jobs

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/goccy/go-yaml/ast"
)

type errCase struct{ name, src, want string }

// checkErrors parses each case as job.yaml and wants exactly the given
// error text: every line, column and word is part of the contract.
func checkErrors(t *testing.T, cases []errCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j, err := Parse("job.yaml", []byte(tc.src))
			if err == nil {
				t.Fatalf("parsed as %+v, want:\n%s", j, tc.want)
			}
			if os.Getenv("PRINT_ERRORS") != "" {
				fmt.Printf("=== %s\n%s\n", t.Name(), err)
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tc.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("errors.Is(%v, ErrInvalid) = false", err)
			}
		})
	}
}

func TestParse_Document(t *testing.T) {
	checkErrors(t, []errCase{{
		name: "tab indent",
		src:  "version: 1\nname: x\nselect:\n\tmatch: x\n",
		want: "job.yaml:4:1: invalid YAML: found character '\\t' that cannot start any token (indent with spaces, not tabs)",
	}, {
		name: "unclosed quote",
		src: `version: 1
name: "x
`,
		want: `job.yaml:2:7: invalid YAML: could not find end character of double-quoted text`,
	}, {
		name: "empty",
		src:  ``,
		want: `job.yaml:1:1: want a job file, got an empty document (start with version: 1)`,
	}, {
		name: "comment only",
		src: `# nothing here
`,
		want: `job.yaml:1:1: want a job file, got an empty document (start with version: 1)`,
	}, {
		name: "two documents",
		src: `version: 1
---
version: 1
`,
		want: `job.yaml:2:1: want one YAML document, got 2`,
	}, {
		name: "a list",
		src: `- version: 1
`,
		want: `job.yaml:1:1: want a mapping of version, name, description, db, select, members, fields, action, backup, limits, guards, got a list`,
	}, {
		name: "a scalar",
		src: `ticket-ttl-backfill
`,
		want: `job.yaml:1:1: want a mapping of version, name, description, db, select, members, fields, action, backup, limits, guards, got "ticket-ttl-backfill"`,
	}})
}

// All problems come back at once, sorted by position, whether the
// structure check or validation found them.
func TestParse_AllProblemsAtOnce(t *testing.T) {
	checkErrors(t, []errCase{{
		name: "mixed",
		src: `version: 1
name: x
select:
  match: "*"
  type: strings
  regex: '^k:(?P<ts>\d+)$'
  colour: red
action:
  expire:
    from: {capture: tss, format: unix}
    after: 1 year
    jitter: 5
backup: dump
limits:
  rate: [1]
  scan_count: 0
`,
		want: `job.yaml:4:10: select.match: want a glob narrower than the whole keyspace, got "*" (set select.allow_all: true to scan the whole keyspace)
job.yaml:5:9: select.type: want one of string, hash, list, set, zset, stream, got "strings"
job.yaml:7:3: select.colour: unknown field, want one of match, allow_all, type, regex, ttl, idle
job.yaml:10:21: action.expire.from.capture: want one of select.regex's named groups (ts), got "tss"
job.yaml:11:12: action.expire.after: want a duration such as 365d or 1h30m, got "1 year"
job.yaml:12:13: action.expire.jitter: want a percentage such as 5%, got "5"
job.yaml:15:9: limits.rate: want a positive number (per second) or unlimited, got a list
job.yaml:16:15: limits.scan_count: want an integer from 1 to 100000, got 0`,
	}})
}

// The structure check normally keeps the decoder from failing; its errors
// still come back in the same shape, naming the field.
func TestDecodeError(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"unknown field", "version: 1\nselect:\n  mach: x\n",
			`job.yaml:3:3: select.mach: unknown field "mach"`},
		{"wrong type", "version: 1\nselect:\n  allow_all: yes\n",
			`job.yaml:3:14: select.allow_all: want true or false, got "yes"`},
		{"int overflow", "version: 1\nlimits:\n  scan_count: 99999999999999999999\n",
			`job.yaml:3:15: limits.scan_count: want an integer that fits in int, got 99999999999999999999`},
		{"mapping expected", "version: 1\nselect: 3\n",
			`job.yaml:2:9: select: want a mapping, got "3"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := parseTree("job.yaml", []byte(tc.src))
			if err != nil {
				t.Fatal(err)
			}
			indexOnly(tr, "", tr.body)
			var raw rawJob
			derr := decodeStrict(tr.body, &raw)
			if derr == nil {
				t.Fatal("the decoder accepted it")
			}
			if got := tr.decodeError(derr).Error(); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

// indexOnly records where fields are, as the structure check does, without
// checking or pruning anything.
func indexOnly(t *tree, parent string, m *ast.MappingNode) {
	for _, mv := range m.Values {
		name, _ := keyName(mv.Key)
		field := join(parent, name)
		t.names[mv.Key.GetToken()], t.names[mv.Value.GetToken()] = field, field
		if sub, ok := mv.Value.(*ast.MappingNode); ok {
			indexOnly(t, field, sub)
		}
	}
}

func TestLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.yaml")
	src := []byte("version: 1\nname: sessions\nselect: {match: \"session:*\", ttl: none}\naction: {expire: {ttl: 7d}}\n")
	if err := os.WriteFile(path, src, 0o600); err != nil {
		t.Fatal(err)
	}
	j, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(src)
	if j.Path != path || j.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("Path %q SHA256 %q, want %q %x", j.Path, j.SHA256, path, sum)
	}
	_, err = Load(filepath.Join(t.TempDir(), "missing.yaml"))
	if !errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrInvalid) {
		t.Errorf("Load(missing) = %v, want a not-exist error that is not ErrInvalid", err)
	}
	_, err = Load(path + ".bad")
	if err == nil {
		t.Error("Load of a missing file succeeded")
	}
}
