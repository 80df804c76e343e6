package survey

import (
	"math/rand/v2"
	"testing"
)

// Scores are times when both ends of the set are, in one unit, within
// the range key names are read in (2001–2100).
func TestScoreFormat(t *testing.T) {
	tests := []struct {
		lo, hi float64
		want   string
	}{
		{1755302811, 1763780000, FormatUnix},
		{1755302811.25, 1755302812.5, FormatUnix},
		{1755302811000, 1763780000123, FormatUnixMS},
		{1755302811, 1763780000123, ""}, // seconds and milliseconds in one set
		{1, 250, ""},                    // a leaderboard
		{0, 1755302811, ""},
		{999999999, 1755302811, ""},  // before September 2001
		{1755302811, 4102444800, ""}, // 2100 and after
		{-5, -1, ""},
	}
	for _, tt := range tests {
		if got := scoreFormat(tt.lo, tt.hi); got != tt.want {
			t.Errorf("scoreFormat(%v, %v) = %q, want %q", tt.lo, tt.hi, got, tt.want)
		}
	}
}

// A hash's field names are folded as key names are; its field TTLs count
// only when read for every field (-1 no TTL, -2 gone since HRANDFIELD).
func TestInsideStats_Hash(t *testing.T) {
	var s insideStats
	s.addHash([]string{"seen:1755302811:1", "seen:1755302899:2", "name", "20260314"}, []int64{1790000000, -1, -1, -2})
	s.addHash([]string{"a", "b"}, nil)
	in := s.report(true)
	h := in.Hashes
	if h.Read != 2 || h.FieldsRead != 6 || h.WithTimestampFields != 1 || h.TimestampFields != 3 {
		t.Errorf("%+v", h)
	}
	if h.WithVolatileFields != nil {
		t.Errorf("field TTLs reported though one hash's were not read")
	}
	if len(h.FieldPatterns) != 2 || h.FieldPatterns[0].Pattern != "seen:{ts}:{n}" || h.FieldPatterns[0].Fields != 2 ||
		h.FieldPatterns[1].Pattern != "{date}" || h.FieldPatterns[0].Match != "seen:*" {
		t.Errorf("field patterns %+v", h.FieldPatterns)
	}

	var v insideStats
	v.addHash([]string{"seen:1755302811:1", "seen:1755302899:2", "x"}, []int64{1790000000, -1, 1790000000})
	h = v.report(true).Hashes
	if deref(h.WithVolatileFields) != int64(1) || deref(h.VolatileFields) != int64(2) || deref(h.FieldPatterns[0].WithTTL) != int64(1) {
		t.Errorf("volatile %v, %v, of the pattern %v; want 1, 2, 1", deref(h.WithVolatileFields), deref(h.VolatileFields), deref(h.FieldPatterns[0].WithTTL))
	}
	if h := v.report(false).Hashes; h.WithVolatileFields != nil || h.FieldPatterns[0].WithTTL != nil {
		t.Errorf("field TTLs reported where the server has none")
	}
}

// Merging stats (a cluster's nodes, sibling patterns) adds them up and
// keeps at most maxFieldPatterns field patterns.
func TestInsideStats_Merge(t *testing.T) {
	tb := newTable(0, 1)
	a, b := &entry{}, &entry{}
	a.in().addHash([]string{"seen:1755302811:1", "a:1755302811", "b:1755302811"}, []int64{-1, -1, -1})
	b.in().addHash([]string{"seen:1755302812:1", "c:1755302811", "d:1755302811"}, []int64{1790000000, -1, -1})
	b.in().zsets, b.in().timeScored = 3, 3
	b.in().zsetFormats = map[string]int64{FormatUnixMS: 3}
	b.in().zAges.add(rand.New(rand.NewPCG(1, 2)), ageSample, 40)
	b.in().zOldest = 40
	tb.mergeInside(a, b)
	in := a.inside.report(true)
	if h := in.Hashes; h.Read != 2 || h.TimestampFields != 6 || deref(h.VolatileFields) != int64(1) || len(h.FieldPatterns) != maxFieldPatterns {
		t.Errorf("hashes %+v", h)
	}
	if h := in.Hashes; h.FieldPatterns[0].Pattern != "seen:{ts}:{n}" || h.FieldPatterns[0].Fields != 2 {
		t.Errorf("the field pattern of both: %+v", h.FieldPatterns[0])
	}
	if z := in.ZSets; z == nil || z.ScoreFormat != FormatUnixMS || z.OldestAgeSeconds == nil || z.OldestAgeSeconds.Max != 40 {
		t.Errorf("zsets %+v", z)
	}
}
