package journal

import (
	"bufio"
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

// bufSize is the Writer's buffer: a few thousand small records between
// syncs without a write system call each.
const bufSize = 256 << 10

// maxKeptScratch bounds the encoding buffer the Writer keeps between
// Appends, so one 16 MiB DUMP payload does not stay in memory for the rest
// of the run.
const maxKeptScratch = 1 << 20

// Writer appends records to a journal. It is safe for concurrent use; the
// records of one Append call stay together.
type Writer struct {
	mu      sync.Mutex
	f       *os.File
	bw      *bufio.Writer
	path    string
	h       Header
	size    int64 // bytes in the journal, buffered ones included
	synced  int64 // size at the last sync: a batch with no records costs no fsync
	dropped int64
	scratch []byte
	// err is sticky: after a failed write the file may end in a partial
	// line, and appending after it would put corruption in the middle.
	err error
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
	return newWriter(f, path, h, int64(len(line)), 0), nil
}

// OpenAppend reopens the journal at path to continue a run (apply
// --resume), and returns its header for the caller to match against the
// checkpoint. A partial last line, left by a crash in the middle of a
// write, is cut off first (its change was never sent: the executor syncs
// before it sends); Dropped says how many bytes went. The last complete
// record must decode: appending after a corrupt tail would bury it.
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

var errStop = errors.New("stop")

func openAppend(f *os.File, path string) (*Writer, error) {
	r, err := newReader(f, path)
	if err != nil {
		return nil, err
	}
	if err := r.Reverse(func(Record) error { return errStop }); err != nil && !errors.Is(err, errStop) {
		return nil, err
	}
	if r.partial > 0 {
		if err := f.Truncate(r.end); err != nil {
			return nil, fmt.Errorf("open journal %s: cut the partial last line: %w", path, err)
		}
	}
	// Whatever the crashed run wrote and did not sync is made durable (or
	// the cut is), so the Writer starts from a synced file.
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("open journal %s: %w", path, err)
	}
	return newWriter(f, path, r.h, r.end, r.partial), nil
}

func newWriter(f *os.File, path string, h Header, size, dropped int64) *Writer {
	// Create and OpenAppend have synced what is in the file.
	return &Writer{f: f, bw: bufio.NewWriterSize(f, bufSize), path: path, h: h, size: size, synced: size, dropped: dropped}
}

// Header is the journal's header.
func (w *Writer) Header() Header { return w.h }

// Path is the journal's file.
func (w *Writer) Path() string { return w.path }

// Dropped is the bytes of a partial last line that OpenAppend cut off; 0
// for a journal from Create.
func (w *Writer) Dropped() int64 { return w.dropped }

// Bytes is the journal's size: the header and every record appended,
// including those not yet synced.
func (w *Writer) Bytes() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.size
}

// Append buffers records. They are durable only after Sync: call it before
// sending the changes they describe. An invalid record (unknown action, an
// expire without its new expiry, ...) fails the whole call and nothing is
// written.
func (w *Writer) Append(recs ...Record) error {
	for i := range recs {
		if err := recs[i].validate(); err != nil {
			return fmt.Errorf("append to journal %s: %w", w.path, err)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	for i := range recs {
		w.scratch = appendRecord(w.scratch[:0], &recs[i])
		n, err := w.bw.Write(w.scratch)
		w.size += int64(n)
		if err != nil {
			w.err = fmt.Errorf("append to journal %s: %w", w.path, err)
			return w.err
		}
	}
	if cap(w.scratch) > maxKeptScratch {
		w.scratch = nil
	}
	return nil
}

// Sync makes every record appended so far durable (flush, fsync).
func (w *Writer) Sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sync()
}

func (w *Writer) sync() error {
	if w.err != nil {
		return w.err
	}
	if w.synced == w.size {
		return nil
	}
	if err := w.bw.Flush(); err != nil {
		w.err = fmt.Errorf("write journal %s: %w", w.path, err)
		return w.err
	}
	if err := w.f.Sync(); err != nil {
		w.err = fmt.Errorf("sync journal %s: %w", w.path, err)
		return w.err
	}
	w.synced = w.size
	return nil
}

// Close syncs and closes the journal. Later calls of any method fail.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if errors.Is(w.err, errClosed) {
		return nil
	}
	err := w.sync()
	if cerr := w.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close journal %s: %w", w.path, cerr)
	}
	w.err = fmt.Errorf("journal %s: %w", w.path, errClosed)
	return err
}
