package jobs

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ErrInvalid matches (errors.Is) every error Parse and Load return for a
// file that is not a valid job file, so the CLI can tell a user's mistake
// (exit 4) from a file it could not read.
var ErrInvalid = errors.New("invalid job file")

// Error is one problem in a job file.
//
// Its text is "FILE:LINE:COL: FIELD: MSG (HINT)", for example
//
//	jobs/x.yaml:7:10: action.expire.after: want a duration such as 365d or 1h30m, got "1 year"
//
// without "FIELD: " when the problem is not about one field (a YAML syntax
// error) and without " (HINT)" when there is nothing better to suggest.
type Error struct {
	File      string
	Line, Col int // 1-based, of the value when there is one, else of its key
	// Field is the dotted path of the field, e.g. "select.regex".
	Field string
	// Msg says what was expected and what was found: "want ..., got ...".
	Msg string
	// Hint says what to write instead, when there is something to say.
	Hint string
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d:%d: ", e.File, e.Line, e.Col)
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if e.Hint != "" {
		b.WriteString(" (")
		b.WriteString(e.Hint)
		b.WriteString(")")
	}
	return b.String()
}

// Is makes every Error match ErrInvalid.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// Errors is every problem found in one job file, sorted by position. Parse
// reports them all at once rather than stopping at the first.
type Errors []*Error

// Error gives one line per problem.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap gives the problems to errors.Is and errors.As.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// Is makes Errors match ErrInvalid even when it is empty.
func (es Errors) Is(target error) bool { return target == ErrInvalid }

func (es Errors) sort() {
	sort.SliceStable(es, func(i, j int) bool {
		if es[i].Line != es[j].Line {
			return es[i].Line < es[j].Line
		}
		return es[i].Col < es[j].Col
	})
}
