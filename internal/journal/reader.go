package journal

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

// blockSize is how much Reverse reads at a time from the end of the file.
const blockSize = 64 << 10

// maxHeader bounds the header line: a file whose first 64 KiB hold no
// newline is not a journal.
const maxHeader = 64 << 10

// Reader reads a journal: its header, then its records newest first.
type Reader struct {
	f     *os.File
	path  string
	h     Header
	start int64 // first byte after the header line
	end   int64 // end of the last complete line
	// partial is the bytes after end: a last line a crash cut short.
	partial   int64
	blockSize int
}

// Open opens the journal at path and reads its header. A header that is
// missing, cut short, or not a keyjob journal's is a *CorruptError.
func Open(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	r, err := newReader(f, path)
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return r, nil
}

func newReader(f *os.File, path string) (*Reader, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	size := fi.Size()
	r := &Reader{f: f, path: path, blockSize: blockSize}

	head := make([]byte, min(size, maxHeader))
	if _, err := f.ReadAt(head, 0); err != nil && err != io.EOF {
		return nil, fmt.Errorf("read journal %s: %w", path, err)
	}
	i := bytes.IndexByte(head, '\n')
	if i < 0 {
		return nil, &CorruptError{Path: path, Reason: "no complete header line"}
	}
	if r.h, err = decodeHeader(head[:i]); err != nil {
		return nil, &CorruptError{Path: path, Reason: err.Error(), Err: err}
	}
	r.start = int64(i) + 1

	if r.end, err = r.lastLineEnd(r.start, size, make([]byte, r.blockSize)); err != nil {
		return nil, err
	}
	r.partial = size - r.end
	return r, nil
}

// Header is the journal's header.
func (r *Reader) Header() Header { return r.h }

// PartialBytes is the size of a partial last line, left by a crash in the
// middle of a write, that Reverse skips; 0 when the journal ends cleanly.
func (r *Reader) PartialBytes() int64 { return r.partial }

// Close closes the file.
func (r *Reader) Close() error { return r.f.Close() }

// Reverse calls fn for every record, newest first. It reads the file
// backwards a block at a time and holds at most one block and one record in
// memory. A partial last line is skipped (see PartialBytes); any other line
// that does not decode stops it with a *CorruptError giving the line's
// byte offset. An error from fn stops it and is returned as it is. Each
// Record passed to fn is its own: fn may keep it.
func (r *Reader) Reverse(fn func(Record) error) error {
	buf := make([]byte, r.blockSize)
	var long []byte
	pos := r.end // [r.start, pos) holds whole lines, each ending in '\n'
	for pos > r.start {
		lo := max(r.start, pos-int64(len(buf)))
		blk := buf[:pos-lo]
		if err := r.readAt(blk, lo); err != nil {
			return err
		}
		// blk[j] is the newline that ends the line being looked for.
		j := len(blk) - 1
		for {
			i := bytes.LastIndexByte(blk[:j], '\n')
			if i < 0 {
				break
			}
			if err := r.emit(blk[i+1:j], lo+int64(i)+1, fn); err != nil {
				return err
			}
			j = i
		}
		switch {
		case lo == r.start: // blk[:j] is the oldest record
			if err := r.emit(blk[:j], lo, fn); err != nil {
				return err
			}
			pos = lo
		case j < len(blk)-1: // blk[:j] is the end of a line the next block reads whole
			pos = lo + int64(j) + 1
		default: // a line longer than the block: find its start, read it in one piece
			start, err := r.lastLineEnd(r.start, lo, buf)
			if err != nil {
				return err
			}
			if n := pos - start; int64(cap(long)) < n {
				long = make([]byte, n)
			}
			line := long[:pos-start]
			if err := r.readAt(line, start); err != nil {
				return err
			}
			if err := r.emit(line[:len(line)-1], start, fn); err != nil {
				return err
			}
			pos = start
		}
	}
	return nil
}

// emit decodes the line at off (without its newline) and hands it to fn.
func (r *Reader) emit(line []byte, off int64, fn func(Record) error) error {
	if len(line) == 0 {
		return &CorruptError{Path: r.path, Offset: off, Reason: "empty line"}
	}
	rec, err := decodeRecord(line)
	if err != nil {
		return &CorruptError{Path: r.path, Offset: off, Reason: err.Error(), Err: err}
	}
	return fn(rec)
}

// lastLineEnd returns the offset just after the last newline in [lo, hi),
// or lo when there is none, reading backwards through buf.
func (r *Reader) lastLineEnd(lo, hi int64, buf []byte) (int64, error) {
	for hi > lo {
		from := max(lo, hi-int64(len(buf)))
		blk := buf[:hi-from]
		if err := r.readAt(blk, from); err != nil {
			return 0, err
		}
		if i := bytes.LastIndexByte(blk, '\n'); i >= 0 {
			return from + int64(i) + 1, nil
		}
		hi = from
	}
	return lo, nil
}

func (r *Reader) readAt(p []byte, off int64) error {
	if _, err := r.f.ReadAt(p, off); err != nil {
		// io.EOF here means the file shrank under us.
		return fmt.Errorf("read journal %s at byte %d: %w", r.path, off, err)
	}
	return nil
}

// Stats sums up a journal's records.
type Stats struct {
	Records   int64
	Actions   map[string]int64 // Action -> records
	Dumps     int64            // records with a DUMP payload
	DumpBytes int64            // their payloads' bytes
	// PartialBytes is a partial last line's size, skipped (see
	// Reader.PartialBytes).
	PartialBytes int64
}

// Stats reads the whole journal (newest first, like undo will) and sums it
// up; undo shows it before it asks for confirmation.
func (r *Reader) Stats() (Stats, error) {
	s := Stats{Actions: map[string]int64{}, PartialBytes: r.partial}
	err := r.Reverse(func(rec Record) error {
		s.Records++
		s.Actions[rec.Action]++
		if rec.Dump != nil {
			s.Dumps++
			s.DumpBytes += int64(len(rec.Dump))
		}
		return nil
	})
	return s, err
}
