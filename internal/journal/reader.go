package journal

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"strings"
)

// maxHeader bounds the header line: a file whose first 64 KiB hold no
// newline is not a journal.
const maxHeader = 64 << 10

// window is how much the Reader reads at a time.
const window = 1 << 20

// Integrity is what a journal turned out to be when it was read whole.
type Integrity struct {
	// Records and Frames are the intact ones, trailers not counted.
	Records int64
	Frames  int64
	// Trailer is the status of the journal's last frame when it is a
	// trailer (StatusStopped, StatusCompleted), 0 when there is none: the
	// run is still going or was killed.
	Trailer byte
	// Damaged are the places in the middle of the journal that do not
	// read, with intact frames after them.
	Damaged []Damage
	// Torn is a partial frame at the end (a crash while it was written,
	// or a file cut short); nil when the journal ends on a whole frame.
	Torn *Damage
}

// Whole says whether the journal has nothing damaged and nothing torn.
func (in Integrity) Whole() bool { return len(in.Damaged) == 0 && in.Torn == nil }

// Damage is one stretch of a journal that does not read.
type Damage struct {
	Offset int64 // its first byte
	Bytes  int64
	// RecordsBefore is the intact records before it: the damage is at
	// record RecordsBefore+1.
	RecordsBefore int64
	Reason        string
}

func (d Damage) String() string {
	return fmt.Sprintf("record %d (a batch at byte %d, %d bytes): %s", d.RecordsBefore+1, d.Offset, d.Bytes, d.Reason)
}

// DamagedError is a journal that is not whole, returned by Reverse
// unless the caller chose to read its intact records (AllowDamaged).
type DamagedError struct {
	Path string
	Integrity
}

func (e *DamagedError) Error() string {
	var parts []string
	for _, d := range e.Damaged {
		parts = append(parts, "damaged at "+d.String())
	}
	if e.Torn != nil {
		parts = append(parts, fmt.Sprintf("cut short at record %d: its last %d bytes (from byte %d) are not a whole batch (a crash while it was written, or a file cut short)", e.Torn.RecordsBefore+1, e.Torn.Bytes, e.Torn.Offset))
	}
	return fmt.Sprintf("journal %s is not whole: %s; %d records are intact", e.Path, strings.Join(parts, "; "), e.Records)
}

// Unwrap lets errors.Is find ErrCorrupt.
func (e *DamagedError) Unwrap() error { return ErrCorrupt }

// segment is a run of intact frames.
type segment struct{ start, end int64 }

// Reader reads a journal: its header, then its records newest first.
type Reader struct {
	f     *os.File
	path  string
	h     Header
	size  int64
	start int64 // first byte after the header line
	in    Integrity
	segs  []segment
	// lastEnd is the end of the last intact frame (start when none).
	lastEnd int64
	// lastSeq is the last intact frame's sequence number.
	lastSeq uint64
	partial bool

	buf    []byte // a window of the file, from bufOff
	bufOff int64
}

// Open opens the journal at path, reads its header and checks every
// frame. A header that is missing, cut short, or not a keyjob journal's
// is a *CorruptError; damage after it is described by Integrity.
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
	r := &Reader{f: f, path: path, size: fi.Size()}
	head := make([]byte, min(r.size, maxHeader))
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
	if err := r.check(); err != nil {
		return nil, err
	}
	return r, nil
}

// Header is the journal's header.
func (r *Reader) Header() Header { return r.h }

// Integrity is what Open found the journal to be.
func (r *Reader) Integrity() Integrity { return r.in }

// AllowDamaged makes Reverse read the intact records of a journal that is
// not whole, skipping what is damaged (undo --partial).
func (r *Reader) AllowDamaged() { r.partial = true }

// Close closes the file.
func (r *Reader) Close() error { return r.f.Close() }

// read returns n bytes of the file at off (fewer at its end), from the
// window when they are in it.
func (r *Reader) read(off int64, n int) ([]byte, error) {
	n = int(min(int64(n), r.size-off))
	if n <= 0 {
		return nil, nil
	}
	if off >= r.bufOff && off+int64(n) <= r.bufOff+int64(len(r.buf)) {
		return r.buf[off-r.bufOff:][:n], nil
	}
	size := int(min(max(int64(window), int64(n)), r.size-off))
	if cap(r.buf) < size {
		r.buf = make([]byte, size)
	}
	r.buf = r.buf[:size]
	if _, err := r.f.ReadAt(r.buf, off); err != nil && err != io.EOF {
		r.buf = r.buf[:0]
		return nil, fmt.Errorf("read journal %s at byte %d: %w", r.path, off, err)
	}
	r.bufOff = off
	return r.buf[:n], nil
}

// frameAt returns the intact frame that starts at off, or nil.
func (r *Reader) frameAt(off int64) ([]byte, error) {
	head, err := r.read(off, frameHead)
	if err != nil || len(head) < frameHead || (head[0] != kindBatch && head[0] != kindTrailer) {
		return nil, err
	}
	p := binary.LittleEndian.Uint32(head[1:])
	if p > maxPayload || off+int64(p)+frameOverhead > r.size {
		return nil, nil
	}
	b, err := r.read(off, int(p)+frameOverhead)
	if err != nil {
		return nil, err
	}
	if _, ok := frameLen(b); !ok {
		return nil, nil
	}
	return b, nil
}

// check reads the journal forward and finds its intact frames, its
// damage, its trailer and a torn end.
func (r *Reader) check() error {
	pos, expect := r.start, uint64(1)
	segStart := pos
	var after *Damage // the damage just before pos, to merge its resync
	for pos < r.size {
		b, err := r.frameAt(pos)
		if err != nil {
			return err
		}
		var f frame
		reason := ""
		if b == nil {
			reason = "the checksum or the length does not match"
		} else if f, err = decodeFrame(b, false); err != nil {
			reason = "it does not decode: " + err.Error()
		}
		if reason == "" {
			switch {
			case after == nil && f.seq != expect:
				reason = fmt.Sprintf("batch %d was expected, %d found: batches are missing", expect, f.seq)
			case r.in.Trailer == StatusCompleted:
				reason = "data after the trailer of a completed run"
			case f.kind == kindTrailer && len(r.in.Damaged) == 0 && f.records != r.in.Records:
				reason = fmt.Sprintf("the trailer counts %d records, the batches before it hold %d", f.records, r.in.Records)
			}
			if reason != "" {
				r.damage(pos, int64(len(b)), reason, segStart)
				pos += int64(len(b))
				segStart, expect, after = pos, f.seq+1, nil
				continue
			}
		}
		if reason != "" {
			next, err := r.resync(pos + 1)
			if err != nil {
				return err
			}
			if next < 0 {
				r.closeSeg(segStart, pos)
				r.in.Torn = &Damage{Offset: pos, Bytes: r.size - pos, RecordsBefore: r.in.Records, Reason: "not a whole batch"}
				return nil
			}
			r.damage(pos, next-pos, reason, segStart)
			pos, segStart = next, next
			after = &r.in.Damaged[len(r.in.Damaged)-1]
			continue
		}
		after = nil
		if f.kind == kindTrailer {
			r.in.Trailer = f.status
		} else {
			r.in.Trailer = 0
			r.in.Frames++
			r.in.Records += f.records
		}
		expect = f.seq + 1
		r.lastSeq = f.seq
		pos += int64(len(b))
		r.lastEnd = pos
	}
	r.closeSeg(segStart, pos)
	return nil
}

func (r *Reader) damage(off, n int64, reason string, segStart int64) {
	r.closeSeg(segStart, off)
	r.in.Damaged = append(r.in.Damaged, Damage{Offset: off, Bytes: n, RecordsBefore: r.in.Records, Reason: reason})
}

func (r *Reader) closeSeg(start, end int64) {
	if end > start {
		r.segs = append(r.segs, segment{start, end})
	}
}

// resync finds the next intact frame after from, or -1: a frame's kind
// byte, its two lengths and its checksum must all agree, so a false match
// is as likely as a CRC collision.
func (r *Reader) resync(from int64) (int64, error) {
	for pos := from; pos+frameOverhead <= r.size; {
		blk, err := r.read(pos, window)
		if err != nil {
			return 0, err
		}
		i := bytes.IndexAny(blk, string([]byte{kindBatch, kindTrailer}))
		if i < 0 {
			pos += int64(len(blk))
			continue
		}
		b, err := r.frameAt(pos + int64(i))
		if err != nil {
			return 0, err
		}
		if b != nil {
			if _, err := decodeFrame(b, false); err == nil {
				return pos + int64(i), nil
			}
		}
		pos += int64(i) + 1
	}
	return -1, nil
}

// Reverse calls fn for every record, newest first, a frame at a time (at
// most one frame in memory). A journal that is not whole stops it before
// the first record with a *DamagedError, unless AllowDamaged was called:
// then the intact records are read and the damage skipped. An error from
// fn stops it and is returned as it is. Each Record passed to fn is its
// own: fn may keep it.
func (r *Reader) Reverse(fn func(Record) error) error {
	if !r.in.Whole() && !r.partial {
		return &DamagedError{Path: r.path, Integrity: r.in}
	}
	for s := len(r.segs) - 1; s >= 0; s-- {
		seg := r.segs[s]
		for pos := seg.end; pos > seg.start; {
			tail, err := r.read(pos-4, 4)
			if err != nil {
				return err
			}
			start := pos - int64(binary.LittleEndian.Uint32(tail)) - frameOverhead
			b, err := r.frameAt(start)
			if err != nil {
				return err
			}
			if b == nil || start < seg.start {
				return &CorruptError{Path: r.path, Offset: start, Reason: "the file changed while it was read"}
			}
			f, err := decodeFrame(b, true)
			if err != nil {
				return &CorruptError{Path: r.path, Offset: start, Reason: err.Error(), Err: err}
			}
			for i := len(f.recs) - 1; i >= 0; i-- {
				if err := fn(f.recs[i]); err != nil {
					return err
				}
			}
			pos = start
		}
	}
	return nil
}

// Batch is one batch frame as Forward reads it.
type Batch struct {
	Seq uint64
	// Node is the node whose walk wrote the batch ("" when not given).
	Node string
	// End is the byte just after the frame: Writer.Append's position.
	End     int64
	Records []Record
}

// Forward calls fn for every intact batch that ends after from, oldest
// first (a resumed run reads the batches its checkpoint did not count).
func (r *Reader) Forward(from int64, fn func(Batch) error) error {
	for _, seg := range r.segs {
		for pos := seg.start; pos < seg.end; {
			b, err := r.frameAt(pos)
			if err != nil {
				return err
			}
			if b == nil {
				return &CorruptError{Path: r.path, Offset: pos, Reason: "the file changed while it was read"}
			}
			end := pos + int64(len(b))
			if end > from && b[0] == kindBatch {
				f, err := decodeFrame(b, true)
				if err != nil {
					return &CorruptError{Path: r.path, Offset: pos, Reason: err.Error(), Err: err}
				}
				if err := fn(Batch{Seq: f.seq, Node: f.node, End: end, Records: f.recs}); err != nil {
					return err
				}
			}
			pos = end
		}
	}
	return nil
}

// Stats sums up a journal's records.
type Stats struct {
	Records   int64
	Actions   map[string]int64 // Action -> records
	Dumps     int64            // records with a DUMP payload
	DumpBytes int64            // their payloads' bytes
}

// Stats reads the journal's intact records and sums them up; undo shows
// it before it asks for confirmation. It reads a journal that is not
// whole too (what is intact): Integrity says what is not.
func (r *Reader) Stats() (Stats, error) {
	s := Stats{Actions: map[string]int64{}}
	partial := r.partial
	r.partial = true
	defer func() { r.partial = partial }()
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
