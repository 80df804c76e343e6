package jobs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// hostileShapes are job files built to make a YAML parser slow or large:
// each must be refused (or parsed) cheaply.
func hostileShapes() map[string]string {
	h := "version: 1\nname: x\n"
	block := h + "x:\n"
	for i := 1; i <= 100; i++ {
		block += strings.Repeat("  ", i) + "a:\n"
	}
	return map[string]string{
		"NestedOpen":     h + "description: " + strings.Repeat("[", 100000) + "\n",
		"NestedClosed":   h + "description: " + strings.Repeat("{a: ", 5000) + "1" + strings.Repeat("}", 5000) + "\n",
		"NestedQuoted":   h + "description: " + strings.Repeat(`["]",`, 70) + "1" + strings.Repeat("]", 70) + "\n",
		"NestedBlock":    block,
		"ManyKeys":       h + strings.Repeat("a: b\n", 200000),
		"ManyItems":      h + "description: [" + strings.Repeat("a,", 400000) + "]\n",
		"ManyLines":      h + strings.Repeat("#\n", 400000),
		"ManyAliases":    h + "a: &a [1, 2]\n" + strings.Repeat("b: *a\n", 100000),
		"BillionLaughs":  h + "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\nselect: *g\n",
		"LongText":       h + "description: \"" + strings.Repeat("a", 2<<20) + "\"\n",
		"InvalidUTF8":    h + "select: {match: \"k:*\", regex: '^k:\xff$'}\naction: {delete: {}}\nbackup: none\n",
		"InvalidUTF8Key": h + "\xc3(: 1\n",
	}
}

func TestParse_Bounds(t *testing.T) {
	want := map[string]string{
		"NestedOpen":     "fuzz.yaml:3:78: want nesting at most 64 deep",
		"NestedClosed":   "fuzz.yaml:3:270: want nesting at most 64 deep",
		"NestedQuoted":   "want nesting at most 64 deep",
		"NestedBlock":    "fuzz.yaml:67:129: want nesting at most 64 deep",
		"ManyKeys":       "fuzz.yaml:2001:2: want at most 2000",
		"ManyItems":      "fuzz.yaml:3:4010: want at most 2000",
		"ManyLines":      "fuzz.yaml:5001:1: want a job file of at most 5000 lines",
		"ManyAliases":    "want at most 2000",
		"BillionLaughs":  "job files take no anchors, aliases or tags",
		"LongText":       "want a job file of at most 1 MiB",
		"InvalidUTF8":    "fuzz.yaml:3:35: want UTF-8 text, got the byte 0xff",
		"InvalidUTF8Key": "fuzz.yaml:3:1: want UTF-8 text, got the byte 0xc3",
	}
	for name, text := range hostileShapes() {
		t.Run(name, func(t *testing.T) {
			var err error
			alloc := allocated(func() { _, err = Parse("fuzz.yaml", []byte(text)) })
			if err == nil || !strings.Contains(err.Error(), want[name]) {
				t.Fatalf("got %v, want an error with %q", err, want[name])
			}
			checkErrorShape(t, err)
			if alloc > maxParseAlloc {
				t.Errorf("parse allocated %d MiB, want at most %d MiB", alloc>>20, maxParseAlloc>>20)
			}
		})
	}
}

// TestLoad_Bounds: Load reads no more than the limit of a long file and
// names the position where the limit was passed.
func TestLoad_Bounds(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.yaml")
	text := "version: 1\nname: x\ndescription: \"" + strings.Repeat("a", 50<<20) + "\"\n"
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	var err error
	alloc := allocated(func() { _, err = Load(path) })
	if err == nil || !strings.Contains(err.Error(), "big.yaml:3:1048558: want a job file of at most 1 MiB") {
		t.Fatalf("got %v", err)
	}
	if alloc > 8<<20 {
		t.Errorf("load of a 50 MiB file allocated %d MiB, want it to stop reading at 1 MiB", alloc>>20)
	}
}

func TestLoadContext_Cancelled(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	stop := errors.New("stopped by the test")
	cancel(stop)
	path := filepath.Join(t.TempDir(), "job.yaml")
	if err := os.WriteFile(path, []byte(strings.Repeat("[", 64)), 0o600); err != nil {
		t.Fatal(err)
	}
	// Either the parse won the race (a syntax error) or the context did.
	_, err := LoadContext(ctx, path)
	if !errors.Is(err, stop) && !errors.Is(err, ErrInvalid) {
		t.Fatalf("got %v, want the context's cause or ErrInvalid", err)
	}
}

// maxParseAlloc bounds what one Parse may allocate: a file at every limit
// at once allocates a few tens of MiB; the shapes the bounds refuse
// allocated gigabytes.
const maxParseAlloc = 100 << 20

// allocated gives the bytes f allocates on the heap: a bound on work that,
// unlike the wall clock, does not depend on the machine's load.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}
