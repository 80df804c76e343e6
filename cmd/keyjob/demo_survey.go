package main

import (
	"context"
	"io"

	"github.com/keyjob/keyjob/internal/redisx"
	"github.com/keyjob/keyjob/jobs"
	"github.com/keyjob/keyjob/survey"
)

// demoSurvey is step 1 of the demo: what is in this Redis, and what has
// no TTL.
func demoSurvey(ctx context.Context, stdout io.Writer, o redisx.Options, say func(string, ...any)) error {
	say("== 1. survey ==\n`keyjob survey` folds every key name into a pattern and shows, per pattern, how many keys have a TTL.\nThis is how the team in the story would have found the problem in minutes, not in half a year:")
	conn, err := redisx.Dial(ctx, o)
	if err != nil {
		return err
	}
	defer conn.Close()
	s, err := survey.Run(ctx, conn, survey.Options{Match: "*", ScanRate: jobs.Unlimited})
	if err != nil {
		return err
	}
	return survey.RenderText(stdout, s)
}
