//go:build !linux

package main

import (
	"context"

	"github.com/keyjob/keyjob/apply"
)

// operatorKeys is Linux-only for now; elsewhere the pause file steers.
func operatorKeys(context.Context, *apply.Control) func() { return func() {} }
