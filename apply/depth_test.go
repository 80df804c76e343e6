package apply

import "testing"

// The batches in flight over every shard walked at once stay within
// maxInFlight, a shard never gets fewer than minInFlight, and a lone
// shard (a standalone server) keeps the full pipeline.
func TestWalkDepth(t *testing.T) {
	for _, tc := range []struct{ shards, want int }{
		{0, 8}, {1, 8}, {2, 8}, {3, 5}, {4, 4}, {5, 3}, {8, 2}, {9, 2}, {40, 2}, {100, 2},
	} {
		if got := walkDepth(tc.shards); got != tc.want {
			t.Errorf("walkDepth(%d) = %d, want %d", tc.shards, got, tc.want)
		}
		if n := max(tc.shards, 1); n*minInFlight <= maxInFlight && n*walkDepth(tc.shards) > maxInFlight {
			t.Errorf("walkDepth(%d) = %d: %d batches in flight, more than %d", tc.shards, walkDepth(tc.shards), n*walkDepth(tc.shards), maxInFlight)
		}
	}
}
