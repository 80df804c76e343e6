package scan

// DefaultShardsAtOnce is how many primaries of a cluster plan, survey and
// apply walk at once (--shards-at-once). A walk costs keyjob a connection
// and a few batches, about 1.1 MiB, and one core keeps two or three shards
// busy at full speed: eight keep a large cluster's run within its memory
// target and more cores than most hosts have busy.
const DefaultShardsAtOnce = 8

// ShardsAtOnce is n, or DefaultShardsAtOnce when n is 0 or less.
func ShardsAtOnce(n int) int {
	if n > 0 {
		return n
	}
	return DefaultShardsAtOnce
}
