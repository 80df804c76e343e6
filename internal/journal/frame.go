package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// A frame is
//
//	kind     1 byte: kindBatch or kindTrailer
//	length   4 bytes, little endian: the payload's length n
//	payload  n bytes
//	crc      4 bytes, little endian: CRC-32C of kind, length and payload
//	length   4 bytes again, so the frame can be found from its end
const (
	kindBatch   = 'B'
	kindTrailer = 'T'
	frameHead   = 5
	frameTail   = 8
	// frameOverhead is a frame's bytes beyond its payload.
	frameOverhead = frameHead + frameTail
	// maxPayload bounds a frame when it is read, so a damaged length
	// cannot make the reader allocate gigabytes.
	maxPayload = 256 << 20
	// splitPayload is where Append starts a new frame: a batch of large
	// DUMP payloads is written as several frames.
	splitPayload = 64 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Trailer statuses.
const (
	// StatusStopped: the run stopped cleanly (an interrupt, an abort,
	// --limit) and may be resumed; a resumed run appends after it.
	StatusStopped = 1
	// StatusCompleted: the run completed; nothing follows.
	StatusCompleted = 2
)

// Record flags of a batch payload: which fields each record carries
// (the others are given once for the batch).
const (
	flagAction = 1 << iota
	flagPrev
	flagNew
	flagType
	flagDump
	// flagMembers: each record carries the sorted-set members it removed
	// with their scores (ActionTrim). Journals before it never set it, so
	// they read as they did.
	flagMembers
	// flagFields: each record carries the hash fields it changed, with
	// their previous and new expiries and, with backup: dump, the values
	// of deleted fields (the field actions).
	flagFields
)

// flagStream: each record carries a stream trim's entry IDs and, with a
// dump, the stream's XINFO figures (ActionStreamTrim). 1<<6 is flagFields.
const flagStream = 1 << 7

var actionCodes = map[string]byte{ActionExpire: 1, ActionDelete: 2, ActionPersist: 3, ActionUnchanged: 4, ActionTrim: 5,
	ActionFieldExpire: 6, ActionFieldPersist: 7, ActionFieldDelete: 8, ActionStreamTrim: 9}
var actionNames = [...]string{1: ActionExpire, 2: ActionDelete, 3: ActionPersist, 4: ActionUnchanged, 5: ActionTrim,
	6: ActionFieldExpire, 7: ActionFieldPersist, 8: ActionFieldDelete, 9: ActionStreamTrim}

// appendFrame wraps payload (already written at b[start+frameHead:]) in
// its head and tail. The caller reserved frameHead bytes at start.
func sealFrame(b []byte, start int, kind byte) []byte {
	n := len(b) - start - frameHead
	b[start] = kind
	binary.LittleEndian.PutUint32(b[start+1:], uint32(n))
	sum := crc32.Checksum(b[start:], castagnoli)
	b = binary.LittleEndian.AppendUint32(b, sum)
	return binary.LittleEndian.AppendUint32(b, uint32(n))
}

// appendBatch encodes recs (all valid) as one batch frame.
func appendBatch(b []byte, seq uint64, node string, recs []Record) []byte {
	start := len(b)
	b = append(b, make([]byte, frameHead)...)
	b = binary.AppendUvarint(b, seq)
	b = appendBytes(b, node)
	b = binary.AppendUvarint(b, uint64(len(recs)))
	var flags byte
	first := recs[0]
	for i := range recs {
		r := &recs[i]
		if r.Action != first.Action {
			flags |= flagAction
		}
		if r.PrevExpireMs != first.PrevExpireMs {
			flags |= flagPrev
		}
		if r.NewExpireMs != first.NewExpireMs {
			flags |= flagNew
		}
		if r.Type != "" {
			flags |= flagType
		}
		if len(r.Dump) > 0 {
			flags |= flagDump
		}
		if len(r.Members) > 0 {
			flags |= flagMembers
		}
		if len(r.Fields) > 0 {
			flags |= flagFields
		}
		if r.Stream != nil {
			flags |= flagStream
		}
	}
	b = append(b, flags)
	if flags&flagAction == 0 {
		b = append(b, actionCodes[first.Action])
	}
	if flags&flagPrev == 0 {
		b = binary.AppendVarint(b, first.PrevExpireMs)
	}
	if flags&flagNew == 0 {
		b = binary.AppendVarint(b, first.NewExpireMs)
	}
	var lastNew int64
	for i := range recs {
		r := &recs[i]
		b = appendBytes(b, r.Key)
		if flags&flagAction != 0 {
			b = append(b, actionCodes[r.Action])
		}
		if flags&flagPrev != 0 {
			b = binary.AppendVarint(b, r.PrevExpireMs)
		}
		if flags&flagNew != 0 {
			// Expiries computed from key names are close to each
			// other: the difference is shorter than the value.
			b = binary.AppendVarint(b, r.NewExpireMs-lastNew)
			lastNew = r.NewExpireMs
		}
		if flags&flagType != 0 {
			b = appendBytes(b, r.Type)
		}
		if flags&flagDump != 0 {
			b = binary.AppendUvarint(b, uint64(len(r.Dump)))
			b = append(b, r.Dump...)
		}
		if flags&flagMembers != 0 {
			b = binary.AppendUvarint(b, uint64(len(r.Members)))
			for _, m := range r.Members {
				b = appendBytes(b, m.Member)
				b = appendBytes(b, m.Score)
			}
		}
		if flags&flagFields != 0 {
			b = appendFields(b, r.Fields)
		}
		if flags&flagStream != 0 {
			b = appendStream(b, r.Stream)
		}
	}
	return sealFrame(b, start, kindBatch)
}

// appendStream encodes a record's stream part: the IDs, then the figures
// at the dump. A record without one (in a frame with stream records)
// writes no IDs and empty figures.
func appendStream(b []byte, st *StreamTrim) []byte {
	if st == nil {
		st = &StreamTrim{}
	}
	b = binary.AppendUvarint(b, uint64(len(st.IDs)))
	for _, id := range st.IDs {
		b = appendBytes(b, id)
	}
	b = appendBytes(b, st.LastID)
	b = binary.AppendVarint(b, st.EntriesAdded)
	b = binary.AppendVarint(b, st.Length)
	return appendBytes(b, st.Groups)
}

func appendBytes(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendTrailer encodes a trailer: the run's status and the records the
// journal holds before it.
func appendTrailer(b []byte, seq uint64, status byte, records int64) []byte {
	start := len(b)
	b = append(b, make([]byte, frameHead)...)
	b = binary.AppendUvarint(b, seq)
	b = append(b, status)
	b = binary.AppendUvarint(b, uint64(records))
	return sealFrame(b, start, kindTrailer)
}

// frame is one decoded frame.
type frame struct {
	kind    byte
	seq     uint64
	node    string
	status  byte  // trailer
	records int64 // trailer: records before it; batch: its records
	recs    []Record
}

// frameLen checks the frame that starts at b[0] (b may hold more after
// it) and returns its whole length: head, payload and tail. ok is false
// when b does not start with a whole, intact frame.
func frameLen(b []byte) (n int, ok bool) {
	if len(b) < frameOverhead || (b[0] != kindBatch && b[0] != kindTrailer) {
		return 0, false
	}
	p := binary.LittleEndian.Uint32(b[1:])
	if p > maxPayload || int(p)+frameOverhead > len(b) {
		return 0, false
	}
	end := frameHead + int(p)
	if binary.LittleEndian.Uint32(b[end+4:]) != p {
		return 0, false
	}
	if crc32.Checksum(b[:end], castagnoli) != binary.LittleEndian.Uint32(b[end:]) {
		return 0, false
	}
	return end + frameTail, true
}

// decodeFrame decodes an intact frame (frameLen said so). withRecords
// false skips the records' fields, only counting them.
func decodeFrame(b []byte, withRecords bool) (frame, error) {
	f := frame{kind: b[0]}
	d := decoder{b: b[frameHead : len(b)-frameTail]}
	f.seq = d.uvarint()
	if f.kind == kindTrailer {
		f.status = d.byte()
		f.records = int64(d.uvarint())
		if d.err == nil && f.status != StatusStopped && f.status != StatusCompleted {
			d.err = fmt.Errorf("unknown trailer status %d", f.status)
		}
		return f, d.done()
	}
	f.node = d.string()
	n := d.count("records", 1)
	f.records = int64(n)
	flags := d.byte()
	var common Record
	if flags&flagAction == 0 {
		common.Action = d.action()
	}
	if flags&flagPrev == 0 {
		common.PrevExpireMs = d.varint()
	}
	if flags&flagNew == 0 {
		common.NewExpireMs = d.varint()
	}
	if withRecords && d.err == nil {
		f.recs = make([]Record, 0, n)
	}
	var lastNew int64
	for i := uint64(0); i < n && d.err == nil; i++ {
		r := common
		r.Key = d.string()
		if flags&flagAction != 0 {
			r.Action = d.action()
		}
		if flags&flagPrev != 0 {
			r.PrevExpireMs = d.varint()
		}
		if flags&flagNew != 0 {
			r.NewExpireMs = lastNew + d.varint()
			lastNew = r.NewExpireMs
		}
		if flags&flagType != 0 {
			r.Type = d.string()
		}
		if flags&flagDump != 0 {
			if p := d.bytes(); len(p) > 0 {
				r.Dump = p
			}
		}
		if flags&flagMembers != 0 {
			r.Members = d.members()
		}
		if flags&flagFields != 0 {
			r.Fields = d.fields()
		}
		if flags&flagStream != 0 {
			r.Stream = d.stream()
		}
		if d.err == nil {
			d.err = r.validate()
		}
		if withRecords {
			f.recs = append(f.recs, r)
		}
	}
	return f, d.done()
}

// decoder reads a payload; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

var errShort = errors.New("payload ends early")

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errShort
		return 0
	}
	d.b = d.b[n:]
	return v
}

// varint reads binary.AppendVarint's zig-zag encoding.
func (d *decoder) varint() int64 {
	u := d.uvarint()
	return int64(u>>1) ^ -int64(u&1)
}

// members reads a record's removed members: a count, then member and
// score strings.
func (d *decoder) members() []Member {
	n := d.count("members", 2)
	if d.err != nil || n == 0 {
		return nil
	}
	ms := make([]Member, n)
	for i := range ms {
		ms[i] = Member{Member: d.string(), Score: d.string()}
	}
	return ms
}

// stream reads a record's stream part (appendStream); nil when it has no
// IDs (a record of another action in a frame with stream records).
func (d *decoder) stream() *StreamTrim {
	n := d.count("entry IDs", 1)
	if d.err != nil {
		return nil
	}
	st := &StreamTrim{IDs: make([]string, n)}
	for i := range st.IDs {
		st.IDs[i] = d.string()
	}
	st.LastID = d.string()
	st.EntriesAdded = d.varint()
	st.Length = d.varint()
	st.Groups = d.string()
	if n == 0 {
		return nil
	}
	return st
}

// appendFields writes a record's fields: a count, then per field its
// name, previous and new expiry, and its value when it has one.
func appendFields(b []byte, fs []Field) []byte {
	b = binary.AppendUvarint(b, uint64(len(fs)))
	for _, f := range fs {
		b = appendBytes(b, f.Name)
		b = binary.AppendVarint(b, f.PrevMs)
		b = binary.AppendVarint(b, f.NewMs)
		if f.HasValue {
			b = append(b, 1)
			b = appendBytes(b, f.Value)
		} else {
			b = append(b, 0)
		}
	}
	return b
}

// fields reads what appendFields wrote.
func (d *decoder) fields() []Field {
	n := d.count("fields", 4)
	if d.err != nil || n == 0 {
		return nil
	}
	fs := make([]Field, n)
	for i := range fs {
		fs[i] = Field{Name: d.string(), PrevMs: d.varint(), NewMs: d.varint()}
		switch d.byte() {
		case 0:
		case 1:
			fs[i].HasValue, fs[i].Value = true, d.string()
		default:
			if d.err == nil {
				d.err = fmt.Errorf("field %q: bad value marker", fs[i].Name)
			}
		}
	}
	return fs
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.err = errShort
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) action() string {
	c := d.byte()
	if d.err == nil && (int(c) >= len(actionNames) || actionNames[c] == "") {
		d.err = fmt.Errorf("unknown action code %d", c)
	}
	if d.err != nil {
		return ""
	}
	return actionNames[c]
}

// count reads how many items of at least minBytes bytes each follow,
// refusing a count the rest of the payload cannot hold: a torn or crafted
// frame must not make a huge allocation.
func (d *decoder) count(what string, minBytes uint64) uint64 {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b))/minBytes {
		d.err = fmt.Errorf("%d %s in %d bytes", n, what, len(d.b))
	}
	return n
}

// raw reads a length and that many bytes, without copying them.
func (d *decoder) raw() []byte {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)) {
		d.err = errShort
	}
	if d.err != nil {
		return nil
	}
	p := d.b[:n]
	d.b = d.b[n:]
	return p
}

// bytes is raw, copied: a Record's Dump must not pin the frame.
func (d *decoder) bytes() []byte { return bytes.Clone(d.raw()) }

func (d *decoder) string() string { return string(d.raw()) }

func (d *decoder) done() error {
	if d.err == nil && len(d.b) > 0 {
		d.err = fmt.Errorf("%d bytes after the last field", len(d.b))
	}
	return d.err
}
