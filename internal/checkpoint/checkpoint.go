// Package checkpoint is the resumable state of one apply run: one JSON file,
// <state-dir>/<job-name>/checkpoint.json, that says where each node's SCAN
// stands and what the run has done so far, so `apply --resume` ends in the
// same keyspace as a run that was never interrupted (docs/safety.md, promise 3).
//
// The file is written atomically (temp file, fsync, rename, fsync of the
// directory), so a crash leaves either the old checkpoint or the new one,
// never a mix. A checkpoint that cannot be read back is a *CorruptError and
// one written for another job file or target is a *ForeignError: neither is
// ever taken for "no checkpoint", which would silently restart the run.
//
// Callers follow "mark, apply, commit": mark (the batch's journal records
// synced), apply (the batch sent), commit (Save with the node's cursor and
// the counts advanced past the batch). A checkpoint never claims work that
// did not happen; a crash between apply and commit makes the resumed run
// redo the batch, which is safe because every action is idempotent and
// every condition is re-checked.
//
// It is pure file I/O: it must not depend on Redis, the network, or any
// keyjob package but internal/fsync.
package checkpoint

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// FormatVersion is the only checkpoint format this build reads and writes.
// Any change to the fields must bump it: Load refuses unknown fields, so an
// older keyjob never resumes from a checkpoint it only half understands.
const FormatVersion = 3

// formatWithoutExpected is the version before Expected: its files read as
// the current one with Expected 0 (the progress has no total until the
// run ends), so a run checkpointed by the previous keyjob still resumes.
const formatWithoutExpected = 2

// FileName is the checkpoint's name inside <state-dir>/<job-name>/.
const FileName = "checkpoint.json"

// MaxCursor bounds a SCAN cursor: a hash table has fewer than 2^48
// buckets, and a cluster's per-slot tables (Valkey 8, Redis 7.4+) put the
// slot in 14 more bits. A cursor above it was not returned by a server.
// A cursor below it is checked against the node itself at resume.
const MaxCursor = 1<<62 - 1

// minRunStartMs is 2001-01-01: a run start before it is not a unix time in
// milliseconds (seconds, most likely).
const minRunStartMs = 978307200000

// maxClockSkew is how far the server's clock (the run's start) may be
// ahead of keyjob's host (the checkpoint's times).
const maxClockSkew = time.Hour

// Target modes.
const (
	ModeStandalone = "standalone"
	ModeCluster    = "cluster"
)

// StandaloneNodeID is Node.ID on a standalone server, which has no CLUSTER
// MYID.
const StandaloneNodeID = "standalone"

var (
	// ErrNotExist is returned (wrapped) by Load and Discard when there is no
	// checkpoint. It is fs.ErrNotExist, so either can be tested.
	ErrNotExist = fs.ErrNotExist
	// ErrCorrupt is wrapped by every *CorruptError.
	ErrCorrupt = errors.New("corrupt checkpoint")
	// ErrForeign is wrapped by every *ForeignError.
	ErrForeign = errors.New("foreign checkpoint")
)

// Checkpoint is the resumable state of one run.
type Checkpoint struct {
	FormatVersion int    `json:"format_version"`
	Job           JobRef `json:"job"`
	Target        Target `json:"target"`
	// RunID is keyjob's id of the run, e.g. "2026-11-22T03-10-04Z"; it
	// names the run's journal and report.
	RunID string `json:"run_id"`
	// RunStartMs is the server's clock (unix ms) at the run's start: fixed
	// TTLs and grace are measured from it, so a resumed run sets the same
	// absolute expiries.
	RunStartMs int64 `json:"run_start_ms"`
	// Nodes has one entry per primary scanned.
	Nodes []Node `json:"nodes"`
	// Counts maps an outcome to its keys, across all resumes. Load never
	// returns it nil.
	Counts map[string]int64 `json:"counts"`
	// Changes is the changes made across all resumes (max_changes counts
	// these).
	Changes int64 `json:"changes"`
	// Expected is the keys the run was expected to scan in all, from the
	// summary or plan it started with: a resumed run's progress shows its
	// total and ETA from it. 0 when unknown.
	Expected int64 `json:"expected,omitempty"`
	// Journal is the path of the run's journal; "" with backup: none.
	Journal string `json:"journal,omitempty"`
	// JournalRecords is the journal's records when the checkpoint was
	// saved, every committed batch's among them: a journal that holds
	// fewer was cut (undo says so).
	JournalRecords int64     `json:"journal_records"`
	Passes         int       `json:"passes"`
	Completed      bool      `json:"completed"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`

	// path is where the checkpoint was last loaded from or saved to, for
	// the messages of Check.
	path string
}

// JobRef names the job file a checkpoint belongs to.
type JobRef struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	// Effect digests what the job does to keys (jobs.Job.EffectSHA256):
	// a job file whose bytes changed but whose effect did not (its guard
	// levels, its rate) may resume the run.
	Effect string `json:"effect_sha256,omitempty"`
}

// Target is the server a run changes. Address is host:port, never a URL:
// a password must not reach the file.
type Target struct {
	Address string `json:"address"`
	DB      int    `json:"db"`
	Mode    string `json:"mode"` // ModeStandalone or ModeCluster
}

// String is the target as reports show it: host:port/db.
func (t Target) String() string { return t.Address + "/" + strconv.Itoa(t.DB) }

// Node is the scan state of one primary.
type Node struct {
	// ID is the node's CLUSTER MYID, or StandaloneNodeID.
	ID   string `json:"id"`
	Addr string `json:"addr"`
	// ServerRunID is INFO server's run_id when the scan started: when it
	// changed (a restart), the cursor means nothing any more.
	ServerRunID string `json:"server_run_id"`
	// Slots are the slot ranges the node served, e.g. "0-5460"; "" on a
	// standalone server.
	Slots string `json:"slots"`
	// Cursor is the SCAN cursor to continue from: "0" at the start.
	Cursor   string `json:"cursor"`
	Done     bool   `json:"done"`
	Restarts int    `json:"restarts"`
	// JournalEnd is the end of the journal frame of the node's last
	// committed batch: its batches after it were journaled and perhaps
	// applied, but not counted (a kill before their commit).
	JournalEnd int64 `json:"journal_end,omitempty"`
	// Counts is the node's share of Checkpoint.Counts: a node rescanned
	// from the start (a restart) has them replaced, not added to.
	Counts map[string]int64 `json:"counts,omitempty"`
	// Ahead are the keys beyond Cursor that a killed invocation changed
	// and a resume counted from the journal (64-bit FNV-1a hashes of the
	// names, sorted): the walk does not count them again when it comes to
	// them, and drops them once it has. Empty but for the few batches
	// after a kill.
	Ahead []uint64 `json:"ahead,omitempty"`
	// Former are the IDs of the primaries that served these slots before
	// a failover: the journal's batches from before it carry those.
	Former []string `json:"former_ids,omitempty"`
}

// JournalIDs are the node IDs the journal's batches of this entry carry:
// its own and those before a failover.
func (n *Node) JournalIDs() []string { return append([]string{n.ID}, n.Former...) }

// New returns a checkpoint for a run that starts now: format version set,
// counts empty, one pass.
func New(job JobRef, target Target, runID string, runStartMs int64) *Checkpoint {
	return &Checkpoint{
		FormatVersion: FormatVersion,
		Job:           job,
		Target:        target,
		RunID:         runID,
		RunStartMs:    runStartMs,
		Counts:        map[string]int64{},
		Passes:        1,
	}
}

// Path is where the checkpoint of a job lives.
func Path(stateDir, jobName string) string {
	return filepath.Join(stateDir, jobName, FileName)
}

// Validate reports the first thing that makes cp unusable for a resume.
// Save refuses such a checkpoint and Load reports it as corrupt.
func (cp *Checkpoint) Validate() error {
	switch {
	case cp.FormatVersion != FormatVersion:
		return fmt.Errorf("format_version is %d, this keyjob reads %d", cp.FormatVersion, FormatVersion)
	case cp.Job.Name == "":
		return errors.New("job.name is missing")
	case cp.Job.SHA256 == "":
		return errors.New("job.sha256 is missing")
	case cp.RunID == "":
		return errors.New("run_id is missing")
	case cp.RunStartMs <= 0:
		return errors.New("run_start_ms is missing")
	case cp.Changes < 0:
		return fmt.Errorf("changes is negative (%d)", cp.Changes)
	case cp.Passes < 0:
		return fmt.Errorf("passes is negative (%d)", cp.Passes)
	case cp.RunStartMs < minRunStartMs:
		return fmt.Errorf("run_start_ms %d is before 2001: not a unix time in ms", cp.RunStartMs)
	case !cp.CreatedAt.IsZero() && cp.RunStartMs > cp.CreatedAt.Add(maxClockSkew).UnixMilli():
		return fmt.Errorf("run_start_ms %d lies after created_at %s: a run cannot start after its checkpoint", cp.RunStartMs, cp.CreatedAt.Format(time.RFC3339))
	case cp.RunStartMs > time.Now().Add(maxClockSkew).UnixMilli():
		return fmt.Errorf("run_start_ms %d is in the future", cp.RunStartMs)
	case !cp.CreatedAt.IsZero() && cp.UpdatedAt.Before(cp.CreatedAt):
		return fmt.Errorf("updated_at %s is before created_at %s", cp.UpdatedAt.Format(time.RFC3339), cp.CreatedAt.Format(time.RFC3339))
	case cp.Changes < cp.Counts["change"]:
		// Changes may be more: after a crash max_changes counts the
		// journal's records, an upper bound.
		return fmt.Errorf("changes (%d) is less than counts[\"change\"] (%d): the counts do not add up", cp.Changes, cp.Counts["change"])
	case cp.Counts["change_grace"] > cp.Counts["change"]:
		return fmt.Errorf("counts[\"change_grace\"] (%d) is more than counts[\"change\"] (%d): the grace changes are some of the changes", cp.Counts["change_grace"], cp.Counts["change"])
	case cp.Journal != "" && cp.JournalRecords < cp.Changes:
		return fmt.Errorf("journal_records (%d) is less than changes (%d): every change is journaled before it is made", cp.JournalRecords, cp.Changes)
	case cp.JournalRecords < 0:
		return fmt.Errorf("journal_records is negative (%d)", cp.JournalRecords)
	}
	if err := validateTarget(cp.Target); err != nil {
		return err
	}
	if len(cp.Nodes) == 0 {
		return errors.New("nodes is empty")
	}
	seen := make(map[string]bool, len(cp.Nodes))
	for i, n := range cp.Nodes {
		if n.ID == "" {
			return fmt.Errorf("nodes[%d].id is missing", i)
		}
		if seen[n.ID] {
			return fmt.Errorf("nodes[%d].id %q appears twice", i, n.ID)
		}
		seen[n.ID] = true
		c, err := strconv.ParseUint(n.Cursor, 10, 64)
		if err != nil {
			return fmt.Errorf("nodes[%d].cursor %q is not a SCAN cursor", i, n.Cursor)
		}
		if c > MaxCursor {
			return fmt.Errorf("nodes[%d].cursor %s is out of range: no server's SCAN returns a cursor above %d", i, n.Cursor, uint64(MaxCursor))
		}
		if n.Done && c != 0 {
			return fmt.Errorf("nodes[%d] is done with cursor %s: a walk ends at cursor 0", i, n.Cursor)
		}
		if n.Restarts < 0 {
			return fmt.Errorf("nodes[%d].restarts is negative (%d)", i, n.Restarts)
		}
		if !slices.IsSorted(n.Ahead) {
			return fmt.Errorf("nodes[%d].ahead is not sorted: a resume writes it sorted", i)
		}
		if int64(len(n.Ahead)) > n.Counts["change"] {
			return fmt.Errorf("nodes[%d].ahead holds %d keys, more than the node's %d changes: every key in it was counted as changed", i, len(n.Ahead), n.Counts["change"])
		}
	}
	done := true
	for _, n := range cp.Nodes {
		done = done && n.Done
	}
	if cp.Completed && !done {
		return errors.New("completed is true while a node is not done")
	}
	for outcome, n := range cp.Counts {
		if n < 0 {
			return fmt.Errorf("counts[%q] is negative (%d)", outcome, n)
		}
	}
	return nil
}

func validateTarget(t Target) error {
	if t.Address == "" {
		return errors.New("target.address is missing")
	}
	// A URL here could carry a password (docs/safety.md, promise 5).
	if strings.Contains(t.Address, "@") || strings.Contains(t.Address, "://") {
		return errors.New("target.address must be host:port, not a URL")
	}
	if _, _, err := net.SplitHostPort(t.Address); err != nil {
		return fmt.Errorf("target.address %q is not host:port", t.Address)
	}
	if t.DB < 0 {
		return fmt.Errorf("target.db is negative (%d)", t.DB)
	}
	if t.Mode != ModeStandalone && t.Mode != ModeCluster {
		return fmt.Errorf("target.mode %q is neither %s nor %s", t.Mode, ModeStandalone, ModeCluster)
	}
	return nil
}

// Check returns a *ForeignError when cp was written for another job file or
// another target than the run that wants to resume it: the job name, the
// job file's sha256, the target's address or db, or its mode when
// target.Mode is not "".
func (cp *Checkpoint) Check(jobName, jobSHA string, target Target) error {
	diffs := []struct{ what, want, got string }{
		{"job name", jobName, cp.Job.Name},
		{"job file sha256", jobSHA, cp.Job.SHA256},
		{"target address", target.Address, cp.Target.Address},
		{"target db", strconv.Itoa(target.DB), strconv.Itoa(cp.Target.DB)},
	}
	if target.Mode != "" {
		diffs = append(diffs, struct{ what, want, got string }{"target mode", target.Mode, cp.Target.Mode})
	}
	for _, d := range diffs {
		if d.want != d.got {
			return &ForeignError{Path: cp.path, What: d.what, Want: d.want, Got: d.got}
		}
	}
	return nil
}

// CorruptError is a checkpoint file that exists but cannot be used.
type CorruptError struct {
	Path   string
	Reason string
	Err    error // the underlying error, if any
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("checkpoint %s is corrupt: %s (keyjob will not guess where the run stood; inspect it, or pass --restart to set it aside and start the run over)", e.Path, e.Reason)
}

// Unwrap lets errors.Is find ErrCorrupt and the underlying error.
func (e *CorruptError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrCorrupt}
	}
	return []error{ErrCorrupt, e.Err}
}

// ForeignError is a checkpoint written for another job file or target.
type ForeignError struct {
	Path string
	What string // "job file sha256", "target address", ...
	Want string // this run's value
	Got  string // the checkpoint's value
}

func (e *ForeignError) Error() string {
	return fmt.Sprintf("checkpoint %s belongs to another run: its %s is %q, this run's is %q (resume with the same job file and target, or pass --restart to set it aside)", e.Path, e.What, e.Got, e.Want)
}

func (e *ForeignError) Unwrap() error { return ErrForeign }

// decode parses and validates a checkpoint file's bytes. Unknown fields and
// trailing data are corruption, not something to skip over.
func decode(data []byte) (*Checkpoint, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("the file is empty")
	}
	var head struct {
		FormatVersion *int `json:"format_version"`
	}
	// Unmarshal rejects a truncated document and trailing data. The version
	// comes first so a checkpoint from another keyjob version says so,
	// rather than reporting one of its fields as unknown.
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("bad JSON: %w", err)
	}
	if head.FormatVersion == nil {
		return nil, errors.New("format_version is missing")
	}
	if *head.FormatVersion != FormatVersion && *head.FormatVersion != formatWithoutExpected {
		return nil, fmt.Errorf("format_version is %d, this keyjob reads %d", *head.FormatVersion, FormatVersion)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var cp Checkpoint
	if err := dec.Decode(&cp); err != nil {
		return nil, fmt.Errorf("bad JSON: %w", err)
	}
	if cp.FormatVersion == formatWithoutExpected {
		if cp.Expected != 0 {
			return nil, fmt.Errorf("format_version %d has no expected field", formatWithoutExpected)
		}
		cp.FormatVersion = FormatVersion
	}
	if err := cp.Validate(); err != nil {
		return nil, err
	}
	if cp.Counts == nil {
		cp.Counts = map[string]int64{}
	}
	return &cp, nil
}
