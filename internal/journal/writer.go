package journal

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/keyjob/keyjob/internal/fsync"
)

// groupWindow is the least time between the starts of two fsyncs. A
// batch journaled within it of the last fsync waits for the rest of it,
// and every batch appended meanwhile shares the next fsync: on a disk
// where an fsync costs about a millisecond, the fsyncs of a fast run drop
// from one per batch to one per window, and the executor's pipeline
// (several batches decided ahead of their send) keeps the server busy
// while it waits.
const groupWindow = 4 * time.Millisecond

// maxKept bounds the encoding buffers the Writer keeps between syncs, so
// one batch of large DUMP payloads does not stay in memory for the rest of
// the run.
const maxKept = 1 << 20

// Writer appends batches to a journal. It is safe for concurrent use; the
// records of one Append call stay together.
type Writer struct {
	mu   sync.Mutex
	cond *sync.Cond
	f    *os.File
	path string
	h    Header
	// pend is encoded and not yet written; the syncing goroutine writes
	// it with one system call before its fsync.
	pend, spare []byte
	size        int64 // bytes in the journal, pending ones included
	synced      int64 // durable bytes
	syncing     bool
	seq         uint64 // the last frame's sequence number
	records     int64
	durable     int64 // records durable
	dropped     int64
	syncs       SyncStats
	lastSync    time.Time // when the last fsync began
	// err is sticky: after a failed write the file may end in a partial
	// frame, and appending after it would put damage in the middle.
	err error
}

// SyncStats is how long the journal's fsyncs took: the first suspect
// when a run stalls on a shared disk.
type SyncStats struct {
	Syncs int64
	Total time.Duration
	Max   time.Duration
	// Buckets counts the syncs under 1, 4, 16, 64 and 256 ms, and longer.
	Buckets [6]int64
}

// SyncBuckets are the upper bounds of SyncStats.Buckets but the last.
var SyncBuckets = [5]time.Duration{time.Millisecond, 4 * time.Millisecond, 16 * time.Millisecond, 64 * time.Millisecond, 256 * time.Millisecond}

func (s *SyncStats) add(d time.Duration) {
	s.Syncs++
	s.Total += d
	s.Max = max(s.Max, d)
	i := 0
	for i < len(SyncBuckets) && d >= SyncBuckets[i] {
		i++
	}
	s.Buckets[i]++
}

// Create starts a new journal at path and writes its header, durably. It
// never replaces a file: when path exists, the error wraps fs.ErrExist. The
// file has mode 0600; missing directories are created with mode 0700.
// h.Version 0 means Version, and a zero h.Created means now.
func Create(path string, h Header) (*Writer, error) {
	if h.Version == 0 {
		h.Version = Version
	}
	if h.Created.IsZero() {
		h.Created = time.Now().UTC().Truncate(time.Second)
	}
	if err := h.validate(); err != nil {
		return nil, fmt.Errorf("create journal %s: %w", path, err)
	}
	line, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("create journal %s: %w", path, err)
	}
	line = append(line, '\n')

	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create journal: %w", err)
	}
	f, err := os.OpenFile(path, os.O_EXCL|os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("create journal: %w (journals are never overwritten: resume the run that wrote it, or start a new run)", err)
	}
	if err != nil {
		return nil, fmt.Errorf("create journal: %w", err)
	}
	_, err = f.Write(line)
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = fsync.Dir(dir)
	}
	if err != nil {
		// O_EXCL made the file ours, and it holds no record yet.
		_ = f.Close()
		_ = os.Remove(path)
		return nil, fmt.Errorf("create journal %s: %w", path, err)
	}
	return newWriter(f, path, h, int64(len(line))), nil
}

// OpenAppend reopens the journal at path to continue a run (apply
// --resume), and returns its header for the caller to match against the
// checkpoint. A partial last frame, left by a crash in the middle of a
// write, is cut off first (its changes were never sent: the executor syncs
// before it sends); Dropped says how many bytes went. A journal damaged in
// the middle, or whose run completed, is refused: appending after damage
// would bury it.
func OpenAppend(path string) (*Writer, Header, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		return nil, Header{}, fmt.Errorf("open journal: %w", err)
	}
	w, err := openAppend(f, path)
	if err != nil {
		_ = f.Close()
		return nil, Header{}, err
	}
	return w, w.h, nil
}

func openAppend(f *os.File, path string) (*Writer, error) {
	r, err := newReader(f, path)
	if err != nil {
		return nil, err
	}
	in := r.Integrity()
	switch {
	case len(in.Damaged) > 0:
		return nil, &CorruptError{Path: path, Offset: in.Damaged[0].Offset, Reason: "damaged at " + in.Damaged[0].String() + "; keyjob will not append after damage"}
	case in.Trailer == StatusCompleted:
		return nil, &CorruptError{Path: path, Offset: r.lastEnd, Reason: "its run completed: nothing may be appended"}
	}
	var dropped int64
	if in.Torn != nil {
		dropped = in.Torn.Bytes
		if err := f.Truncate(in.Torn.Offset); err != nil {
			return nil, fmt.Errorf("open journal %s: cut the partial last batch: %w", path, err)
		}
	}
	// Whatever the crashed run wrote and did not sync is made durable (or
	// the cut is), so the Writer starts from a synced file.
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("open journal %s: %w", path, err)
	}
	w := newWriter(f, path, r.h, r.lastEnd)
	if in.Torn == nil {
		w.size, w.synced = r.size, r.size
	}
	w.seq, w.records, w.durable, w.dropped = r.lastSeq, in.Records, in.Records, dropped
	return w, nil
}

func newWriter(f *os.File, path string, h Header, size int64) *Writer {
	// Create and OpenAppend have synced what is in the file.
	w := &Writer{f: f, path: path, h: h, size: size, synced: size}
	w.cond = sync.NewCond(&w.mu)
	return w
}

// Header is the journal's header.
func (w *Writer) Header() Header { return w.h }

// Path is the journal's file.
func (w *Writer) Path() string { return w.path }

// Dropped is the bytes of a partial last frame that OpenAppend cut off; 0
// for a journal from Create.
func (w *Writer) Dropped() int64 { return w.dropped }

// Bytes is the journal's size: the header and every batch appended,
// including those not yet synced.
func (w *Writer) Bytes() int64 { return locked(w, &w.size) }

// Records is the records in the journal, those appended included.
func (w *Writer) Records() int64 { return locked(w, &w.records) }

// DurableRecords is the records known to be durable: at most Records.
func (w *Writer) DurableRecords() int64 { return locked(w, &w.durable) }

// SyncStats is how long the fsyncs so far took.
func (w *Writer) SyncStats() SyncStats { return locked(w, &w.syncs) }

// locked reads a field of w under its lock.
func locked[T any](w *Writer, v *T) T {
	w.mu.Lock()
	defer w.mu.Unlock()
	return *v
}

// Append buffers recs as one batch and returns the journal's size after
// it: the position SyncTo must reach before their changes are sent.
// Records are durable only after that. An invalid record (unknown action,
// an expire without its new expiry, ...) fails the whole call and nothing
// is written.
func (w *Writer) Append(recs ...Record) (int64, error) { return w.AppendBatch("", recs...) }

// AppendBatch is Append with the node whose walk made the batch, which a
// resumed run reads back (Reader.Forward).
func (w *Writer) AppendBatch(node string, recs ...Record) (int64, error) {
	for i := range recs {
		if err := recs[i].validate(); err != nil {
			return 0, fmt.Errorf("append to journal %s: %w", w.path, err)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return 0, w.err
	}
	for len(recs) > 0 {
		n, bytes := 0, 0
		for n < len(recs) && (n == 0 || bytes < splitPayload) {
			bytes += len(recs[n].Key) + len(recs[n].Dump) + 32
			n++
		}
		w.seq++
		before := len(w.pend)
		w.pend = appendBatch(w.pend, w.seq, node, recs[:n])
		w.size += int64(len(w.pend) - before)
		w.records += int64(n)
		recs = recs[n:]
	}
	return w.size, nil
}

// SyncTo returns once the journal is durable up to pos (Append's
// result). One goroutine writes and fsyncs what is pending while the
// others wait for it, or wait to do the next: every batch appended while
// an fsync runs shares the next one (group commit).
func (w *Writer) SyncTo(pos int64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if errors.Is(w.err, errClosed) {
		return w.err
	}
	for w.synced < pos && w.err == nil {
		if w.syncing {
			w.cond.Wait()
			continue
		}
		w.syncing = true
		if wait := time.Until(w.lastSync.Add(groupWindow)); wait > 0 {
			// Gather: the batches appended meanwhile share this fsync.
			w.mu.Unlock()
			t := time.NewTimer(wait)
			<-t.C
			w.mu.Lock()
		}
		data, target, recs := w.pend, w.size, w.records
		w.pend = w.spare[:0]
		w.mu.Unlock()
		t0 := time.Now()
		w.lastSync = t0
		_, err := w.f.Write(data)
		if err == nil {
			err = w.f.Sync()
		}
		took := time.Since(t0)
		w.mu.Lock()
		w.syncing = false
		if cap(data) <= maxKept {
			w.spare = data[:0]
		} else {
			w.spare = nil
		}
		w.syncs.add(took)
		if err != nil {
			w.err = fmt.Errorf("sync journal %s: %w", w.path, err)
		} else {
			w.synced, w.durable = target, recs
		}
		w.cond.Broadcast()
	}
	if w.synced >= pos {
		return nil
	}
	return w.err
}

// Sync makes every batch appended so far durable.
func (w *Writer) Sync() error {
	return w.SyncTo(w.Bytes())
}

// Finish writes a trailer (StatusStopped: the run may be resumed;
// StatusCompleted: the run is over) with the number of records, syncs
// and closes the journal. A run killed before its Finish leaves a
// journal without a trailer, which readers describe as such.
func (w *Writer) Finish(status byte) error {
	w.mu.Lock()
	if w.err == nil {
		w.seq++
		before := len(w.pend)
		w.pend = appendTrailer(w.pend, w.seq, status, w.records)
		w.size += int64(len(w.pend) - before)
	}
	w.mu.Unlock()
	return w.Close()
}

// Close syncs and closes the journal, without a trailer. Later calls of
// any method fail.
func (w *Writer) Close() error {
	err := w.Sync()
	w.mu.Lock()
	defer w.mu.Unlock()
	if errors.Is(w.err, errClosed) {
		return nil
	}
	if cerr := w.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close journal %s: %w", w.path, cerr)
	}
	w.err = fmt.Errorf("journal %s: %w", w.path, errClosed)
	return err
}
