// Package journal is the append-only record of what an apply run changed,
// so that `keyjob undo` can put it back (docs/safety.md, promise 4): for every
// changed key, its previous absolute expiry, what keyjob did, and with
// backup: dump its DUMP payload.
//
// A journal is JSON lines: a header line, then one line per changed key.
// The executor appends a batch's records and calls Writer.Sync before it
// sends the batch, so a record is durable before its change exists. A crash
// can therefore leave only a partial last line, whose change was never
// sent: OpenAppend cuts it off before a resume appends, and Reader skips
// and counts it. Undo reads newest first (Reader.Reverse), streaming from
// the end of the file, so a journal of millions of records and payloads is
// never held in memory.
//
// Journals hold data: mode 0600, never overwritten (Create uses O_EXCL).
//
// It is pure file I/O: it must not depend on Redis, the network, or any
// keyjob package but internal/fsync.
package journal

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Version is the only journal format this build reads and writes.
const Version = 1

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
)

// NoExpire is Record.PrevExpireMs of a key that had no TTL.
const NoExpire = -1

var (
	// ErrCorrupt is wrapped by every *CorruptError.
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
	// Action is ActionExpire, ActionDelete or ActionPersist.
	Action string
	// NewExpireMs is the absolute expiry keyjob set (ActionExpire), else 0.
	NewExpireMs int64
	// Dump is the key's DUMP payload with backup: dump, else nil.
	Dump []byte
}

// Path is where the journal of a run lives: beside the job's checkpoint,
// named after the run.
func Path(stateDir, jobName, runID string) string {
	return filepath.Join(stateDir, jobName, runID+".journal")
}

// CorruptError is a journal, or one line of it, that cannot be read.
type CorruptError struct {
	Path string
	// Offset is the byte offset of the line at fault (0: the header).
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
	if err := strictUnmarshal(line, &h); err != nil {
		return h, fmt.Errorf("not a keyjob journal header: %w", err)
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
	default:
		return fmt.Errorf("key %q: unknown action %q", r.Key, r.Action)
	}
	return nil
}

// appendRecord encodes r as one JSON line:
//
//	{"k":"name","t":"string","p":-1,"a":"expire","n":1755302811000,"d":"base64"}
//
// The key goes in "k" when it is valid UTF-8 and base64 in "kb" otherwise:
// encoding/json would replace invalid bytes with U+FFFD, and undo would put
// back the wrong key. It is written by hand because encoding/json costs
// several times as much, on the hot path of every change.
func appendRecord(b []byte, r *Record) []byte {
	b = append(b, '{')
	if utf8.ValidString(r.Key) {
		b = append(b, `"k":`...)
		b = appendString(b, r.Key)
	} else {
		b = append(b, `"kb":"`...)
		b = base64.StdEncoding.AppendEncode(b, []byte(r.Key))
		b = append(b, '"')
	}
	if r.Type != "" {
		b = append(b, `,"t":`...)
		b = appendString(b, r.Type)
	}
	b = append(b, `,"p":`...)
	b = strconv.AppendInt(b, r.PrevExpireMs, 10)
	b = append(b, `,"a":`...)
	b = appendString(b, r.Action)
	if r.NewExpireMs != 0 {
		b = append(b, `,"n":`...)
		b = strconv.AppendInt(b, r.NewExpireMs, 10)
	}
	if len(r.Dump) > 0 {
		b = append(b, `,"d":"`...)
		b = base64.StdEncoding.AppendEncode(b, r.Dump)
		b = append(b, '"')
	}
	return append(b, '}', '\n')
}

// appendString appends s, valid UTF-8, as a JSON string.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// wireRecord is a record line as JSON has it. Pointers tell a missing field
// from a zero one.
type wireRecord struct {
	K  *string `json:"k"`
	KB []byte  `json:"kb"`
	T  string  `json:"t"`
	P  *int64  `json:"p"`
	A  string  `json:"a"`
	N  int64   `json:"n"`
	D  []byte  `json:"d"`
}

func decodeRecord(line []byte) (Record, error) {
	var w wireRecord
	if err := strictUnmarshal(line, &w); err != nil {
		return Record{}, err
	}
	var r Record
	switch {
	case w.K != nil && w.KB != nil:
		return r, errors.New(`both "k" and "kb"`)
	case w.K != nil:
		r.Key = *w.K
	case w.KB != nil:
		r.Key = string(w.KB)
	default:
		return r, errors.New("no key")
	}
	if w.P == nil {
		return r, errors.New(`no previous expiry ("p")`)
	}
	r.Type, r.PrevExpireMs, r.Action, r.NewExpireMs = w.T, *w.P, w.A, w.N
	if len(w.D) > 0 {
		r.Dump = w.D
	}
	return r, r.validate()
}

// strictUnmarshal is json.Unmarshal that refuses unknown fields: a line
// keyjob did not write is not guessed at.
func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.InputOffset() != int64(len(data)) {
		return errors.New("data after the JSON object")
	}
	return nil
}
