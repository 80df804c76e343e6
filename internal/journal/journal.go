// Package journal is the append-only record of what an apply run changed,
// so that `keyjob undo` can put it back (docs/safety.md, promise 4): for every
// changed key, its previous absolute expiry, what keyjob did, and with
// backup: dump its DUMP payload.
//
// A journal is a JSON header line, then binary frames (docs/journal.md has
// the byte layout). A batch of changes is one frame: its records share
// what they have in common (the action; under `when: no_ttl` the previous
// state, "no TTL"), so a change costs its key's bytes and a few more. Each
// frame carries its sequence number and a CRC-32C, and ends in its length
// so that it can be read from the end. A run that stops cleanly writes a
// trailer frame with the number of records so far ("stopped", or
// "completed" at the end of the run); a resumed run appends after it. So a
// journal says what it is: whole (a trailer last), of a run still going or
// killed (no trailer), cut short (a partial frame at the end) or damaged
// (a frame whose checksum or sequence is wrong, with intact frames after
// it). Reader finds out when it opens the file; undo refuses anything but
// the first two unless asked to undo the intact records knowingly.
//
// The executor appends a batch's frame and waits for it to be durable
// (Writer.SyncTo) before it sends the batch, so a change never exists
// before its record. Concurrent SyncTo calls share one fsync (group
// commit): the batches of a cluster's shards, or a batch appended while
// the previous one syncs, cost one fsync together.
//
// Journals hold data: mode 0600, never overwritten (Create uses O_EXCL).
//
// It is pure file I/O: it must not depend on Redis, the network, or any
// keyjob package but internal/fsync.
package journal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// Version is the only journal format this build reads and writes. Version
// 1 (JSON lines, keyjob before the framed format) is refused with a hint.
const Version = 2

// Backup modes a journal is written for (the job's backup field; backup:
// none writes no journal).
const (
	BackupJournal = "journal"
	BackupDump    = "dump"
)

// Actions a record can say keyjob took.
const (
	ActionExpire  = "expire"
	ActionDelete  = "delete"
	ActionPersist = "persist"
	// ActionUnchanged follows, after the batch was sent, a record whose
	// change the server did not make (EXPIRE NX found a TTL): undo must
	// not take the older record's previous state for the truth.
	ActionUnchanged = "unchanged"
	// ActionTrim removed the record's Members from the sorted set at Key
	// (a job with members:); undo adds them back with their scores.
	ActionTrim = "trim"
	// The field actions changed the record's Fields of the hash at Key (a
	// job with fields:): gave them an expiry, removed it, deleted them.
	// Undo puts back each field's previous expiry, and a deleted field's
	// value.
	ActionFieldExpire  = "field-expire"
	ActionFieldPersist = "field-persist"
	ActionFieldDelete  = "field-delete"
	// ActionStreamTrim removed the entries Stream.IDs from the stream at
	// Key (a job with members: on streams). The first record of a key in
	// each invocation of apply carries the stream's DUMP before its first
	// removal and the XINFO STREAM figures of that moment; undo restores
	// the dump while the stream has not been written since.
	ActionStreamTrim = "stream-trim"
)

// IsFieldAction says whether a record's action is on a hash's fields.
func IsFieldAction(action string) bool {
	return action == ActionFieldExpire || action == ActionFieldPersist || action == ActionFieldDelete
}

// NoExpire is Record.PrevExpireMs of a key that had no TTL.
const NoExpire = -1

var (
	// ErrCorrupt is wrapped by every *CorruptError and *DamagedError.
	ErrCorrupt = errors.New("corrupt journal")
	// errClosed is returned by a Writer's methods after Close.
	errClosed = errors.New("journal is closed")
)

// Header is a journal's first line.
type Header struct {
	Version int       `json:"journal"` // Version
	Job     string    `json:"job"`
	SHA256  string    `json:"sha256"` // of the job file
	Target  string    `json:"target"` // host:port/db, never a URL
	RunID   string    `json:"run_id"`
	Backup  string    `json:"backup"` // BackupJournal or BackupDump
	Created time.Time `json:"created"`
}

// Record is what keyjob did to one key.
type Record struct {
	// Key is the key's name, byte for byte (it need not be UTF-8).
	Key string
	// Type is the key's type ("string", "hash", ...) when known, else "".
	Type string
	// PrevExpireMs is the key's absolute expiry (unix ms) before the
	// change, or NoExpire.
	PrevExpireMs int64
	// Action is ActionExpire, ActionDelete, ActionPersist or
	// ActionUnchanged.
	Action string
	// NewExpireMs is the absolute expiry keyjob set (ActionExpire), else 0.
	NewExpireMs int64
	// Dump is the key's DUMP payload with backup: dump, else nil.
	Dump []byte
	// Members are the sorted-set members an ActionTrim record removed,
	// with their scores; nil for every other action.
	Members []Member
	// Stream is what an ActionStreamTrim record removed and, with its
	// Dump, the stream's figures at the dump; nil for every other action.
	Stream *StreamTrim
	// Fields are the hash fields a field action changed; nil for every
	// other action.
	Fields []Field
}

// Field is one hash field a field action changed: its expiry before the
// change (NoExpire or unix ms) and the one keyjob set (field-expire),
// and with backup: dump the value of a deleted field.
type Field struct {
	Name     string
	PrevMs   int64
	NewMs    int64
	HasValue bool
	Value    string
}

// StreamTrim is the stream part of an ActionStreamTrim record.
type StreamTrim struct {
	// IDs are the entries the chunk removes (XDEL of exactly these).
	IDs []string
	// With the record's Dump, XINFO STREAM when it was taken:
	// last-generated-id, entries-added (-1 on a server before Redis 7,
	// which has no such figure) and length. "", 0, 0 without a dump.
	LastID       string
	EntriesAdded int64
	Length       int64
	// Groups is, with the dump, its consumer groups as XINFO GROUPS gave
	// them (name, last delivered ID, pending, consumers; "" for none):
	// undo restores the dump only while they are the same.
	Groups string
}

// Member is one sorted-set member and its score, as the server wrote it
// (ZRANGE ... WITHSCORES: the shortest decimal that reads back as the
// same double, or inf/-inf), so ZADD puts back the very same score.
type Member struct {
	Member string
	Score  string
}

// Path is where the journal of a run lives: beside the job's checkpoint,
// named after the run.
func Path(stateDir, jobName, runID string) string {
	return filepath.Join(stateDir, jobName, runID+".journal")
}

// CorruptError is a journal that cannot be read at all (its header), or
// cannot be appended to.
type CorruptError struct {
	Path string
	// Offset is the byte offset at fault (0: the header).
	Offset int64
	Reason string
	Err    error // the underlying error, if any
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("journal %s is corrupt at byte %d: %s", e.Path, e.Offset, e.Reason)
}

// Unwrap lets errors.Is find ErrCorrupt and the underlying error.
func (e *CorruptError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrCorrupt}
	}
	return []error{ErrCorrupt, e.Err}
}

func (h *Header) validate() error {
	switch {
	case h.Version == 1:
		return errors.New("journal format 1 (JSON lines) was written by an older keyjob: undo it with the keyjob version that wrote it")
	case h.Version != Version:
		return fmt.Errorf("journal version is %d, this keyjob reads %d", h.Version, Version)
	case h.Job == "":
		return errors.New("header: job is missing")
	case h.SHA256 == "":
		return errors.New("header: sha256 is missing")
	case h.RunID == "":
		return errors.New("header: run_id is missing")
	case h.Target == "":
		return errors.New("header: target is missing")
	case strings.Contains(h.Target, "@") || strings.Contains(h.Target, "://"):
		// A URL could carry a password (docs/safety.md, promise 5).
		return errors.New("header: target must be host:port/db, not a URL")
	case h.Backup != BackupJournal && h.Backup != BackupDump:
		return fmt.Errorf("header: backup %q is neither %s nor %s", h.Backup, BackupJournal, BackupDump)
	case h.Created.IsZero():
		return errors.New("header: created is missing")
	}
	return nil
}

func decodeHeader(line []byte) (Header, error) {
	var h Header
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return h, fmt.Errorf("not a keyjob journal header: %w", err)
	}
	if dec.InputOffset() != int64(len(line)) {
		return h, errors.New("not a keyjob journal header: data after the JSON object")
	}
	return h, h.validate()
}

func (r *Record) validate() error {
	if r.PrevExpireMs != NoExpire && r.PrevExpireMs <= 0 {
		return fmt.Errorf("key %q: previous expiry %d is neither %d (no TTL) nor a unix time in ms", r.Key, r.PrevExpireMs, NoExpire)
	}
	switch r.Action {
	case ActionExpire:
		if r.NewExpireMs <= 0 {
			return fmt.Errorf("key %q: expire without a new expiry", r.Key)
		}
	case ActionDelete, ActionPersist, ActionUnchanged:
		if r.NewExpireMs != 0 {
			return fmt.Errorf("key %q: %s with a new expiry", r.Key, r.Action)
		}
		if len(r.Members) > 0 || len(r.Fields) > 0 || r.Stream != nil {
			return fmt.Errorf("key %q: %s with members or fields", r.Key, r.Action)
		}
	case ActionTrim:
		if r.NewExpireMs != 0 || len(r.Members) == 0 || len(r.Fields) > 0 || r.Stream != nil {
			return fmt.Errorf("key %q: trim needs its members and no new expiry", r.Key)
		}
	case ActionStreamTrim:
		if r.NewExpireMs != 0 || len(r.Members) > 0 || len(r.Fields) > 0 || r.Stream == nil || len(r.Stream.IDs) == 0 {
			return fmt.Errorf("key %q: stream-trim needs its entry IDs and no new expiry", r.Key)
		}
		if len(r.Dump) > 0 && (r.Stream.LastID == "" || r.Stream.Length < 0) {
			return fmt.Errorf("key %q: stream-trim with a dump needs the stream's last ID and length", r.Key)
		}
	case ActionFieldExpire, ActionFieldPersist, ActionFieldDelete:
		if r.NewExpireMs != 0 || len(r.Fields) == 0 || len(r.Members) > 0 {
			return fmt.Errorf("key %q: %s needs its fields and no new expiry of the key", r.Key, r.Action)
		}
		for _, f := range r.Fields {
			if f.PrevMs != NoExpire && f.PrevMs <= 0 || (r.Action == ActionFieldExpire) != (f.NewMs > 0) {
				return fmt.Errorf("key %q: %s of field %q with expiry %d -> %d", r.Key, r.Action, f.Name, f.PrevMs, f.NewMs)
			}
		}
	default:
		return fmt.Errorf("key %q: unknown action %q", r.Key, r.Action)
	}
	return nil
}
