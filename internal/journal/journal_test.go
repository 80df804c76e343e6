package journal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func testHeader() Header {
	return Header{
		Job:     "drop-deal-clicks",
		SHA256:  "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		Target:  "redis-prod-1:6379/0",
		RunID:   "2026-11-22T03-10-04Z",
		Backup:  BackupDump,
		Created: time.Date(2026, 11, 22, 3, 10, 4, 0, time.UTC),
	}
}

// awkwardKeys are key names JSON could mangle.
var awkwardKeys = []string{
	"ticket:1755302811:18841:Qx7fTz2a",
	"",
	"\xff\xfe\x00binary",
	"\x80",
	"ok\xc3", // valid prefix, cut UTF-8 sequence
	"ключ:日本",
	"tab\tnl\ncr\r\"quote\"\\back\x00nul\x1f\x7f",
	"<html>&amp;\u2028\u2029",
	strings.Repeat("long:", 1000),
}

// records returns n records cycling through the awkward keys, actions and
// payload sizes (dumpSizes; 0 = no payload).
func records(n int, dumpSizes ...int) []Record {
	rng := rand.New(rand.NewPCG(1, 2))
	if len(dumpSizes) == 0 {
		dumpSizes = []int{0}
	}
	recs := make([]Record, n)
	for i := range recs {
		r := Record{
			Key:          fmt.Sprintf("%s#%d", awkwardKeys[i%len(awkwardKeys)], i),
			PrevExpireMs: NoExpire,
		}
		switch i % 3 {
		case 0:
			r.Action, r.Type, r.NewExpireMs = ActionExpire, "string", 1755302811000+int64(i)
		case 1:
			r.Action, r.Type = ActionDelete, "hash"
		case 2:
			r.Action, r.PrevExpireMs = ActionPersist, 1763780000000+int64(i)
		}
		if size := dumpSizes[i%len(dumpSizes)]; size > 0 {
			r.Dump = make([]byte, size)
			for j := range r.Dump {
				r.Dump[j] = byte(rng.UintN(256))
			}
		}
		recs[i] = r
	}
	return recs
}

// write creates a journal at a fresh path holding recs in one batch,
// finished as a completed run's.
func write(t testing.TB, recs []Record) string {
	t.Helper()
	return writeBatches(t, recs, len(recs))
}

// writeBatches creates a journal holding recs in batches of n records,
// finished as a completed run's.
func writeBatches(t testing.TB, recs []Record, n int) string {
	t.Helper()
	path := Path(t.TempDir(), "drop-deal-clicks", "2026-11-22T03-10-04Z")
	w, err := Create(path, testHeader())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(recs); i += n {
		pos, err := w.Append(recs[i:min(i+n, len(recs))]...)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.SyncTo(pos); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Finish(StatusCompleted); err != nil {
		t.Fatal(err)
	}
	return path
}

// reverse reads every record of the journal at path, newest first.
func reverse(t *testing.T, path string) []Record {
	t.Helper()
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var got []Record
	if err := r.Reverse(func(rec Record) error { got = append(got, rec); return nil }); err != nil {
		t.Fatal(err)
	}
	return got
}

func reversed(recs []Record) []Record {
	out := make([]Record, len(recs))
	for i, r := range recs {
		out[len(recs)-1-i] = r
	}
	return out
}

func assertRecords(t *testing.T, got, want []Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("record %d:\ngot  %#v\nwant %#v", i, got[i], want[i])
		}
	}
}

func appendRaw(t *testing.T, path string, data []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func assertCorruptAt(t *testing.T, err error, path string, offset int64) {
	t.Helper()
	var ce *CorruptError
	if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) {
		t.Fatalf("got %v, want a *CorruptError", err)
	}
	if ce.Path != path || ce.Offset != offset {
		t.Errorf("got path %q offset %d, want %q %d", ce.Path, ce.Offset, path, offset)
	}
	if msg := err.Error(); !strings.Contains(msg, fmt.Sprintf("byte %d", offset)) {
		t.Errorf("message %q does not name byte %d", msg, offset)
	}
}

func TestPath(t *testing.T) {
	got := Path(".keyjob", "ticket-ttl-backfill", "2026-11-22T03-10-04Z")
	want := filepath.Join(".keyjob", "ticket-ttl-backfill", "2026-11-22T03-10-04Z.journal")
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestJournal_RoundTrip(t *testing.T) {
	want := records(300, 0, 1, 100, 4096)
	path := write(t, want)

	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := r.Header(); !reflect.DeepEqual(got, Header{Version: Version, Job: "drop-deal-clicks", SHA256: testHeader().SHA256,
		Target: "redis-prod-1:6379/0", RunID: "2026-11-22T03-10-04Z", Backup: BackupDump, Created: testHeader().Created}) {
		t.Errorf("header %+v", got)
	}
	assertRecords(t, reverse(t, path), reversed(want))

	t.Run("HeaderLine", func(t *testing.T) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		first, _, _ := bytes.Cut(data, []byte("\n"))
		want := `{"journal":2,"job":"drop-deal-clicks","sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","target":"redis-prod-1:6379/0","run_id":"2026-11-22T03-10-04Z","backup":"dump","created":"2026-11-22T03:10:04Z"}`
		if string(first) != want {
			t.Errorf("header line\ngot  %s\nwant %s", first, want)
		}
	})

	t.Run("Modes", func(t *testing.T) {
		for _, p := range []struct {
			path string
			want fs.FileMode
		}{{path, 0o600}, {filepath.Dir(path), 0o700}} {
			fi, err := os.Stat(p.path)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode().Perm(); got != p.want {
				t.Errorf("%s: mode %v, want %v", p.path, got, p.want)
			}
		}
	})

	t.Run("Stats", func(t *testing.T) {
		s, err := r.Stats()
		if err != nil {
			t.Fatal(err)
		}
		var dumps, dumpBytes int64
		for _, rec := range want {
			if rec.Dump != nil {
				dumps++
				dumpBytes += int64(len(rec.Dump))
			}
		}
		wantStats := Stats{Records: 300, Actions: map[string]int64{ActionExpire: 100, ActionDelete: 100, ActionPersist: 100}, Dumps: dumps, DumpBytes: dumpBytes}
		if !reflect.DeepEqual(s, wantStats) {
			t.Errorf("got %+v, want %+v", s, wantStats)
		}
	})
}

// TestReverse_Batches: newest first whatever the batches, with records
// that share every field, some, or none.
func TestReverse_Batches(t *testing.T) {
	tests := []struct {
		name  string
		recs  []Record
		batch int
	}{
		{"OnePerBatch", records(50, 0, 3, 40), 1},
		{"OddBatches", records(500, 0, 3, 40, 200), 37},
		{"OneBatch", records(300, 30, 31, 32, 33, 64), 300},
		{"LargeDumps", records(60, 0, 200<<10, 10, 64<<10, 48<<10), 7},
		{"Shared", ticketRecords(1000), 250},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeBatches(t, tt.recs, tt.batch)
			assertRecords(t, reverse(t, path), reversed(tt.recs))
			r, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			in := r.Integrity()
			if want := (len(tt.recs) + tt.batch - 1) / tt.batch; !in.Whole() || in.Trailer != StatusCompleted || in.Records != int64(len(tt.recs)) || in.Frames != int64(want) {
				t.Errorf("integrity %+v, want whole, completed, %d records in %d batches", in, len(tt.recs), want)
			}
		})
	}
	t.Run("HeaderOnly", func(t *testing.T) {
		path := write(t, nil)
		if got := reverse(t, path); len(got) != 0 {
			t.Errorf("got %d records from an empty journal", len(got))
		}
	})
}

// ticketRecords are the records of a TTL backfill under when: no_ttl:
// every previous state "no TTL", the action the same.
func ticketRecords(n int) []Record {
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = Record{Key: fmt.Sprintf("ticket:%d:%d:Qx7fTz2a", 1755302811+i*97, i), PrevExpireMs: NoExpire,
			Action: ActionExpire, NewExpireMs: (1755302811+int64(i)*97)*1000 + 365*86400*1000}
	}
	return recs
}

// TestBatch_Compact: records that share their action and previous state
// cost their key and their expiry's difference, about 10 bytes more.
func TestBatch_Compact(t *testing.T) {
	recs := ticketRecords(1000)
	var keys int
	for _, r := range recs {
		keys += len(r.Key)
	}
	b := appendBatch(nil, 1, "standalone", recs)
	if extra := float64(len(b)-keys) / float64(len(recs)); extra > 6 {
		t.Errorf("%.1f bytes a record beyond its key, want at most 6", extra)
	}
	n, ok := frameLen(b)
	if !ok || n != len(b) {
		t.Fatalf("frameLen %d %v, want %d true", n, ok, len(b))
	}
	f, err := decodeFrame(b, true)
	if err != nil {
		t.Fatal(err)
	}
	if f.seq != 1 || f.node != "standalone" {
		t.Errorf("seq %d node %q", f.seq, f.node)
	}
	assertRecords(t, f.recs, recs)
}

// FuzzBatch_RoundTrip: any keys and payloads come back byte for byte.
func FuzzBatch_RoundTrip(f *testing.F) {
	for _, k := range awkwardKeys {
		f.Add(k, []byte(k), int64(-1))
	}
	f.Fuzz(func(t *testing.T, key string, dump []byte, prev int64) {
		if len(dump) == 0 {
			dump = nil
		}
		if prev <= 0 {
			prev = NoExpire
		}
		recs := []Record{{Key: key, PrevExpireMs: prev, Action: ActionDelete, Dump: dump},
			{Key: key + "2", PrevExpireMs: NoExpire, Action: ActionExpire, NewExpireMs: 1}}
		b := appendBatch(nil, 7, key, recs)
		if _, ok := frameLen(b); !ok {
			t.Fatal("frame does not check")
		}
		fr, err := decodeFrame(b, true)
		if err != nil {
			t.Fatal(err)
		}
		assertRecords(t, fr.recs, recs)
	})
}

func TestReverse_StopsOnCallbackError(t *testing.T) {
	path := write(t, records(10))
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	stop := errors.New("enough")
	n := 0
	err = r.Reverse(func(Record) error {
		n++
		if n == 3 {
			return stop
		}
		return nil
	})
	if err != stop || n != 3 {
		t.Errorf("got %v after %d records, want the callback's error after 3", err, n)
	}
}

func TestOpen_BadHeader(t *testing.T) {
	good, err := json.Marshal(testHeader())
	if err != nil {
		t.Fatal(err)
	}
	h := testHeader()
	h.Version = 1
	withVersion, _ := json.Marshal(h)
	h.Version = 3
	v3, _ := json.Marshal(h)
	tests := []struct {
		name, data string
	}{
		{"Empty", ""},
		{"Partial", string(withVersion[:len(withVersion)/2])},
		{"NoNewline", string(withVersion)},
		{"NotJSON", "hello\n"},
		{"NoVersion", string(good) + "\n"},
		{"OtherVersion", string(v3) + "\n"},
		{"Version1", string(withVersion) + "\n"},
		{"NotAHeader", `{"k":"x","p":-1,"a":"delete"}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "j.journal")
			if err := os.WriteFile(path, []byte(tt.data), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Open(path)
			assertCorruptAt(t, err, path, 0)
			if _, _, err := OpenAppend(path); !errors.Is(err, ErrCorrupt) {
				t.Errorf("OpenAppend: got %v, want ErrCorrupt", err)
			}
		})
	}
	t.Run("Missing", func(t *testing.T) {
		if _, err := Open(filepath.Join(t.TempDir(), "nope")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("got %v, want fs.ErrNotExist", err)
		}
	})
}

func TestCreate_NeverOverwrites(t *testing.T) {
	path := write(t, records(5))
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := Create(path, testHeader())
	if !errors.Is(err, fs.ErrExist) {
		if w != nil {
			w.Close()
		}
		t.Fatalf("got %v, want fs.ErrExist", err)
	}
	if !strings.Contains(err.Error(), "never overwritten") {
		t.Errorf("message %q has no hint", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, before) {
		t.Error("the journal changed")
	}
}

func TestCreate_InvalidHeader(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Header)
	}{
		{"URLTarget", func(h *Header) { h.Target = "redis://:secret@h:6379/0" }},
		{"BackupNone", func(h *Header) { h.Backup = "none" }},
		{"NoJob", func(h *Header) { h.Job = "" }},
		{"NoRunID", func(h *Header) { h.RunID = "" }},
		{"OtherVersion", func(h *Header) { h.Version = 3 }},
		{"Version1", func(h *Header) { h.Version = 1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := testHeader()
			tt.edit(&h)
			path := filepath.Join(t.TempDir(), "j.journal")
			if _, err := Create(path, h); err == nil {
				t.Fatal("Create accepted the header")
			}
			if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a file was left: %v", err)
			}
		})
	}
	t.Run("DefaultsFilled", func(t *testing.T) {
		h := testHeader()
		h.Created = time.Time{}
		w, err := Create(filepath.Join(t.TempDir(), "j.journal"), h)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		if got := w.Header(); got.Version != Version || got.Created.IsZero() {
			t.Errorf("header %+v", got)
		}
	})
}

func TestWriter_Append(t *testing.T) {
	path := Path(t.TempDir(), "j", "r")
	w, err := Create(path, testHeader())
	if err != nil {
		t.Fatal(err)
	}
	good := records(3)

	t.Run("InvalidWritesNothing", func(t *testing.T) {
		before := w.Bytes()
		bad := Record{Key: "x", PrevExpireMs: NoExpire, Action: "rename"}
		for _, recs := range [][]Record{
			{good[0], bad},
			{{Key: "x", PrevExpireMs: NoExpire, Action: ActionExpire}},
			{{Key: "x", PrevExpireMs: 0, Action: ActionDelete}},
			{{Key: "x", PrevExpireMs: NoExpire, Action: ActionDelete, NewExpireMs: 5}},
		} {
			if _, err := w.Append(recs...); err == nil {
				t.Errorf("Append accepted %+v", recs)
			}
		}
		if w.Bytes() != before {
			t.Errorf("Bytes %d, want %d", w.Bytes(), before)
		}
		if _, err := w.Append(good...); err != nil {
			t.Errorf("the writer is unusable after a refused record: %v", err)
		}
	})

	t.Run("SyncMakesRecordsReadable", func(t *testing.T) {
		if err := w.Sync(); err != nil {
			t.Fatal(err)
		}
		assertRecords(t, reverse(t, path), reversed(good))
	})

	t.Run("Concurrent", func(t *testing.T) {
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for i := range 100 {
					rec := Record{Key: fmt.Sprintf("g%d:%d", g, i), PrevExpireMs: NoExpire, Action: ActionDelete}
					if _, err := w.Append(rec); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		if err := w.Sync(); err != nil {
			t.Fatal(err)
		}
		if got := len(reverse(t, path)); got != 3+800 {
			t.Errorf("got %d records, want %d", got, 3+800)
		}
	})

	t.Run("AfterClose", func(t *testing.T) {
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if _, err := w.Append(good[0]); err == nil {
			t.Error("Append after Close succeeded")
		}
		if err := w.Sync(); err == nil {
			t.Error("Sync after Close succeeded")
		}
	})
}

// BenchmarkAppend writes 1M small records per op, the shape of a TTL
// backfill of the ticket keyspace: in batches of 1000, synced as the
// executor does before each batch, and without syncs (the encoding and
// buffering alone).
func BenchmarkAppend(b *testing.B) {
	const total, batch = 1_000_000, 1000
	recs := make([]Record, batch)
	for i := range recs {
		recs[i] = Record{Key: fmt.Sprintf("ticket:1755302811:%d:Qx7fTz2a", i), Type: "string",
			PrevExpireMs: NoExpire, Action: ActionExpire, NewExpireMs: 1755302811000 + int64(i)}
	}
	for _, syncEach := range []bool{false, true} {
		b.Run(fmt.Sprintf("SyncPerBatch=%v", syncEach), func(b *testing.B) {
			dir := b.TempDir()
			var bytes int64
			n := 0
			for b.Loop() {
				n++
				w, err := Create(filepath.Join(dir, fmt.Sprintf("%d.journal", n)), testHeader())
				if err != nil {
					b.Fatal(err)
				}
				for range total / batch {
					pos, err := w.Append(recs...)
					if err != nil {
						b.Fatal(err)
					}
					if syncEach {
						if err := w.SyncTo(pos); err != nil {
							b.Fatal(err)
						}
					}
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
				bytes = w.Bytes()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/total, "ns/record")
			b.SetBytes(bytes)
		})
	}
}

// open opens path and returns its integrity; the reader is closed at the
// test's end.
func open(t *testing.T, path string) (*Reader, Integrity) {
	t.Helper()
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, r.Integrity()
}

// TestIntegrity_TornTail: a journal cut at any byte after its header is
// found cut short at the right record, Reverse refuses it, and with
// AllowDamaged it reads exactly the whole batches before the cut.
func TestIntegrity_TornTail(t *testing.T) {
	recs := records(40, 0, 30)
	path := writeBatches(t, recs, 7)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	header := int64(bytes.IndexByte(data, '\n') + 1)
	// The batch boundaries: where a cut leaves whole batches.
	var ends []int64
	for pos := header; pos < int64(len(data)); {
		n, ok := frameLen(data[pos:])
		if !ok {
			t.Fatalf("no frame at %d", pos)
		}
		pos += int64(n)
		ends = append(ends, pos)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	cuts := []int64{int64(len(data)) - 1, int64(len(data)) - 37, header + 1}
	for range 60 {
		cuts = append(cuts, header+rng.Int64N(int64(len(data))-header))
	}
	for _, cut := range cuts {
		p := filepath.Join(t.TempDir(), "cut.journal")
		if err := os.WriteFile(p, data[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		r, in := open(t, p)
		whole := 0 // batches wholly before the cut
		boundary := header
		for whole < len(ends) && ends[whole] <= cut {
			boundary = ends[whole]
			whole++
		}
		wantRecs := min(whole*7, len(recs))
		if in.Trailer != 0 {
			t.Errorf("cut %d: trailer %d, want none (the trailer is the last frame)", cut, in.Trailer)
		}
		if boundary == cut {
			if !in.Whole() {
				t.Errorf("cut %d on a boundary: %+v, want whole without a trailer", cut, in)
			}
		} else if in.Torn == nil || in.Torn.Offset != boundary || in.Torn.Bytes != cut-boundary || in.Torn.RecordsBefore != int64(wantRecs) || len(in.Damaged) != 0 {
			t.Errorf("cut %d: %+v, want torn at %d after %d records", cut, in, boundary, wantRecs)
			continue
		}
		if in.Records != int64(wantRecs) {
			t.Errorf("cut %d: %d records intact, want %d", cut, in.Records, wantRecs)
		}
		err := r.Reverse(func(Record) error { return nil })
		var de *DamagedError
		if boundary != cut && (!errors.As(err, &de) || !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), fmt.Sprintf("%d records are intact", wantRecs))) {
			t.Errorf("cut %d: Reverse %v, want a *DamagedError counting %d intact", cut, err, wantRecs)
		}
		r.AllowDamaged()
		var got []Record
		if err := r.Reverse(func(rec Record) error { got = append(got, rec); return nil }); err != nil {
			t.Fatal(err)
		}
		assertRecords(t, got, reversed(recs[:wantRecs]))
	}
}

// TestIntegrity_DamagedMiddle: a byte flipped anywhere in a batch, or a
// batch taken out, is damage in the middle at that batch; the records
// before and after it stay readable with AllowDamaged.
func TestIntegrity_DamagedMiddle(t *testing.T) {
	recs := records(50, 0, 20)
	path := writeBatches(t, recs, 10)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	header := bytes.IndexByte(data, '\n') + 1
	var starts []int
	for pos := header; pos < len(data); {
		n, _ := frameLen(data[pos:])
		starts = append(starts, pos)
		pos += n
	}
	starts = append(starts, len(data))
	rng := rand.New(rand.NewPCG(5, 6))
	for _, batch := range []int{0, 2, 4} {
		lo, hi := starts[batch], starts[batch+1]
		for range 15 {
			at := lo + rng.IntN(hi-lo)
			bad := bytes.Clone(data)
			bad[at] ^= byte(1 + rng.IntN(255))
			p := filepath.Join(t.TempDir(), "flip.journal")
			if err := os.WriteFile(p, bad, 0o600); err != nil {
				t.Fatal(err)
			}
			r, in := open(t, p)
			if len(in.Damaged) != 1 || in.Torn != nil || in.Damaged[0].Offset != int64(lo) || in.Damaged[0].Bytes != int64(hi-lo) || in.Damaged[0].RecordsBefore != int64(batch*10) {
				t.Errorf("batch %d, byte %d flipped: %+v", batch, at, in)
				continue
			}
			if in.Trailer != StatusCompleted || in.Records != 40 {
				t.Errorf("batch %d: trailer %d, %d records, want completed and 40", batch, in.Trailer, in.Records)
			}
			err := r.Reverse(func(Record) error { return nil })
			if msg := fmt.Sprint(err); !strings.Contains(msg, fmt.Sprintf("damaged at record %d (a batch at byte %d", batch*10+1, lo)) || !strings.Contains(msg, "40 records are intact") {
				t.Errorf("message %q", msg)
			}
			r.AllowDamaged()
			var got []Record
			if err := r.Reverse(func(rec Record) error { got = append(got, rec); return nil }); err != nil {
				t.Fatal(err)
			}
			want := append(slices.Clone(recs[:batch*10]), recs[batch*10+10:]...)
			assertRecords(t, got, reversed(want))
		}
	}

	t.Run("BatchTakenOut", func(t *testing.T) {
		bad := append(bytes.Clone(data[:starts[1]]), data[starts[2]:]...)
		p := filepath.Join(t.TempDir(), "gap.journal")
		if err := os.WriteFile(p, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		_, in := open(t, p)
		if len(in.Damaged) == 0 || in.Damaged[0].Offset != int64(starts[1]) || !strings.Contains(in.Damaged[0].Reason, "batches are missing") {
			t.Errorf("%+v, want damage at %d: batches missing", in, starts[1])
		}
	})

	t.Run("AfterTheCompletedTrailer", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "more.journal")
		if err := os.WriteFile(p, append(bytes.Clone(data), data[starts[0]:starts[1]]...), 0o600); err != nil {
			t.Fatal(err)
		}
		_, in := open(t, p)
		if len(in.Damaged) != 1 || in.Damaged[0].Offset != int64(len(data)) {
			t.Errorf("%+v, want damage at %d", in, len(data))
		}
	})
}

// TestOpenAppend_Resume: a stopped run's journal is appended to after its
// trailer; a killed run's torn batch is cut first; a completed or damaged
// journal is refused.
func TestOpenAppend_Resume(t *testing.T) {
	all := ticketRecords(30)
	dir := t.TempDir()
	path := Path(dir, "j", "r")
	w, err := Create(path, testHeader())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.AppendBatch("n1", all[:10]...); err != nil {
		t.Fatal(err)
	}
	if err := w.Finish(StatusStopped); err != nil {
		t.Fatal(err)
	}
	_, in := open(t, path)
	if in.Trailer != StatusStopped || !in.Whole() {
		t.Fatalf("%+v, want whole and stopped", in)
	}

	w, h, err := OpenAppend(path)
	if err != nil {
		t.Fatal(err)
	}
	if h.RunID != testHeader().RunID || w.Records() != 10 || w.Dropped() != 0 {
		t.Errorf("header %+v, records %d, dropped %d", h, w.Records(), w.Dropped())
	}
	pos, err := w.AppendBatch("n2", all[10:20]...)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.SyncTo(pos); err != nil {
		t.Fatal(err)
	}
	if pos != fileSize(t, path) {
		t.Errorf("Append's position %d, file %d", pos, fileSize(t, path))
	}
	// Killed while the next batch was written: half of it reached the file.
	frame := appendBatch(nil, 99, "n2", all[20:25])
	appendRaw(t, path, frame[:len(frame)/2])
	w.Close()

	_, in = open(t, path)
	if in.Trailer != 0 || in.Torn == nil || in.Records != 20 {
		t.Fatalf("%+v, want no trailer, torn, 20 records", in)
	}
	w, _, err = OpenAppend(path)
	if err != nil {
		t.Fatal(err)
	}
	if w.Dropped() != int64(len(frame)/2) || fileSize(t, path) != pos {
		t.Errorf("dropped %d, file %d; want %d, %d", w.Dropped(), fileSize(t, path), len(frame)/2, pos)
	}
	if _, err := w.AppendBatch("n1", all[20:]...); err != nil {
		t.Fatal(err)
	}
	if err := w.Finish(StatusCompleted); err != nil {
		t.Fatal(err)
	}
	r, in := open(t, path)
	if in.Trailer != StatusCompleted || !in.Whole() || in.Records != 30 {
		t.Errorf("%+v, want whole, completed, 30 records", in)
	}
	assertRecords(t, reverse(t, path), reversed(all))

	var nodes []string
	var got []Record
	if err := r.Forward(pos, func(b Batch) error {
		nodes = append(nodes, b.Node)
		got = append(got, b.Records...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(nodes, []string{"n1"}) {
		t.Errorf("Forward from %d: nodes %v, want [n1]", pos, nodes)
	}
	assertRecords(t, got, all[20:])

	if _, _, err := OpenAppend(path); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "completed") {
		t.Errorf("OpenAppend of a completed run's journal: %v", err)
	}
	data, _ := os.ReadFile(path)
	data[pos-20] ^= 0xff
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := OpenAppend(path); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "will not append after damage") {
		t.Errorf("OpenAppend of a damaged journal: %v", err)
	}
}

// TestSyncTo_GroupCommit: batches appended by many goroutines at once are
// all durable when their SyncTo returns, with fewer fsyncs than batches
// when they overlap.
func TestSyncTo_GroupCommit(t *testing.T) {
	w, err := Create(Path(t.TempDir(), "j", "r"), testHeader())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				pos, err := w.AppendBatch(fmt.Sprint(g), Record{Key: fmt.Sprintf("g%d:%d", g, i), PrevExpireMs: NoExpire, Action: ActionDelete})
				if err == nil {
					err = w.SyncTo(pos)
				}
				if err != nil {
					t.Error(err)
					return
				}
				if fi, err := os.Stat(w.Path()); err != nil || fi.Size() < pos {
					t.Errorf("SyncTo(%d) returned with %d bytes in the file", pos, fi.Size())
					return
				}
			}
		})
	}
	wg.Wait()
	st := w.SyncStats()
	var inBuckets int64
	for _, n := range st.Buckets {
		inBuckets += n
	}
	if st.Syncs == 0 || st.Syncs > 400 || inBuckets != st.Syncs {
		t.Errorf("sync stats %+v for 400 batches", st)
	}
	if err := w.Finish(StatusCompleted); err != nil {
		t.Fatal(err)
	}
	_, in := open(t, w.Path())
	if !in.Whole() || in.Records != 400 || in.Frames != 400 {
		t.Errorf("%+v", in)
	}
}
