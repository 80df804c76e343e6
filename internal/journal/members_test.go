package journal

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"testing"
)

// TestJournal_Trim: records of removed sorted-set members read back with
// every member and score byte for byte, mixed with records of other
// actions in one batch and on their own.
func TestJournal_Trim(t *testing.T) {
	trim := func(key string, n int) Record {
		r := Record{Key: key, Type: "zset", PrevExpireMs: NoExpire, Action: ActionTrim}
		for i := range n {
			r.Members = append(r.Members, Member{Member: awkwardKeys[i%len(awkwardKeys)] + string(rune('a'+i%26)), Score: []string{"1733000000123", "1.5", "-inf", "1e+300", "0"}[i%5]})
		}
		return r
	}
	want := []Record{
		trim("timeline:1", 1),
		trim("timeline:2", 128),
		{Key: "other", PrevExpireMs: NoExpire, Action: ActionDelete},
		trim("timeline:3", 3),
	}
	want[3].PrevExpireMs = 1733000000000
	for _, n := range []int{1, 2, 4} {
		path := writeBatches(t, want, n)
		assertRecords(t, reverse(t, path), reversed(want))
		got := reverse(t, path)
		for i, r := range reversed(want) {
			if len(got[i].Members) != len(r.Members) {
				t.Fatalf("batches of %d: record %d has %d members, want %d", n, i, len(got[i].Members), len(r.Members))
			}
			for j, m := range r.Members {
				if got[i].Members[j] != m {
					t.Fatalf("batches of %d: record %d member %d = %+v, want %+v", n, i, j, got[i].Members[j], m)
				}
			}
		}
	}
}

// TestJournal_TrimRefused: a trim record must carry members, and no other
// action may.
func TestJournal_TrimRefused(t *testing.T) {
	for _, r := range []Record{
		{Key: "k", PrevExpireMs: NoExpire, Action: ActionTrim},
		{Key: "k", PrevExpireMs: NoExpire, Action: ActionDelete, Members: []Member{{"m", "1"}}},
	} {
		if err := r.validate(); err == nil {
			t.Errorf("%+v: valid", r)
		}
	}
}

// TestJournal_OldFramesRead: a batch frame written before members existed
// (flags without 32) reads as it did: the format is the same bytes.
func TestJournal_OldFramesRead(t *testing.T) {
	recs := []Record{{Key: "a", PrevExpireMs: NoExpire, Action: ActionExpire, NewExpireMs: 1733000000000},
		{Key: "b", PrevExpireMs: NoExpire, Action: ActionExpire, NewExpireMs: 1733000000001}}
	b := appendBatch(nil, 1, "n1", recs)
	// seq 1, node "n1", 2 records, flags 4 (new expiry per record).
	if !bytes.HasPrefix(b[frameHead:], []byte{1, 2, 'n', '1', 2, 4}) {
		t.Fatalf("frame %s", hex.EncodeToString(b))
	}
	f, err := decodeFrame(b, true)
	if err != nil || len(f.recs) != 2 || f.recs[1].NewExpireMs != 1733000000001 || f.recs[0].Members != nil {
		t.Fatalf("%v %+v", err, f.recs)
	}
}

// TestJournal_StreamTrim: stream-trim records read back with their IDs,
// their dump and the stream's figures, alone and in batches with others.
func TestJournal_StreamTrim(t *testing.T) {
	first := Record{Key: "events:1", Type: "stream", PrevExpireMs: 1733000000000, Action: ActionStreamTrim, Dump: []byte("\x0fpayload\x00"),
		Stream: &StreamTrim{IDs: []string{"1733000000000-0", "1733000000000-1"}, LastID: "1733000009999-3", EntriesAdded: 42, Length: 40, Groups: "workers 1733000000001-0 1 1"}}
	next := Record{Key: "events:1", Type: "stream", PrevExpireMs: NoExpire, Action: ActionStreamTrim,
		Stream: &StreamTrim{IDs: []string{"1733000000001-0"}}}
	old := Record{Key: "events:2", Type: "stream", PrevExpireMs: NoExpire, Action: ActionStreamTrim, Dump: []byte("d"),
		Stream: &StreamTrim{IDs: []string{"1-1"}, LastID: "1-1", EntriesAdded: -1, Length: 1}}
	want := []Record{first, next, {Key: "other", PrevExpireMs: NoExpire, Action: ActionDelete}, old}
	for _, n := range []int{1, 2, 4} {
		path := writeBatches(t, want, n)
		got := reverse(t, path)
		assertRecords(t, got, reversed(want))
		for i, r := range reversed(want) {
			if fmt.Sprint(got[i].Stream) != fmt.Sprint(r.Stream) || !bytes.Equal(got[i].Dump, r.Dump) {
				t.Fatalf("batches of %d: record %d stream %+v dump %q, want %+v %q", n, i, got[i].Stream, got[i].Dump, r.Stream, r.Dump)
			}
		}
	}
	for _, r := range []Record{
		{Key: "k", PrevExpireMs: NoExpire, Action: ActionStreamTrim},
		{Key: "k", PrevExpireMs: NoExpire, Action: ActionStreamTrim, Stream: &StreamTrim{}},
		{Key: "k", PrevExpireMs: NoExpire, Action: ActionStreamTrim, Dump: []byte("d"), Stream: &StreamTrim{IDs: []string{"1-0"}}},
		{Key: "k", PrevExpireMs: NoExpire, Action: ActionTrim, Members: []Member{{"m", "1"}}, Stream: &StreamTrim{IDs: []string{"1-0"}}},
	} {
		if err := r.validate(); err == nil {
			t.Errorf("%+v: valid", r)
		}
	}
}
