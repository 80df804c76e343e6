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

// write creates a journal at a fresh path holding recs, closed.
func write(t testing.TB, recs []Record) string {
	t.Helper()
	path := Path(t.TempDir(), "drop-deal-clicks", "2026-11-22T03-10-04Z")
	w, err := Create(path, testHeader())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Append(recs...); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// reverse reads every record of the journal at path, newest first, reading
// blockSize bytes at a time (0: the default).
func reverse(t *testing.T, path string, blockSize int) []Record {
	t.Helper()
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if blockSize > 0 {
		r.blockSize = blockSize
	}
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
	assertRecords(t, reverse(t, path, 0), reversed(want))

	t.Run("HeaderLine", func(t *testing.T) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		first, _, _ := bytes.Cut(data, []byte("\n"))
		want := `{"journal":1,"job":"drop-deal-clicks","sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","target":"redis-prod-1:6379/0","run_id":"2026-11-22T03-10-04Z","backup":"dump","created":"2026-11-22T03:10:04Z"}`
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

// TestRecord_Encoding pins the line format: short names, "kb" for a key that
// is not UTF-8, no HTML escaping, optional fields left out.
func TestRecord_Encoding(t *testing.T) {
	tests := []struct {
		name string
		rec  Record
		want string
	}{
		{"Expire", Record{Key: "ticket:1", Type: "string", PrevExpireMs: -1, Action: ActionExpire, NewExpireMs: 1755302811000},
			`{"k":"ticket:1","t":"string","p":-1,"a":"expire","n":1755302811000}`},
		{"PersistNoType", Record{Key: "s", PrevExpireMs: 1763780000000, Action: ActionPersist},
			`{"k":"s","p":1763780000000,"a":"persist"}`},
		{"DeleteWithDump", Record{Key: "d", Type: "hash", PrevExpireMs: -1, Action: ActionDelete, Dump: []byte{0, 1, 0xff}},
			`{"k":"d","t":"hash","p":-1,"a":"delete","d":"AAH/"}`},
		{"EmptyKey", Record{Key: "", PrevExpireMs: -1, Action: ActionDelete},
			`{"k":"","p":-1,"a":"delete"}`},
		{"BinaryKey", Record{Key: "\xff\x00", PrevExpireMs: -1, Action: ActionDelete},
			`{"kb":"/wA=","p":-1,"a":"delete"}`},
		{"Escapes", Record{Key: "a\"b\\c\nd\x01<&>é", PrevExpireMs: -1, Action: ActionDelete},
			`{"k":"a\"b\\c\nd\u0001<&>é","p":-1,"a":"delete"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line := appendRecord(nil, &tt.rec)
			if got := string(line); got != tt.want+"\n" {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			back, err := decodeRecord(bytes.TrimSuffix(line, []byte("\n")))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, tt.rec) {
				t.Errorf("decoded %#v, want %#v", back, tt.rec)
			}
		})
	}
}

// FuzzRecord_RoundTrip: any key and payload come back byte for byte, and
// the line is valid JSON on one line.
func FuzzRecord_RoundTrip(f *testing.F) {
	for _, k := range awkwardKeys {
		f.Add(k, []byte(k))
	}
	f.Fuzz(func(t *testing.T, key string, dump []byte) {
		if len(dump) == 0 {
			dump = nil
		}
		rec := Record{Key: key, PrevExpireMs: NoExpire, Action: ActionDelete, Dump: dump}
		line := appendRecord(nil, &rec)
		if bytes.Count(line, []byte("\n")) != 1 || !json.Valid(line) {
			t.Fatalf("bad line %q", line)
		}
		back, err := decodeRecord(line[:len(line)-1])
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, rec) {
			t.Fatalf("got %#v, want %#v", back, rec)
		}
	})
}

// TestReverse_BlockBoundaries: newest first whatever the block size, with
// lines shorter than a block, straddling blocks, and several blocks long.
func TestReverse_BlockBoundaries(t *testing.T) {
	tests := []struct {
		name      string
		recs      []Record
		blockSize int
	}{
		{"SmallBlocks", records(500, 0, 3, 40), 16},
		{"OddBlocks", records(500, 0, 3, 40, 200), 37},
		{"LinesNearBlockSize", records(200, 30, 31, 32, 33, 64), 97},
		{"EveryLineLongerThanBlock", records(50, 500), 64},
		{"OneRecord", records(1), 8},
		{"OneLongRecord", records(1, 1000), 8},
		{"DefaultBlock", records(60, 0, 200<<10, 10, 64<<10, 48<<10), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := write(t, tt.recs)
			assertRecords(t, reverse(t, path, tt.blockSize), reversed(tt.recs))
		})
	}
	t.Run("HeaderOnly", func(t *testing.T) {
		path := write(t, nil)
		if got := reverse(t, path, 16); len(got) != 0 {
			t.Errorf("got %d records from an empty journal", len(got))
		}
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

// TestReverse_PartialLastLine: a crash mid-write leaves part of a line; it
// is skipped and counted wherever the cut falls, even just before the
// newline.
func TestReverse_PartialLastLine(t *testing.T) {
	want := records(20, 0, 50)
	path := write(t, want)
	clean, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	extra := appendRecord(nil, &records(1, 100)[0])
	for cut := 1; cut < len(extra); cut++ {
		if err := os.WriteFile(path, append(bytes.Clone(clean), extra[:cut]...), 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := Open(path)
		if err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		if got := r.PartialBytes(); got != int64(cut) {
			t.Errorf("cut %d: PartialBytes %d", cut, got)
		}
		r.blockSize = 32
		var got []Record
		if err := r.Reverse(func(rec Record) error { got = append(got, rec); return nil }); err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		r.Close()
		assertRecords(t, got, reversed(want))
	}
}

func TestReverse_CorruptLine(t *testing.T) {
	recs := records(10)
	var lines [][]byte
	for i := range recs {
		lines = append(lines, appendRecord(nil, &recs[i]))
	}
	header, err := json.Marshal(Header{Version: 1, Job: "j", SHA256: "s", Target: "h:1/0", RunID: "r", Backup: BackupJournal, Created: testHeader().Created})
	if err != nil {
		t.Fatal(err)
	}
	header = append(header, '\n')

	tests := []struct {
		name string
		line string
	}{
		{"Garbage", "not json\n"},
		{"Empty", "\n"},
		{"UnknownField", `{"k":"x","p":-1,"a":"delete","z":1}` + "\n"},
		{"NoKey", `{"p":-1,"a":"delete"}` + "\n"},
		{"NoPrev", `{"k":"x","a":"delete"}` + "\n"},
		{"UnknownAction", `{"k":"x","p":-1,"a":"rename"}` + "\n"},
		{"ExpireWithoutNew", `{"k":"x","p":-1,"a":"expire"}` + "\n"},
		{"BadBase64", `{"kb":"!!","p":-1,"a":"delete"}` + "\n"},
		{"ZeroBytes", "\x00\x00\x00\n"},
	}
	for _, tt := range tests {
		for _, bad := range []int{6, 0} { // 3 newer records come first, or 9
			for _, bs := range []int{40, 300, blockSize} {
				t.Run(fmt.Sprintf("%s/Line%d/Block%d", tt.name, bad, bs), func(t *testing.T) {
					data := bytes.Clone(header)
					var offset int64
					for i, l := range lines {
						if i == bad {
							offset = int64(len(data))
							l = []byte(tt.line)
						}
						data = append(data, l...)
					}
					path := filepath.Join(t.TempDir(), "j.journal")
					if err := os.WriteFile(path, data, 0o600); err != nil {
						t.Fatal(err)
					}
					r, err := Open(path)
					if err != nil {
						t.Fatal(err)
					}
					defer r.Close()
					r.blockSize = bs
					n := 0
					err = r.Reverse(func(Record) error { n++; return nil })
					assertCorruptAt(t, err, path, offset)
					if want := len(lines) - 1 - bad; n != want {
						t.Errorf("visited %d records before the bad line, want %d", n, want)
					}
				})
			}
		}
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
	h.Version = 2
	v2, _ := json.Marshal(h)
	tests := []struct {
		name, data string
	}{
		{"Empty", ""},
		{"Partial", string(withVersion[:len(withVersion)/2])},
		{"NoNewline", string(withVersion)},
		{"NotJSON", "hello\n"},
		{"NoVersion", string(good) + "\n"},
		{"OtherVersion", string(v2) + "\n"},
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
		{"OtherVersion", func(h *Header) { h.Version = 2 }},
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

// TestOpenAppend_AfterPartialLine: a resume cuts the crash's partial line
// off, says how much went, and appends whole lines after the last good one.
func TestOpenAppend_AfterPartialLine(t *testing.T) {
	all := records(8, 0, 70)
	path := write(t, all[:5])
	clean := fileSize(t, path)
	partial := appendRecord(nil, &all[5])
	partial = partial[:len(partial)/2]
	appendRaw(t, path, partial)

	w, h, err := OpenAppend(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := testHeader(); h.RunID != want.RunID || h.Job != want.Job || h.Version != Version {
		t.Errorf("header %+v", h)
	}
	if w.Dropped() != int64(len(partial)) {
		t.Errorf("Dropped %d, want %d", w.Dropped(), len(partial))
	}
	if w.Bytes() != clean || fileSize(t, path) != clean {
		t.Errorf("Bytes %d, file %d, want %d", w.Bytes(), fileSize(t, path), clean)
	}
	if err := w.Append(all[5:]...); err != nil {
		t.Fatal(err)
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	if w.Bytes() != fileSize(t, path) {
		t.Errorf("Bytes %d after Sync, file %d", w.Bytes(), fileSize(t, path))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	assertRecords(t, reverse(t, path, 16), reversed(all))

	t.Run("CleanJournal", func(t *testing.T) {
		w, _, err := OpenAppend(path)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		if w.Dropped() != 0 {
			t.Errorf("Dropped %d from a clean journal", w.Dropped())
		}
	})

	t.Run("HeaderOnly", func(t *testing.T) {
		p := write(t, nil)
		appendRaw(t, p, []byte(`{"k":"half`))
		w, _, err := OpenAppend(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Append(all[0]); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		assertRecords(t, reverse(t, p, 0), all[:1])
	})

	t.Run("CorruptTail", func(t *testing.T) {
		p := write(t, all[:3])
		off := fileSize(t, p)
		appendRaw(t, p, []byte("{\"k\":\"x\",\"p\":-1,\"a\":\"shred\"}\n"))
		_, _, err := OpenAppend(p)
		assertCorruptAt(t, err, p, off)
	})

	t.Run("Missing", func(t *testing.T) {
		if _, _, err := OpenAppend(filepath.Join(t.TempDir(), "nope")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("got %v, want fs.ErrNotExist", err)
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
			if err := w.Append(recs...); err == nil {
				t.Errorf("Append accepted %+v", recs)
			}
		}
		if w.Bytes() != before {
			t.Errorf("Bytes %d, want %d", w.Bytes(), before)
		}
		if err := w.Append(good...); err != nil {
			t.Errorf("the writer is unusable after a refused record: %v", err)
		}
	})

	t.Run("SyncMakesRecordsReadable", func(t *testing.T) {
		if err := w.Sync(); err != nil {
			t.Fatal(err)
		}
		assertRecords(t, reverse(t, path, 0), reversed(good))
	})

	t.Run("Concurrent", func(t *testing.T) {
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for i := range 100 {
					rec := Record{Key: fmt.Sprintf("g%d:%d", g, i), PrevExpireMs: NoExpire, Action: ActionDelete}
					if err := w.Append(rec); err != nil {
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
		if got := len(reverse(t, path, 64)); got != 3+800 {
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
		if err := w.Append(good[0]); err == nil {
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
					if err := w.Append(recs...); err != nil {
						b.Fatal(err)
					}
					if syncEach {
						if err := w.Sync(); err != nil {
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
