package checkpoint

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func sample() *Checkpoint {
	cp := New(
		JobRef{Name: "ticket-ttl-backfill", SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
		Target{Address: "redis-prod-1:6379", DB: 0, Mode: ModeCluster},
		"2026-11-22T03-10-04Z", 1763780000123,
	)
	cp.Expected = 2_400_000
	cp.Nodes = []Node{
		{ID: "07c37dfeb235213a872192d90877d0cd55635b91", Addr: "10.0.0.1:6379", ServerRunID: "a1b2", Slots: "0-5460", Cursor: "1572864"},
		{ID: "67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1", Addr: "10.0.0.2:6379", ServerRunID: "c3d4", Slots: "5461-10922", Cursor: "0", Done: true, Restarts: 1},
	}
	cp.Counts["change"] = 403771
	cp.Counts["ttl"] = 8233
	cp.Changes = 403771
	cp.Journal = ".keyjob/ticket-ttl-backfill/2026-11-22T03-10-04Z.journal"
	cp.JournalRecords = 403771 + 120
	return cp
}

// saved writes sample() to a fresh state dir and returns its path and bytes.
func saved(t *testing.T) (string, []byte) {
	t.Helper()
	path := Path(t.TempDir(), "ticket-ttl-backfill")
	if err := Save(path, sample()); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, data
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestPath(t *testing.T) {
	got := Path(".keyjob", "ticket-ttl-backfill")
	want := filepath.Join(".keyjob", "ticket-ttl-backfill", "checkpoint.json")
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestTarget_String(t *testing.T) {
	if got := (Target{Address: "redis-prod-1:6379", DB: 2}).String(); got != "redis-prod-1:6379/2" {
		t.Errorf("got %q", got)
	}
}

func TestSaveLoad_RoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	path := Path(dir, "ticket-ttl-backfill")
	cp := sample()
	if err := Save(path, cp); err != nil {
		t.Fatal(err)
	}
	if cp.CreatedAt.IsZero() || cp.UpdatedAt.IsZero() {
		t.Errorf("Save did not stamp the times: created %v, updated %v", cp.CreatedAt, cp.UpdatedAt)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, cp) {
		t.Errorf("round trip differs:\ngot  %+v\nwant %+v", got, cp)
	}

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

	t.Run("SecondSaveKeepsCreatedAt", func(t *testing.T) {
		created := got.CreatedAt
		got.Changes++
		got.Counts["change"]++
		got.JournalRecords++
		got.Nodes[0].Cursor = "42"
		if err := Save(path, got); err != nil {
			t.Fatal(err)
		}
		again, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if !again.CreatedAt.Equal(created) || again.Changes != cp.Changes+1 || again.Nodes[0].Cursor != "42" {
			t.Errorf("got created %v changes %d cursor %q", again.CreatedAt, again.Changes, again.Nodes[0].Cursor)
		}
		if _, err := os.Stat(path + ".tmp"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("temp file left behind: %v", err)
		}
	})

	t.Run("NilCountsLoadEmpty", func(t *testing.T) {
		cp := sample()
		cp.Counts, cp.Changes, cp.JournalRecords = nil, 0, 0
		p := Path(t.TempDir(), "j")
		if err := Save(p, cp); err != nil {
			t.Fatal(err)
		}
		got, err := Load(p)
		if err != nil {
			t.Fatal(err)
		}
		if got.Counts == nil {
			t.Error("Counts is nil after Load")
		}
	})
}

// A checkpoint of format 2 (before expected) loads as the current format
// with no expected total, so a run checkpointed by the previous keyjob
// resumes.
func TestLoad_Version2(t *testing.T) {
	path, data := saved(t)
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	m["format_version"] = 2
	delete(m, "expected")
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	cp, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if cp.FormatVersion != FormatVersion || cp.Expected != 0 || cp.RunID != sample().RunID {
		t.Errorf("format 2 loaded as version %d, expected %d, run %s", cp.FormatVersion, cp.Expected, cp.RunID)
	}
}

func TestLoad_Missing(t *testing.T) {
	_, err := Load(Path(t.TempDir(), "nope"))
	if !errors.Is(err, ErrNotExist) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("got %v, want an error wrapping ErrNotExist", err)
	}
	if errors.Is(err, ErrCorrupt) {
		t.Errorf("a missing checkpoint is not corrupt: %v", err)
	}
}

// TestLoad_Corrupt: every way a file can be unusable is a *CorruptError that
// names the file, never ErrNotExist (which would restart the run silently).
func TestLoad_Corrupt(t *testing.T) {
	_, good := saved(t)
	edit := func(f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(good, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		out, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	node0 := func(m map[string]any) map[string]any { return m["nodes"].([]any)[0].(map[string]any) }

	tests := []struct {
		name   string
		data   []byte
		reason string // part of the message
	}{
		{"Empty", nil, "empty"},
		{"Blank", []byte("  \n"), "empty"},
		{"Truncated", good[:len(good)/2], "bad JSON"},
		{"NotJSON", []byte("cursor=0\n"), "bad JSON"},
		{"JSONArray", []byte("[1,2]"), "bad JSON"},
		{"TrailingData", append(bytes.Clone(good), "{}"...), "bad JSON"},
		{"NoVersion", edit(func(m map[string]any) { delete(m, "format_version") }), "format_version is missing"},
		{"OtherVersion", edit(func(m map[string]any) { m["format_version"] = 4 }), "format_version is 4"},
		{"Version2WithExpected", edit(func(m map[string]any) { m["format_version"] = 2; m["expected"] = 100 }), "format_version 2 has no expected field"},
		{"Version1", edit(func(m map[string]any) { m["format_version"] = 1 }), "format_version is 1"},
		{"CursorOutOfRange", edit(func(m map[string]any) { node0(m)["cursor"] = "18446744073709551615" }), "nodes[0].cursor 18446744073709551615 is out of range"},
		{"DoneMidWalk", edit(func(m map[string]any) { node0(m)["done"] = true }), "nodes[0] is done with cursor 1572864"},
		{"CountsDoNotAddUp", edit(func(m map[string]any) { m["changes"] = 5 }), `changes (5) is less than counts["change"] (403771)`},
		{"MoreGraceThanChanges", edit(func(m map[string]any) { m["counts"].(map[string]any)["change_grace"] = 403772 }), `counts["change_grace"]`},
		{"FewerRecordsThanChanges", edit(func(m map[string]any) { m["journal_records"] = 10 }), "journal_records (10) is less than changes"},
		{"RunStartInTheFuture", edit(func(m map[string]any) { m["run_start_ms"] = 4102444800000 }), "run_start_ms 4102444800000"},
		{"RunStartInSeconds", edit(func(m map[string]any) { m["run_start_ms"] = 1763780000 }), "run_start_ms 1763780000 is before 2001"},
		{"CompletedMidWalk", edit(func(m map[string]any) { m["completed"] = true }), "completed is true while a node is not done"},
		{"UnknownField", edit(func(m map[string]any) { m["second_pass"] = true }), "unknown field"},
		{"WrongType", edit(func(m map[string]any) { m["changes"] = "many" }), "bad JSON"},
		{"NoJobName", edit(func(m map[string]any) { m["job"].(map[string]any)["name"] = "" }), "job.name"},
		{"NoJobSHA", edit(func(m map[string]any) { delete(m["job"].(map[string]any), "sha256") }), "job.sha256"},
		{"NoRunID", edit(func(m map[string]any) { delete(m, "run_id") }), "run_id"},
		{"NoRunStart", edit(func(m map[string]any) { delete(m, "run_start_ms") }), "run_start_ms"},
		{"NoTarget", edit(func(m map[string]any) { delete(m, "target") }), "target.address"},
		{"URLTarget", edit(func(m map[string]any) { m["target"].(map[string]any)["address"] = "redis://:secret@h:6379" }), "not a URL"},
		{"BadMode", edit(func(m map[string]any) { m["target"].(map[string]any)["mode"] = "sentinel" }), "target.mode"},
		{"NoNodes", edit(func(m map[string]any) { m["nodes"] = []any{} }), "nodes is empty"},
		{"NoNodeID", edit(func(m map[string]any) { node0(m)["id"] = "" }), "nodes[0].id"},
		{"DuplicateNode", edit(func(m map[string]any) { node0(m)["id"] = m["nodes"].([]any)[1].(map[string]any)["id"] }), "appears twice"},
		{"NoCursor", edit(func(m map[string]any) { delete(node0(m), "cursor") }), "nodes[0].cursor"},
		{"BadCursor", edit(func(m map[string]any) { node0(m)["cursor"] = "-1" }), "nodes[0].cursor"},
		{"NegativeChanges", edit(func(m map[string]any) { m["changes"] = -1 }), "changes is negative"},
		{"NegativeCount", edit(func(m map[string]any) { m["counts"].(map[string]any)["ttl"] = -3 }), `counts["ttl"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := Path(t.TempDir(), "j")
			writeFile(t, path, tt.data)
			_, err := Load(path)
			assertCorrupt(t, err, path, tt.reason)
		})
	}
}

func assertCorrupt(t *testing.T, err error, path, reason string) {
	t.Helper()
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("got %v, want ErrCorrupt", err)
	}
	if errors.Is(err, ErrNotExist) {
		t.Errorf("a corrupt checkpoint must not look missing: %v", err)
	}
	var ce *CorruptError
	if !errors.As(err, &ce) {
		t.Fatalf("got %T, want *CorruptError", err)
	}
	if ce.Path != path {
		t.Errorf("Path %q, want %q", ce.Path, path)
	}
	if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, reason) || !strings.Contains(msg, "--restart") {
		t.Errorf("message %q should name %q, say %q and give the --restart hint", msg, path, reason)
	}
}

// TestLoad_TruncatedAnywhere: a crash can never leave a torn checkpoint (Save
// renames a whole file), but a disk or a hand can. Every cut is corruption.
func TestLoad_TruncatedAnywhere(t *testing.T) {
	path, good := saved(t)
	body := bytes.TrimRight(good, "\n")
	for n := 0; n < len(body); n++ {
		writeFile(t, path, body[:n])
		if _, err := Load(path); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("cut at %d of %d bytes: got %v, want ErrCorrupt", n, len(body), err)
		}
	}
}

// TestLoad_Unreadable: an I/O error is reported as it is, neither missing nor
// corrupt (the file may be fine; --restart would throw it away).
func TestLoad_Unreadable(t *testing.T) {
	path := Path(t.TempDir(), "j")
	if err := os.MkdirAll(path, 0o700); err != nil { // a directory where the file should be
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil || errors.Is(err, ErrNotExist) || errors.Is(err, ErrCorrupt) {
		t.Fatalf("got %v, want a plain I/O error", err)
	}
}

// TestSave_CrashBeforeRename: a crash after the temp file is written and
// before the rename leaves the old checkpoint intact and loadable, and the
// next Save still works.
func TestSave_CrashBeforeRename(t *testing.T) {
	path, old := saved(t)
	next := sample()
	next.Changes, next.Counts["change"], next.JournalRecords = 999999, 999999, 999999
	data, err := json.Marshal(next)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		temp []byte
	}{
		{"WholeTemp", data},
		{"TornTemp", data[:len(data)/3]},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := writeTemp(path, tt.temp); err != nil { // then "crash": no rename
				t.Fatal(err)
			}
			if got, _ := os.ReadFile(path); !bytes.Equal(got, old) {
				t.Fatal("the checkpoint changed before the rename")
			}
			cp, err := Load(path)
			if err != nil {
				t.Fatalf("old checkpoint not loadable: %v", err)
			}
			if cp.Changes != sample().Changes {
				t.Errorf("changes %d, want the old %d", cp.Changes, sample().Changes)
			}
		})
	}
	t.Run("NextSave", func(t *testing.T) {
		if err := os.Chmod(path+".tmp", 0o644); err != nil {
			t.Fatal(err)
		}
		if err := Save(path, next); err != nil {
			t.Fatal(err)
		}
		cp, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if cp.Changes != 999999 {
			t.Errorf("changes %d, want 999999", cp.Changes)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("mode %v after replacing a stale temp file, want 0600", fi.Mode().Perm())
		}
	})
}

func TestSave_RefusesInvalid(t *testing.T) {
	tests := []struct {
		name string
		edit func(cp *Checkpoint)
	}{
		{"NoVersion", func(cp *Checkpoint) { cp.FormatVersion = 0 }},
		{"NoJobSHA", func(cp *Checkpoint) { cp.Job.SHA256 = "" }},
		{"NoRunStart", func(cp *Checkpoint) { cp.RunStartMs = 0 }},
		{"PasswordInAddress", func(cp *Checkpoint) { cp.Target.Address = "redis://user:hunter2@h:6379/0" }},
		{"AddressWithoutPort", func(cp *Checkpoint) { cp.Target.Address = "redis-prod-1" }},
		{"NoNodes", func(cp *Checkpoint) { cp.Nodes = nil }},
		{"EmptyCursor", func(cp *Checkpoint) { cp.Nodes[1].Cursor = "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := Path(t.TempDir(), "j")
			cp := sample()
			tt.edit(cp)
			if err := Save(path, cp); err == nil {
				t.Fatal("Save accepted an invalid checkpoint")
			}
			if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("an invalid checkpoint reached the disk: %v", err)
			}
		})
	}
}

func TestCheckpoint_Check(t *testing.T) {
	path, _ := saved(t)
	cp, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	name, sha, target := cp.Job.Name, cp.Job.SHA256, cp.Target
	with := func(f func(*Target)) Target { tg := target; f(&tg); return tg }

	tests := []struct {
		name     string
		job, sha string
		target   Target
		what     string // "" = no error
	}{
		{"Same", name, sha, target, ""},
		{"ModeUnknownYet", name, sha, with(func(t *Target) { t.Mode = "" }), ""},
		{"OtherJobFile", name, "0000", target, "job file sha256"},
		{"OtherJob", "drop-deal-clicks", sha, target, "job name"},
		{"OtherAddress", name, sha, with(func(t *Target) { t.Address = "redis-prod-2:6379" }), "target address"},
		{"OtherDB", name, sha, with(func(t *Target) { t.DB = 3 }), "target db"},
		{"OtherMode", name, sha, with(func(t *Target) { t.Mode = ModeStandalone }), "target mode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := cp.Check(tt.job, tt.sha, tt.target)
			if tt.what == "" {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrForeign) {
				t.Fatalf("got %v, want ErrForeign", err)
			}
			var fe *ForeignError
			if !errors.As(err, &fe) {
				t.Fatalf("got %T, want *ForeignError", err)
			}
			if fe.Path != path || fe.What != tt.what {
				t.Errorf("got path %q what %q, want %q %q", fe.Path, fe.What, path, tt.what)
			}
			if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, tt.what) || !strings.Contains(msg, "--restart") {
				t.Errorf("message %q should name the file, what differs and --restart", msg)
			}
		})
	}
}

func TestDiscard(t *testing.T) {
	path, data := saved(t)

	first, err := Discard(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(first, path+".discarded-") {
		t.Errorf("discarded as %q", first)
	}
	if _, err := Load(path); !errors.Is(err, ErrNotExist) {
		t.Errorf("after Discard, Load: %v, want ErrNotExist", err)
	}
	if got, err := os.ReadFile(first); err != nil || !bytes.Equal(got, data) {
		t.Errorf("discarded file not kept as it was: %v", err)
	}

	t.Run("TwiceKeepsBoth", func(t *testing.T) {
		writeFile(t, path, data)
		second, err := Discard(path)
		if err != nil {
			t.Fatal(err)
		}
		if second == first {
			t.Fatalf("second discard reused %q", first)
		}
		for _, p := range []string{first, second} {
			if _, err := os.Stat(p); err != nil {
				t.Error(err)
			}
		}
	})

	t.Run("Missing", func(t *testing.T) {
		if _, err := Discard(path); !errors.Is(err, ErrNotExist) {
			t.Errorf("got %v, want ErrNotExist", err)
		}
	})
}
