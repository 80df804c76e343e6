package survey

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func token(rng *rand.Rand, alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

func ticketKey(rng *rand.Rand) string {
	return fmt.Sprintf("ticket:%d:%d:%s", 1700000000+rng.IntN(60000000), 1+rng.IntN(20000), token(rng, alnum, 8))
}

// feed counts keys as a walk does: batches of 1000, compacted between.
func feed(tb *table, keys []string) {
	for i, k := range keys {
		e := tb.lookup(k)
		tb.count(e, "string", -1, 0)
		if i%1000 == 999 {
			tb.compact()
		}
	}
	tb.compact()
}

func patterns(tb *table) map[string]int64 {
	out := map[string]int64{}
	for p, e := range tb.entries {
		out[p] = e.keys
	}
	return out
}

func TestTable_RandomTokens(t *testing.T) {
	// Random 8-character tokens that isToken does not recognise (about a
	// third: no digit and few capitals, or few changes) must not make a
	// pattern each. Whatever their order, the survey ends with one.
	for _, n := range []int{300, 5000, 50000} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(n), 1))
			keys := make([]string, n)
			for i := range keys {
				keys[i] = ticketKey(rng)
			}
			tb := newTable(0, 1)
			feed(tb, keys)
			tb.finish()
			got := patterns(tb)
			if want := map[string]int64{"ticket:{ts}:{n}:{id}": int64(n)}; !equalMaps(got, want) {
				t.Errorf("patterns %v, want %v", top(got, 10), want)
			}
			if tb.other != nil {
				t.Errorf("%d keys collapsed into other", tb.other.keys)
			}
		})
	}
}

func TestTable_LowercaseTokens(t *testing.T) {
	// Tokens of lower-case letters only are never tokens by the rules;
	// their siblings make them one.
	rng := rand.New(rand.NewPCG(2, 2))
	var keys []string
	for range 3000 {
		keys = append(keys, "invite:"+token(rng, "abcdefghijklmnopqrstuvwxyz", 10))
	}
	tb := newTable(0, 1)
	feed(tb, keys)
	tb.finish()
	if got, want := patterns(tb), map[string]int64{"invite:{id}": 3000}; !equalMaps(got, want) {
		t.Errorf("patterns %v, want %v", top(got, 10), want)
	}
}

func TestTable_NamespaceFamily(t *testing.T) {
	// Sixty sub-namespaces under user:{n}: a family, not random words.
	// Keys arrive in random order (SCAN's), so the first sixty keys are
	// nearly all new patterns: they must still stay apart.
	rng := rand.New(rand.NewPCG(3, 3))
	var names []string
	for i := range 60 {
		names = append(names, fmt.Sprintf("field%c%c", 'a'+i%26, 'a'+i/26))
	}
	var keys []string
	want := map[string]int64{}
	for _, nm := range names {
		for range 30 {
			keys = append(keys, fmt.Sprintf("user:%d:%s", rng.IntN(1e6), nm))
		}
		want["user:{n}:"+nm] = 30
	}
	rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	tb := newTable(0, 1)
	feed(tb, keys)
	tb.finish()
	if got := patterns(tb); !equalMaps(got, want) {
		t.Errorf("got %d patterns, want the 60 namespaces apart: %v", len(got), top(got, 10))
	}
}

func TestTable_Stragglers(t *testing.T) {
	// A handful of odd keys next to a big pattern of the same shape fold
	// into it at the end; a small namespace next to it does not.
	tb := newTable(0, 1)
	var keys []string
	for i := range 1000 {
		keys = append(keys, fmt.Sprintf("s:%016x", 0xabc0000000000000+uint64(i)*7919))
	}
	keys = append(keys, "s:1234567890123456") // hex digits that are all digits: {n}
	keys = append(keys, "s:deadbeefcafebabe") // hex letters only: a word
	keys = append(keys, "s:config")           // too short for the tokens there: stays
	feed(tb, keys)
	tb.finish()
	want := map[string]int64{"s:{hex}": 1002, "s:config": 1}
	if got := patterns(tb); !equalMaps(got, want) {
		t.Errorf("patterns %v, want %v", got, want)
	}
}

func TestTable_Bounded(t *testing.T) {
	// A keyspace of random names, each its own pattern: the table keeps
	// at most max patterns, the rest is counted in other, every key is
	// counted once, and memory stays flat.
	const n = 200000
	rng := rand.New(rand.NewPCG(4, 4))
	seps := ":/.|-_#"
	name := func() string {
		var b strings.Builder
		for j := range 1 + rng.IntN(4) {
			if j > 0 {
				b.WriteByte(seps[rng.IntN(len(seps))])
			}
			b.WriteString(token(rng, "abcdefghijklmnopqrstuvwxyz", 1+rng.IntN(5)))
		}
		return b.String()
	}
	const max = 200
	tb := newTable(max, 1)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var total int64
	for i := range n {
		e := tb.lookup(name())
		tb.count(e, "string", -1, 0)
		total++
		if i%1000 == 999 {
			tb.compact()
			if len(tb.entries) > max {
				t.Fatalf("after a batch: %d patterns, want at most %d", len(tb.entries), max)
			}
		}
	}
	tb.compact()
	tb.finish()
	runtime.GC()
	runtime.ReadMemStats(&after)
	if len(tb.variety) > maxVariety {
		t.Errorf("%d sibling counters, want at most %d", len(tb.variety), maxVariety)
	}
	if tb.other == nil {
		t.Fatal("nothing collapsed into other")
	}
	var counted int64 = tb.other.keys
	for _, e := range tb.entries {
		counted += e.keys
		if len(e.ttl.vals) > ttlSample || len(e.detail.vals) > detailSample || len(e.examples) > maxExamples {
			t.Fatalf("%s: samples past their bounds", e.pattern)
		}
	}
	if counted != total {
		t.Errorf("counted %d keys, want %d", counted, total)
	}
	if pats, _ := tb.collapsedPatterns(); pats < 1000 {
		t.Errorf("collapsed patterns estimated at %d, want many thousands", pats)
	}
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 16<<20 {
		t.Errorf("heap grew by %d MiB for a bounded table", grew>>20)
	}
}

func TestTable_Merge(t *testing.T) {
	// Two nodes' tables merge into the figures of one.
	rng := rand.New(rand.NewPCG(5, 5))
	a, b := newTable(0, 1), newTable(0, 2)
	for i := range 4000 {
		tb := a
		if i%2 == 1 {
			tb = b
		}
		e := tb.lookup(ticketKey(rng))
		exp := int64(-1)
		if i%4 == 0 {
			exp = int64(1000 * (3600 + i))
		}
		tb.count(e, "string", exp, 0)
	}
	a.merge(b)
	a.finish()
	e := a.entries["ticket:{ts}:{n}:{id}"]
	if e == nil || len(a.entries) != 1 {
		t.Fatalf("patterns %v", patterns(a))
	}
	if e.keys != 4000 || e.withTTL != 1000 {
		t.Errorf("keys %d with TTL %d, want 4000 and 1000", e.keys, e.withTTL)
	}
	if e.ttl.seen != 1000 || len(e.ttl.vals) != ttlSample {
		t.Errorf("TTL sample stands for %d of %d values, want 1000 and %d", e.ttl.seen, len(e.ttl.vals), ttlSample)
	}
	p50, _ := quantile(e.ttl.vals, 0.5)
	if want := int64(3600 + 2000); math.Abs(float64(p50-want)) > 400 {
		t.Errorf("TTL p50 %d, want about %d", p50, want)
	}
}

func TestReservoir(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	var r reservoir[int64]
	for i := range int64(100000) {
		r.add(rng, 500, i)
	}
	if r.seen != 100000 || len(r.vals) != 500 {
		t.Fatalf("seen %d, kept %d", r.seen, len(r.vals))
	}
	m, _ := mean(r.vals)
	if math.Abs(m-50000) > 3000 { // sd of the mean of 500: 28867/√500 ≈ 1291
		t.Errorf("mean %.0f, want about 50000", m)
	}

	// Merging a population of 1000 values of 1 with one of 9000 values
	// of 0: about 10% ones.
	var small, big reservoir[int64]
	for range 1000 {
		small.add(rng, 100, 1)
	}
	for range 9000 {
		big.add(rng, 100, 0)
	}
	big.merge(rng, 100, small)
	if big.seen != 10000 {
		t.Errorf("merged seen %d, want 10000", big.seen)
	}
	if m, _ := mean(big.vals); m < 0.02 || m > 0.25 {
		t.Errorf("merged share of ones %.2f, want about 0.10", m)
	}

	if _, ok := quantile([]int64{-1, -1}, 0.5); ok {
		t.Error("quantile of unread values: ok")
	}
	if q, _ := quantile([]int64{5, 1, 4, 2, 3, -1}, 0.9); q != 5 {
		t.Errorf("p90 of 1..5 = %d, want 5", q)
	}
	if q, _ := quantile([]int64{5, 1, 4, 2, 3}, 0.5); q != 3 {
		t.Errorf("p50 of 1..5 = %d, want 3", q)
	}
}

func equalMaps(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// top is the n largest patterns, for failure messages.
func top(m map[string]int64, n int) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.SortFunc(ks, func(a, b string) int { return int(m[b] - m[a]) })
	var out []string
	for _, k := range ks[:min(n, len(ks))] {
		out = append(out, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return out
}
