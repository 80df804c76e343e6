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

func TestSteer(t *testing.T) {
	const target = 600 * time.Microsecond
	for _, tc := range []struct {
		count int
		mean  time.Duration
		want  int
	}{
		{1000, 1200 * time.Microsecond, 500}, // twice the target: half the keys per call
		{1000, 600 * time.Microsecond, 1000}, // on target: keep
		{400, 300 * time.Microsecond, 800},   // half the target: double
		{100, 10 * time.Microsecond, 200},    // far below: at most double at once
		{800, 100 * time.Microsecond, 1000},  // never above the ceiling
		{20, 60 * time.Millisecond, 10},      // never below 10
		{300, 0, 600},                        // too quick to measure: grow
	} {
		if got := steer(tc.count, 1000, tc.mean, target); got != tc.want {
			t.Errorf("steer(%d, %s) = %d, want %d", tc.count, tc.mean, got, tc.want)
		}
	}
}

func TestScanStat(t *testing.T) {
	info := "# Commandstats\r\ncmdstat_get:calls=5,usec=10,usec_per_call=2.00,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_scan:calls=1150,usec=1093012,usec_per_call=950.45,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_scard:calls=7,usec=3,usec_per_call=0.43,rejected_calls=0,failed_calls=0\r\n"
	calls, usec, ok := scanStat(info)
	if !ok || calls != 1150 || usec != 1093012 {
		t.Errorf("scanStat = %d, %d, %v; want 1150, 1093012, true", calls, usec, ok)
	}
	if _, _, ok := scanStat("# Commandstats\r\ncmdstat_scard:calls=7,usec=3\r\n"); ok {
		t.Error("scanStat found SCAN in stats without it")
	}
}
