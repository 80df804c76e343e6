package main_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/keyjob/keyjob/apply"
	"github.com/keyjob/keyjob/guard"
)

// The gate's abort reaches the executor through apply.Aborter, a named
// interface, not a type the executor imports.
var _ apply.Aborter = (*guard.AbortError)(nil)

func TestAborter_GuardAbortWrapped(t *testing.T) {
	err := fmt.Errorf("gate: %w", &guard.AbortError{Guard: "aof", Reason: "grew 300MiB"})
	var a apply.Aborter
	if !errors.As(err, &a) {
		t.Fatal("a wrapped guard abort is not an apply.Aborter")
	}
	if g, r := a.Abort(); g != "aof" || r != "grew 300MiB" {
		t.Errorf("got %q %q", g, r)
	}
}
