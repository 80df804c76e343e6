package planner

import (
	"encoding/json"
	"errors"
	"github.com/keyjob/keyjob/internal/redisx"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyjob/keyjob/jobs"
)

func TestReviewed_Check(t *testing.T) {
	job := &jobs.Job{Path: "job.yaml", SHA256: strings.Repeat("a", 64)}
	plan := func(edit func(*Plan)) *Reviewed {
		p := &Plan{FormatVersion: FormatVersion, Job: JobInfo{SHA256: job.SHA256},
			Target: Target{Server: redisx.Server{Address: "10.0.0.1:6379", DB: 0}}, DBSize: 1000}
		if edit != nil {
			edit(p)
		}
		return &Reviewed{Plan: p, Path: "plan.json"}
	}
	tests := []struct {
		name       string
		edit       func(*Plan)
		addr       string
		size       int64
		allowOther bool
		wantErr    error
		wantWarn   string
	}{
		{name: "Same", addr: "10.0.0.1:6379", size: 1050},
		{name: "OtherVersion", edit: func(p *Plan) { p.Job.SHA256 = "b" }, addr: "10.0.0.1:6379", size: 1000, wantErr: ErrNotReviewed},
		{name: "OtherTarget", addr: "10.0.0.2:6379", size: 1000, wantErr: ErrOtherTarget},
		{name: "OtherTargetAllowed", addr: "10.0.0.2:6379", size: 1000, allowOther: true, wantWarn: "the plan was made against 10.0.0.1:6379/0; applying to 10.0.0.2:6379/0"},
		{name: "Drifted", addr: "10.0.0.1:6379", size: 1200, wantWarn: "1000 keys then, 1200 now"},
		{name: "SizeUnknown", addr: "10.0.0.1:6379", size: -1},
		{name: "PlanErrors", edit: func(p *Plan) { p.Errors = []Message{{Code: "unit_mistake"}} }, addr: "10.0.0.1:6379", size: 1000, wantErr: ErrPlanErrors},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			warns, err := plan(tt.edit).Check(job, tt.addr, 0, tt.size, tt.allowOther)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("got error %v, want %v", err, tt.wantErr)
			}
			got := strings.Join(warns, "\n")
			if tt.wantWarn == "" && got != "" || !strings.Contains(got, tt.wantWarn) {
				t.Errorf("got warnings %q, want %q", got, tt.wantWarn)
			}
		})
	}
}

func TestReadReviewed(t *testing.T) {
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good.json"), filepath.Join(dir, "bad.json")
	b, _ := json.Marshal(&Plan{FormatVersion: FormatVersion, DBSize: 7})
	os.WriteFile(good, b, 0o600)
	os.WriteFile(bad, []byte(`{"format_version": 99}`), 0o600)
	if p, err := ReadReviewed(good); err != nil || p.DBSize != 7 || p.Path != good {
		t.Errorf("good plan: %+v %v", p, err)
	}
	for _, path := range []string{bad, filepath.Join(dir, "missing.json")} {
		if _, err := ReadReviewed(path); !errors.Is(err, ErrNotReviewed) {
			t.Errorf("%s: got %v, want ErrNotReviewed", path, err)
		}
	}
}
