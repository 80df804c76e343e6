package jobs

import (
	"errors"
	"fmt"
	"testing"
)

func TestError_Error(t *testing.T) {
	for _, tc := range []struct {
		e    Error
		want string
	}{
		{Error{File: "jobs/x.yaml", Line: 7, Col: 10, Field: "action.expire.after", Msg: `want a duration such as 365d or 1h30m, got "1 year"`},
			`jobs/x.yaml:7:10: action.expire.after: want a duration such as 365d or 1h30m, got "1 year"`},
		{Error{File: "x.yaml", Line: 3, Col: 1, Msg: "invalid YAML: found character '\t' that cannot start any token", Hint: "indent with spaces, not tabs"},
			"x.yaml:3:1: invalid YAML: found character '\t' that cannot start any token (indent with spaces, not tabs)"},
		{Error{File: "x.yaml", Line: 5, Col: 10, Field: "select.match", Msg: `want a glob narrower than the whole keyspace, got "*"`, Hint: "set select.allow_all: true to scan the whole keyspace"},
			`x.yaml:5:10: select.match: want a glob narrower than the whole keyspace, got "*" (set select.allow_all: true to scan the whole keyspace)`},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
	}
}

func TestErrors_IsAs(t *testing.T) {
	es := Errors{
		{File: "x.yaml", Line: 9, Col: 1, Field: "b", Msg: "second"},
		{File: "x.yaml", Line: 2, Col: 5, Field: "a", Msg: "first"},
	}
	es.sort()
	var err error = fmt.Errorf("validate: %w", es)
	if got, want := es.Error(), "x.yaml:2:5: a: first\nx.yaml:9:1: b: second"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Error("errors.Is(err, ErrInvalid) = false")
	}
	var e *Error
	if !errors.As(err, &e) || e.Field != "a" {
		t.Errorf("errors.As found %v, want the first problem", e)
	}
	var all Errors
	if !errors.As(err, &all) || len(all) != 2 {
		t.Errorf("errors.As(Errors) = %v", all)
	}
	if errors.Is(errors.New("other"), ErrInvalid) {
		t.Error("an unrelated error matches ErrInvalid")
	}
}
