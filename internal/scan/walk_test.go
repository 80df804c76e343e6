package scan

import (
	"testing"
	"time"
)

func TestAdapt(t *testing.T) {
	const slow = 2 * time.Millisecond
	for _, tc := range []struct {
		count   int
		elapsed time.Duration
		want    int
	}{
		{1000, 3 * time.Millisecond, 500},     // slow: halve
		{10, 3 * time.Millisecond, 10},        // never below 10
		{500, 100 * time.Microsecond, 1000},   // fast: double back
		{1000, 100 * time.Microsecond, 1000},  // up to the ceiling
		{600, 100 * time.Microsecond, 1000},   // capped at the ceiling
		{1000, 1500 * time.Microsecond, 1000}, // in between: keep
	} {
		if got := adapt(tc.count, 1000, tc.elapsed, slow); got != tc.want {
			t.Errorf("adapt(%d, %s) = %d, want %d", tc.count, tc.elapsed, got, tc.want)
		}
	}
}

// One slow round trip among quick ones (a SCAN that waited behind another
// client's pipeline) does not shrink COUNT.
func TestWindow_Min(t *testing.T) {
	var w window
	w.add(300 * time.Microsecond)
	if got := w.min(); got != 300*time.Microsecond {
		t.Fatalf("min of one = %s", got)
	}
	w.add(5 * time.Millisecond)
	w.add(400 * time.Microsecond)
	if got := w.min(); got != 300*time.Microsecond {
		t.Errorf("min = %s, want 300µs", got)
	}
	for i := 0; i < 4; i++ {
		w.add(3 * time.Millisecond)
	}
	if got := w.min(); got != 3*time.Millisecond {
		t.Errorf("min after four slow calls = %s, want 3ms", got)
	}
}
