package jobs

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// Load reads and validates the job file at path. It reads at most
// MaxFileSize bytes: a longer file is an error.
func Load(path string) (*Job, error) {
	data, err := readBounded(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse validates a job file's bytes; path names the file in errors and in
// Job.Path. A file that is not a valid job gives Errors (every problem
// found, sorted by position), which match ErrInvalid.
func Parse(path string, data []byte) (*Job, error) {
	if e := checkBytes(path, data); e != nil {
		return nil, Errors{e}
	}
	t, err := parseTree(path, data)
	if err != nil {
		return nil, err
	}
	t.shape()
	var raw rawJob
	if err := decodeStrict(t.body, &raw); err != nil {
		t.errs = append(t.errs, t.decodeError(err))
		t.errs.sort()
		return nil, t.errs
	}
	v := &validator{t: t}
	job := v.job(&raw)
	if len(t.errs) > 0 {
		t.errs.sort()
		return nil, t.errs
	}
	sum := sha256.Sum256(data)
	job.Path, job.SHA256 = path, hex.EncodeToString(sum[:])
	job.EffectSHA256 = job.effectSHA256()
	return job, nil
}

// parseTree parses the YAML and checks that it is one document holding a
// mapping. Duplicate keys are let through here so that the structure check
// reports them with their field names, next to every other problem.
func parseTree(path string, data []byte) (*tree, error) {
	f, err := parser.ParseBytes(data, 0, parser.AllowDuplicateMapKey())
	if err != nil {
		return nil, Errors{syntaxError(path, err)}
	}
	for _, d := range f.Docs {
		if e := checkDepth(path, d.Body); e != nil {
			return nil, Errors{e}
		}
	}
	if len(f.Docs) > 1 {
		line, col := nodePos(f.Docs[1].Body)
		if start := f.Docs[1].Start; start != nil && start.Position != nil {
			line, col = start.Position.Line, start.Position.Column // the "---"
		}
		return nil, Errors{{File: path, Line: line, Col: col,
			Msg: fmt.Sprintf("want one YAML document, got %d", len(f.Docs))}}
	}
	if len(f.Docs) == 0 || f.Docs[0].Body == nil {
		return nil, Errors{{File: path, Line: 1, Col: 1,
			Msg:  "want a job file, got an empty document",
			Hint: "start with version: 1"}}
	}
	body, ok := f.Docs[0].Body.(*ast.MappingNode)
	if !ok {
		line, col := nodePos(f.Docs[0].Body)
		return nil, Errors{{File: path, Line: line, Col: col,
			Msg: fmt.Sprintf("want %s, got %s", wantOf(reflect.TypeOf(rawJob{})), describe(f.Docs[0].Body))}}
	}
	return newTree(path, body), nil
}

// syntaxError turns the parser's error into an Error. The parser's own
// text carries a source excerpt; the position is in the Error already.
func syntaxError(path string, err error) *Error {
	e := &Error{File: path, Line: 1, Col: 1, Msg: err.Error()}
	var ye yaml.Error
	if errors.As(err, &ye) {
		// A tab in the message would print as blank space.
		e.Msg = "invalid YAML: " + strings.ReplaceAll(ye.GetMessage(), "\t", `\t`)
		if tk := ye.GetToken(); tk != nil && tk.Position != nil {
			e.Line, e.Col = max(tk.Position.Line, 1), max(tk.Position.Column, 1)
		}
	}
	if strings.Contains(e.Msg, `'\t'`) {
		e.Hint = "indent with spaces, not tabs"
	}
	return e
}

// decodeStrict fills raw from the checked tree. Strict: a field the raw
// structs do not know is an error even if the structure check missed it.
func decodeStrict(body ast.Node, raw *rawJob) error {
	return yaml.NewDecoder(strings.NewReader(""), yaml.Strict()).DecodeFromNode(body, raw)
}

// decodeError turns a decoder error into an Error naming the field. The
// structure check catches what the decoder would refuse, so this is the
// safety net, not the usual path.
func (t *tree) decodeError(err error) *Error {
	e := &Error{File: t.file, Line: 1, Col: 1, Msg: err.Error()}
	var ye yaml.Error
	if !errors.As(err, &ye) {
		return e
	}
	if tk := ye.GetToken(); tk != nil {
		e.Field = t.names[tk]
		if tk.Position != nil {
			e.Line, e.Col = max(tk.Position.Line, 1), max(tk.Position.Column, 1)
		}
	}
	e.Msg = decodeMessage(err, ye)
	return e
}

func decodeMessage(err error, ye yaml.Error) string {
	got := "nothing"
	if tk := ye.GetToken(); tk != nil {
		got = fmt.Sprintf("%q", tk.Value)
	}
	var (
		te *yaml.TypeError
		ue *yaml.UnknownFieldError
		ne *yaml.UnexpectedNodeTypeError
		oe *yaml.OverflowError
	)
	switch {
	case errors.As(err, &te):
		return fmt.Sprintf("want %s, got %s", wantOf(te.DstType), got)
	case errors.As(err, &ue):
		return ue.Message
	case errors.As(err, &ne):
		return fmt.Sprintf("want a %s, got %s", strings.ToLower(ne.Expected.String()), got)
	case errors.As(err, &oe):
		return fmt.Sprintf("want an integer that fits in %s, got %s", oe.DstType, oe.SrcNum)
	}
	return ye.GetMessage()
}
