package survey

import (
	"math/rand/v2"
	"slices"
)

// reservoir is a uniform sample of at most its capacity values out of all
// it was offered (Vitter's algorithm R): the TTLs, idle times and sizes of
// a pattern are summarised from it, never from every key.
type reservoir[T any] struct {
	seen int64 // values offered, the population the sample stands for
	vals []T
}

// slot offers one more value and returns the index where it goes, or -1
// when the sample keeps what it has. A returned index is len(vals) when
// the sample is still filling: the caller appends (fill does).
func (r *reservoir[T]) slot(rng *rand.Rand, capacity int) int {
	r.seen++
	if len(r.vals) < capacity {
		return len(r.vals)
	}
	if j := rng.Int64N(r.seen); j < int64(capacity) {
		return int(j)
	}
	return -1
}

// add offers v.
func (r *reservoir[T]) add(rng *rand.Rand, capacity int, v T) {
	r.fill(r.slot(rng, capacity), v)
}

// fill puts v at a slot returned by slot.
func (r *reservoir[T]) fill(i int, v T) {
	switch {
	case i < 0:
	case i >= len(r.vals):
		r.vals = append(r.vals, v)
	default:
		r.vals[i] = v
	}
}

// merge folds o into r: the result stands for both populations. Each
// value of the smaller sample is offered with the weight of the share of
// its population it stands for, so merging a one-key pattern into a large
// one costs one step, not a pass over the large sample.
func (r *reservoir[T]) merge(rng *rand.Rand, capacity int, o reservoir[T]) {
	if o.seen == 0 {
		return
	}
	if len(o.vals) > len(r.vals) {
		*r, o = o.clone(), *r
	}
	if len(o.vals) == 0 {
		r.seen += o.seen
		return
	}
	w := float64(o.seen) / float64(len(o.vals))
	for _, v := range o.vals {
		r.seen += int64(w)
		if len(r.vals) < capacity {
			r.vals = append(r.vals, v)
			continue
		}
		if rng.Float64()*float64(r.seen) < w*float64(capacity) {
			r.vals[rng.IntN(capacity)] = v
		}
	}
	r.seen += o.seen - int64(w)*int64(len(o.vals)) // rounding
}

func (r reservoir[T]) clone() reservoir[T] {
	return reservoir[T]{seen: r.seen, vals: slices.Clone(r.vals)}
}

// quantile is the nearest-rank q-quantile of the non-negative values
// (negative: not read); ok is false when there is none.
func quantile(vals []int64, q float64) (int64, bool) {
	var s []int64
	for _, v := range vals {
		if v >= 0 {
			s = append(s, v)
		}
	}
	if len(s) == 0 {
		return 0, false
	}
	slices.Sort(s)
	i := int(q*float64(len(s))+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)], true
}

// mean of the non-negative values (negative: not read, e.g. a key gone
// before its lookup); ok is false when none.
func mean(vals []int64) (float64, bool) {
	var sum float64
	n := 0
	for _, v := range vals {
		if v >= 0 {
			sum += float64(v)
			n++
		}
	}
	if n == 0 {
		return 0, false
	}
	return sum / float64(n), true
}
