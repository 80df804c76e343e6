package planner

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/keyjob/keyjob/internal/redisx"
	"os"

	"github.com/keyjob/keyjob/jobs"
)

// Binding a reviewed plan to a run. The errors say what the operator does
// next; ErrNotReviewed and ErrOtherTarget are the operator's arguments (the
// CLI exits 4), ErrPlanErrors is a refusal of the plan itself.
var (
	// ErrNotReviewed: the file is not a plan, or not for this job file.
	ErrNotReviewed = errors.New("not the reviewed plan")
	// ErrOtherTarget: the plan was made against another server or db.
	ErrOtherTarget = errors.New("plan made against another target")
	// ErrPlanErrors: the plan reported errors; apply refuses it.
	ErrPlanErrors = errors.New("plan has errors")
)

// Reviewed is a plan read back from its file, to bind a run to.
type Reviewed struct {
	*Plan
	Path string
}

// bindError is a refusal with the operator's words, matching its kind.
type bindError struct {
	msg  string
	kind error
	err  error // the underlying error, if any
}

func (e *bindError) Error() string        { return e.msg }
func (e *bindError) Is(target error) bool { return target == e.kind }
func (e *bindError) Unwrap() error        { return e.err }

func refuse(kind, err error, format string, args ...any) error {
	return &bindError{msg: fmt.Sprintf(format, args...), kind: kind, err: err}
}

// ReadReviewed reads a plan written by `keyjob plan --format json`.
func ReadReviewed(path string) (*Reviewed, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, refuse(ErrNotReviewed, err, "--plan: %v", err)
	}
	var p Plan
	if err := json.Unmarshal(b, &p); err != nil || p.FormatVersion != FormatVersion {
		return nil, refuse(ErrNotReviewed, err, "--plan %s: not a keyjob plan in JSON (format_version %d): make it with keyjob plan --format json --out PLAN.json", path, FormatVersion)
	}
	return &Reviewed{Plan: &p, Path: path}, nil
}

// Check refuses a run of job against target (address and db) that is not
// the one p was reviewed for: another version of the job file, another
// target unless allowOtherTarget, a plan with errors. It returns the
// warnings to show: the other target when allowed, a keyspace (dbsize now,
// -1 when unknown) more than 10% away from the plan's.
func (p *Reviewed) Check(job *jobs.Job, address string, db int, dbsize int64, allowOtherTarget bool) (warnings []string, err error) {
	if p.Job.SHA256 != job.SHA256 {
		return nil, refuse(ErrNotReviewed, nil, "--plan %s was made for another version of %s (sha256 %.12s…, the file is now %.12s…): plan the job again and have the new plan reviewed", p.Path, job.Path, p.Job.SHA256, job.SHA256)
	}
	now := redisx.Server{Address: address, DB: db}
	if p.Target.Address != address || p.Target.DB != db {
		if !allowOtherTarget {
			return nil, refuse(ErrOtherTarget, nil, "--plan %s was made against %s, not %s: pass --allow-other-target if that was on purpose (a plan made on a replica, say)", p.Path, p.Target, now)
		}
		warnings = append(warnings, fmt.Sprintf("the plan was made against %s; applying to %s (--allow-other-target)", p.Target, now))
	}
	if dbsize >= 0 && drifted(p.DBSize, dbsize) {
		warnings = append(warnings, fmt.Sprintf("the keyspace drifted since the plan: %d keys then, %d now (more than 10%% apart); the plan's counts may not hold", p.DBSize, dbsize))
	}
	if len(p.Errors) > 0 {
		return warnings, refuse(ErrPlanErrors, nil, "--plan %s has errors (%s): apply refuses a plan with errors", p.Path, p.Errors[0].Code)
	}
	return warnings, nil
}

// drifted says whether the keyspace moved more than 10% since the plan.
func drifted(planned, now int64) bool {
	d := float64(now - planned)
	return d*d > 0.01*float64(planned)*float64(planned)
}
