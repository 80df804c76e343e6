package journal

import "testing"

// TestJournal_Fields: records of changed hash fields read back with every
// name, expiry and value byte for byte, mixed with other actions.
func TestJournal_Fields(t *testing.T) {
	field := func(key, action string, n int) Record {
		r := Record{Key: key, Type: "hash", PrevExpireMs: NoExpire, Action: action}
		for i := range n {
			f := Field{Name: awkwardKeys[i%len(awkwardKeys)] + string(rune('a'+i%26)), PrevMs: []int64{NoExpire, 1733000000123}[i%2]}
			if action == ActionFieldExpire {
				f.NewMs = 1733000000000 + int64(i)
			}
			if action == ActionFieldDelete && i%3 != 0 {
				f.HasValue, f.Value = true, []string{"", "v\x00\xff", "value"}[i%3]
			}
			r.Fields = append(r.Fields, f)
		}
		return r
	}
	want := []Record{
		field("devices:1", ActionFieldExpire, 1),
		field("devices:2", ActionFieldExpire, 128),
		{Key: "other", PrevExpireMs: NoExpire, Action: ActionDelete},
		field("devices:3", ActionFieldDelete, 7),
		field("devices:4", ActionFieldPersist, 3),
	}
	want[3].PrevExpireMs = 1733000000000
	for _, n := range []int{1, 2, 5} {
		path := writeBatches(t, want, n)
		got := reverse(t, path)
		assertRecords(t, got, reversed(want))
		for i, r := range reversed(want) {
			if len(got[i].Fields) != len(r.Fields) {
				t.Fatalf("batches of %d: record %d has %d fields, want %d", n, i, len(got[i].Fields), len(r.Fields))
			}
			for j, f := range r.Fields {
				if got[i].Fields[j] != f {
					t.Fatalf("batches of %d: record %d field %d = %+v, want %+v", n, i, j, got[i].Fields[j], f)
				}
			}
		}
	}
}

// TestJournal_FieldsRefused: a field record must carry fields with the
// expiries its action implies, and no other action may carry fields.
func TestJournal_FieldsRefused(t *testing.T) {
	for _, r := range []Record{
		{Key: "k", PrevExpireMs: NoExpire, Action: ActionFieldExpire},
		{Key: "k", PrevExpireMs: NoExpire, Action: ActionFieldExpire, Fields: []Field{{Name: "f", PrevMs: NoExpire}}},
		{Key: "k", PrevExpireMs: NoExpire, Action: ActionFieldPersist, Fields: []Field{{Name: "f", PrevMs: NoExpire, NewMs: 5}}},
		{Key: "k", PrevExpireMs: NoExpire, Action: ActionDelete, Fields: []Field{{Name: "f", PrevMs: NoExpire}}},
	} {
		if err := r.validate(); err == nil {
			t.Errorf("%+v: valid", r)
		}
	}
}
