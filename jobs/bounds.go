package jobs

import (
	"context"
	"fmt"
	"io"
	"os"
	"unicode/utf8"

	"github.com/goccy/go-yaml/ast"
)

// Bounds on a job file. The YAML parser's cost grows faster than the
// file: 100,000 nested "[" (200 KB) took 93 s and 15 GB, 10,000 "a: b"
// lines 1.3 s and 425 MB of allocations, 5,000 aliases 1 s. validate runs
// in CI on files from pull requests, so the bytes are checked before the
// parser sees them, with limits far above any real job (the examples are
// under 60 lines, nest 4 deep and have no flow collection with more than
// ten entries) and low enough that a file at every limit at once parses in
// well under a second and 100 MiB.
const (
	// MaxFileSize is the largest job file read, in bytes.
	MaxFileSize = 1 << 20
	// MaxDepth is the deepest nesting of mappings and lists.
	MaxDepth = 64
	// maxLines, maxEntries and maxFlowOpen bound the parser's work: lines,
	// ":" and "," bytes (an upper bound on mapping entries and list items),
	// and "[" and "{" bytes. Counted on the raw bytes, text in strings
	// included, so no quoting can hide structure from the count.
	maxLines    = 5000
	maxEntries  = 2000
	maxFlowOpen = 1000
)

// LoadContext is Load that gives up when ctx ends, so a signal stops
// `keyjob validate` at once whatever the file holds.
func LoadContext(ctx context.Context, path string) (*Job, error) {
	type result struct {
		job *Job
		err error
	}
	done := make(chan result, 1)
	go func() {
		j, err := Load(path)
		done <- result{j, err}
	}()
	select {
	case r := <-done:
		return r.job, r.err
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// readBounded reads at most MaxFileSize bytes of path; a longer file is an
// Error pointing at its first byte past the limit, found without reading
// the rest.
func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileSize {
		return nil, Errors{tooBig(path, data)}
	}
	return data, nil
}

func tooBig(path string, data []byte) *Error {
	line, col := position(data, MaxFileSize)
	return &Error{File: path, Line: line, Col: col,
		Msg:  "want a job file of at most 1 MiB, got more",
		Hint: "a job file holds settings: keep long text out of it"}
}

// checkBytes refuses what the parser must not see: a file over the size
// limit, bytes that are not UTF-8, nesting deeper than MaxDepth and more
// structure than any job needs. It is one pass with no allocation.
func checkBytes(path string, data []byte) *Error {
	if len(data) > MaxFileSize {
		return tooBig(path, data)
	}
	line, col := 1, 1
	entries, opens := 0, 0
	depth := 0 // unclosed "[" and "{", quotes ignored (see checkDepth)
	at := func(msg, hint string) *Error {
		return &Error{File: path, Line: line, Col: col, Msg: msg, Hint: hint}
	}
	for i := 0; i < len(data); {
		c := data[i]
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && n <= 1 {
				return at(fmt.Sprintf("want UTF-8 text, got the byte 0x%02x", c), "save the file as UTF-8")
			}
			i += n
			col++
			continue
		}
		switch c {
		case '\n':
			line, col = line+1, 0 // col++ below: the next byte is column 1
			if line > maxLines {
				col = 1
				return at(fmt.Sprintf("want a job file of at most %d lines, got more", maxLines), "")
			}
		case ':', ',':
			if entries++; entries > maxEntries {
				return at(fmt.Sprintf("want at most %d \":\" and \",\" in a job file, got more", maxEntries), "")
			}
		case '[', '{':
			if opens++; opens > maxFlowOpen {
				return at(fmt.Sprintf("want at most %d \"[\" and \"{\" in a job file, got more", maxFlowOpen), "")
			}
			if depth++; depth > MaxDepth {
				return at(fmt.Sprintf("want nesting at most %d deep, got deeper", MaxDepth), "")
			}
		case ']', '}':
			depth = max(depth-1, 0)
		}
		i++
		col++
	}
	return nil
}

// checkDepth walks the parsed document and refuses nesting deeper than
// MaxDepth, block style included, at the first node too deep. checkBytes
// has bounded the work; this is the exact rule, which quoted brackets
// cannot fool.
func checkDepth(path string, n ast.Node) *Error {
	var tooDeep ast.Node
	var walk func(n ast.Node, d int) bool
	walk = func(n ast.Node, d int) bool {
		if n == nil {
			return true
		}
		if d > MaxDepth {
			tooDeep = n
			return false
		}
		switch v := n.(type) {
		case *ast.MappingNode:
			for _, mv := range v.Values {
				if !walk(mv.Key, d+1) || !walk(mv.Value, d+1) {
					return false
				}
			}
		case *ast.MappingValueNode:
			return walk(v.Key, d+1) && walk(v.Value, d+1)
		case *ast.SequenceNode:
			for _, x := range v.Values {
				if !walk(x, d+1) {
					return false
				}
			}
		case *ast.AnchorNode:
			return walk(v.Value, d)
		case *ast.TagNode:
			return walk(v.Value, d)
		case *ast.MappingKeyNode:
			return walk(v.Value, d)
		}
		return true
	}
	if walk(n, 0) {
		return nil
	}
	line, col := nodePos(tooDeep)
	return &Error{File: path, Line: line, Col: col,
		Msg: fmt.Sprintf("want nesting at most %d deep, got deeper", MaxDepth)}
}

// position gives the 1-based line and column (in characters) of byte off.
func position(data []byte, off int) (line, col int) {
	line, col = 1, 1
	for i := 0; i < off && i < len(data); i++ {
		switch {
		case data[i] == '\n':
			line, col = line+1, 1
		case data[i] < utf8.RuneSelf || utf8.RuneStart(data[i]):
			col++
		}
	}
	return line, col
}
