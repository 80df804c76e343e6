package main

import (
	"context"
	"io"

	"github.com/keyjob/keyjob/internal/redisx"
)

// demoSurvey is step 1 of the demo; survey is not built yet.
func demoSurvey(ctx context.Context, stdout io.Writer, conn redisx.Options, say func(string, ...any)) error {
	return nil
}
