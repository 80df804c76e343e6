package survey

import (
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
)

// Bounds of the pattern table: what a survey holds in memory whatever the
// keyspace, about 5 KiB a pattern at most.
const (
	// MaxPatterns is how many patterns a survey tracks by default; past
	// it the rarest collapse into "other".
	MaxPatterns = 1000
	// ttlSample and detailSample are the sizes of a pattern's samples:
	// TTLs of keys with one, and idle time and MEMORY USAGE of keys.
	ttlSample    = 256
	detailSample = 128
	maxExamples  = 3
	maxExample   = 200 // bytes of an example key kept
	maxBigKeys   = 5
	// BigKeyBytes is the MEMORY USAGE past which a key is reported as big:
	// deleting or dumping it blocks the server (and backup.max_dump_size's
	// default).
	BigKeyBytes = 16 << 20
)

// Sibling rules (see route and absorbs).
const (
	// varietyFold: once this many new patterns differ from each other
	// only in one word, and nearly all of them hold a single key, that
	// word is data, not a namespace: it becomes {id}.
	varietyFold = 50
	// dominance: a pattern is folded into a more general sibling at the
	// end of a survey when the sibling has this many times its keys.
	dominance = 100
	// maxVariety bounds the sibling counters.
	maxVariety = 4 * MaxPatterns
	// collapsedBits sizes the bitmap that estimates how many distinct
	// patterns went into "other" (linear counting).
	collapsedBits = 1 << 16
)

// entry is what the table holds of one pattern.
type entry struct {
	pattern string
	pieces  []Piece // of the first key; Text is that key's
	keys    int64
	withTTL int64
	types   map[string]int64
	ttl     reservoir[int64]  // seconds left, of keys with a TTL
	detail  reservoir[detail] // a sample of keys, for idle time and memory
	lens    []lenRange        // per piece: shortest and longest text seen
	formats []map[string]int64
	// examples are the first few key names, cut to maxExample bytes.
	examples []string
	big      []BigKey
	// inside is what the keys read inside hold; nil until one is.
	inside *insideStats
}

// detail is what the sample looks up of one key; -1 when not read.
type detail struct{ idle, mem int64 }

type lenRange struct{ lo, hi int }

// variety counts the new patterns that differ only in one word.
type variety struct {
	misses int
	folded bool
}

// table is the bounded set of patterns of one walk. It is not safe for
// concurrent use: a cluster's nodes each have one, merged at the end.
type table struct {
	max     int
	rng     *rand.Rand
	entries map[string]*entry
	variety map[string]*variety
	other   *entry // the collapsed patterns; nil until one collapses
	// collapsed is a bitmap of the hashes of collapsed patterns: it
	// estimates how many distinct ones there were in fixed memory.
	collapsed []uint64
}

func newTable(max int, seed uint64) *table {
	if max <= 0 {
		max = MaxPatterns
	}
	return &table{
		max:     max,
		rng:     rand.New(rand.NewPCG(seed, 0x73757276)), // "surv"
		entries: make(map[string]*entry),
		variety: make(map[string]*variety),
	}
}

func newEntry(pattern string, ps []Piece) *entry {
	e := &entry{pattern: pattern, pieces: ps, types: map[string]int64{},
		lens: make([]lenRange, len(ps)), formats: make([]map[string]int64, len(ps))}
	for i, p := range ps {
		e.lens[i] = lenRange{len(p.Text), len(p.Text)}
	}
	return e
}

// lookup finds (or makes) the pattern entry of one key name and counts
// the name's pieces in it. The caller counts the key itself (see key).
func (t *table) lookup(name string) *entry {
	ps := Fold(name)
	pattern := patternString(ps)
	e := t.entries[pattern]
	if e == nil {
		e = t.route(ps)
	}
	if e == nil {
		e = newEntry(pattern, ps)
		t.entries[pattern] = e
	}
	e.observe(name, ps)
	return e
}

// observe records the lengths and time formats of a key's pieces and
// keeps it as an example while there are few.
func (e *entry) observe(name string, ps []Piece) {
	if len(e.examples) < maxExamples {
		e.examples = append(e.examples, cut(name, maxExample))
	}
	if len(ps) != len(e.pieces) {
		return // "other"
	}
	for i, p := range ps {
		n := len(p.Text)
		e.lens[i].lo, e.lens[i].hi = min(e.lens[i].lo, n), max(e.lens[i].hi, n)
		if p.Format != "" && p.Kind == e.pieces[i].Kind {
			if e.formats[i] == nil {
				e.formats[i] = map[string]int64{}
			}
			e.formats[i][p.Format]++
		}
	}
}

// widenable reports whether a piece could be a random token ({id}) that
// the rules did not recognise: a word of ASCII letters, letters with
// digits, digits, hex.
func widenable(p Piece) bool {
	switch p.Kind {
	case Mixed, Number, Hex:
		return true
	case Literal:
		if p.Sep || p.Text == "" {
			return false
		}
		for i := 0; i < len(p.Text); i++ {
			if !isAlnum(p.Text[i]) {
				return false
			}
		}
		return true
	}
	return false
}

// widened is the pattern of ps with piece i as {id}.
func widened(ps []Piece, i int) string {
	var b strings.Builder
	for j, p := range ps {
		if j == i {
			b.WriteString("{id}")
		} else {
			b.WriteString(p.String())
		}
	}
	return b.String()
}

// route handles a key whose pattern the table does not have yet. Tokens
// that look random to a person but not to isToken (all lower case, few
// changes of case) make a new pattern per key; so does a namespace of
// user names. Each such new pattern is counted against its siblings (the
// same pattern with that word as {id}); when more than varietyFold of
// them turned up and they hold about one key each, the word is data: the
// siblings merge into the {id} pattern and later keys go there at once.
// "About one key each" is strict (at most 5% repeats): random tokens
// never repeat, while even a large family of namespaces soon does.
// A real family of namespaces (user:{n}:profile, user:{n}:cart, …) does
// not merge, as its patterns repeat.
func (t *table) route(ps []Piece) *entry {
	var cand []string
	for i, p := range ps {
		if !widenable(p) {
			continue
		}
		g := widened(ps, i)
		if v := t.variety[g]; v != nil && v.folded {
			return t.wide(g, ps, i)
		}
		cand = append(cand, g)
	}
	k := 0
	for i, p := range ps {
		if !widenable(p) {
			continue
		}
		g := cand[k]
		k++
		v := t.variety[g]
		if v == nil {
			if len(t.variety) >= maxVariety && !t.pruneVariety() {
				continue
			}
			v = &variety{}
			t.variety[g] = v
		}
		v.misses++
		if v.misses < varietyFold {
			continue
		}
		if !t.foldSiblings(g, i) {
			v.misses = 0 // look again after as many more
			continue
		}
		v.folded = true
		return t.wide(g, ps, i)
	}
	return nil
}

// wide is the entry of pattern g, ps with piece i as {id}.
func (t *table) wide(g string, ps []Piece, i int) *entry {
	e := t.entries[g]
	if e == nil {
		w := slices.Clone(ps)
		w[i].Kind = ID
		e = newEntry(g, w)
		t.entries[g] = e
	}
	return e
}

// pruneVariety drops the sibling counters that saw one pattern only (most
// are a random token's other words: ticket:…:Qx7f as {id}:…:Qx7f). It
// reports whether that made room.
func (t *table) pruneVariety() bool {
	for g, v := range t.variety {
		if !v.folded && v.misses <= 1 {
			delete(t.variety, g)
		}
	}
	return len(t.variety) < maxVariety
}

// foldSiblings merges the patterns that widen to g at piece i into g,
// when they are mostly single keys. It reports whether it did.
func (t *table) foldSiblings(g string, i int) bool {
	var sib []*entry
	var keys int64
	for _, e := range t.entries {
		if e.pattern != g && len(e.pieces) > i && widenable(e.pieces[i]) && widened(e.pieces, i) == g {
			sib = append(sib, e)
			keys += e.keys
		}
	}
	if len(sib) == 0 || float64(keys) > 1.05*float64(len(sib)) {
		return false
	}
	into := t.wide(g, sib[0].pieces, i)
	for _, e := range sib {
		t.mergeInto(into, e)
		delete(t.entries, e.pattern)
	}
	return true
}

// mergeInto adds e's keys and samples to into.
func (t *table) mergeInto(into, e *entry) {
	into.keys += e.keys
	into.withTTL += e.withTTL
	for k, n := range e.types {
		into.types[k] += n
	}
	into.ttl.merge(t.rng, ttlSample, e.ttl)
	into.detail.merge(t.rng, detailSample, e.detail)
	for _, x := range e.examples {
		if len(into.examples) >= maxExamples {
			break
		}
		into.examples = append(into.examples, x)
	}
	for _, b := range e.big {
		into.addBig(b)
	}
	t.mergeInside(into, e)
	if len(into.pieces) != len(e.pieces) {
		return
	}
	for i := range into.lens {
		into.lens[i].lo = min(into.lens[i].lo, e.lens[i].lo)
		into.lens[i].hi = max(into.lens[i].hi, e.lens[i].hi)
		if into.pieces[i].Kind != e.pieces[i].Kind || e.formats[i] == nil {
			continue
		}
		if into.formats[i] == nil {
			into.formats[i] = map[string]int64{}
		}
		for f, n := range e.formats[i] {
			into.formats[i][f] += n
		}
	}
}

func (e *entry) addBig(b BigKey) {
	e.big = append(e.big, b)
	slices.SortFunc(e.big, func(a, b BigKey) int { return int(b.MemoryBytes - a.MemoryBytes) })
	if len(e.big) > maxBigKeys {
		e.big = e.big[:maxBigKeys]
	}
}

// compact keeps the table within its bound: when it holds more than max
// patterns, the rarer half goes, each into a sibling that absorbs it or
// else into "other". Called between batches, so a batch's samples are
// filled before their entries can move.
func (t *table) compact() {
	if len(t.entries) <= t.max {
		return
	}
	all := make([]*entry, 0, len(t.entries))
	for _, e := range t.entries {
		all = append(all, e)
	}
	slices.SortFunc(all, func(a, b *entry) int {
		if a.keys != b.keys {
			return int(a.keys - b.keys)
		}
		return strings.Compare(a.pattern, b.pattern)
	})
	cutAt := len(all) - t.max/2
	keep := newSkeletons(all[cutAt:])
	for _, e := range all[:cutAt] {
		delete(t.entries, e.pattern)
		if into := keep.absorber(e); into != nil {
			t.mergeInto(into, e)
			continue
		}
		t.collapse(e)
	}
}

// collapse moves e into "other".
func (t *table) collapse(e *entry) {
	if t.other == nil {
		t.other = &entry{pattern: "other", types: map[string]int64{}}
		t.collapsed = make([]uint64, collapsedBits/64)
	}
	t.mergeInto(t.other, e)
	h := fnv.New64a()
	h.Write([]byte(e.pattern))
	bit := h.Sum64() % collapsedBits
	t.collapsed[bit/64] |= 1 << (bit % 64)
}

// collapsedPatterns estimates how many distinct patterns went into
// "other" (linear counting), and whether that is only a lower bound (the
// bitmap is full).
func (t *table) collapsedPatterns() (n int64, atLeast bool) {
	if t.other == nil {
		return 0, false
	}
	zeros := 0
	for _, w := range t.collapsed {
		zeros += 64 - popcount(w)
	}
	if zeros == 0 {
		return int64(collapsedBits * math.Log(collapsedBits)), true
	}
	return int64(math.Round(-collapsedBits * math.Log(float64(zeros)/collapsedBits))), false
}

func popcount(w uint64) int {
	n := 0
	for ; w != 0; w &= w - 1 {
		n++
	}
	return n
}

// finish folds each pattern into a sibling that absorbs it (see absorbs),
// smallest first: the stragglers a few odd tokens leave behind.
func (t *table) finish() {
	all := make([]*entry, 0, len(t.entries))
	for _, e := range t.entries {
		all = append(all, e)
	}
	slices.SortFunc(all, func(a, b *entry) int {
		if a.keys != b.keys {
			return int(a.keys - b.keys)
		}
		return strings.Compare(a.pattern, b.pattern)
	})
	sk := newSkeletons(all)
	for _, e := range all {
		if into := sk.absorber(e); into != nil {
			t.mergeInto(into, e)
			delete(t.entries, e.pattern)
			sk.remove(e)
		}
	}
}

// merge adds the patterns of another node's table.
func (t *table) merge(o *table) {
	for g, v := range o.variety {
		if mine := t.variety[g]; mine != nil {
			mine.folded = mine.folded || v.folded
		} else if len(t.variety) < maxVariety {
			t.variety[g] = v
		}
	}
	for p, e := range o.entries {
		if mine := t.entries[p]; mine != nil {
			t.mergeInto(mine, e)
		} else {
			t.entries[p] = e
		}
	}
	if o.other != nil {
		if t.other == nil {
			t.other = &entry{pattern: "other", types: map[string]int64{}}
			t.collapsed = make([]uint64, collapsedBits/64)
		}
		t.mergeInto(t.other, o.other)
		for i, w := range o.collapsed {
			t.collapsed[i] |= w
		}
	}
	t.compact()
}

// skeletons groups patterns by their shape (pieces that could be
// absorbed blanked out), so that finding a pattern's absorber looks only
// at patterns of the same shape.
type skeletons map[string][]*entry

func newSkeletons(es []*entry) skeletons {
	s := skeletons{}
	for _, e := range es {
		k := skeleton(e.pieces)
		s[k] = append(s[k], e)
	}
	return s
}

func (s skeletons) remove(e *entry) {
	k := skeleton(e.pieces)
	s[k] = slices.DeleteFunc(s[k], func(x *entry) bool { return x == e })
}

func skeleton(ps []Piece) string {
	var b strings.Builder
	for _, p := range ps {
		if widenable(p) || p.Kind == Timestamp || p.Kind == ID || p.Kind == Date && digitsOnly(p.Format) {
			b.WriteString("\x00")
		} else {
			b.WriteString(p.String())
		}
		b.WriteString("\x01")
	}
	return b.String()
}

// absorber is the largest pattern of e's shape that absorbs it.
func (s skeletons) absorber(e *entry) *entry {
	var best *entry
	for _, q := range s[skeleton(e.pieces)] {
		if q != e && absorbs(q, e) && (best == nil || q.keys > best.keys) {
			best = q
		}
	}
	return best
}

// absorbs reports whether q is a more general pattern than e that dwarfs
// it (dominance times its keys), piece by piece: {n} takes {ts} and
// digit-only dates; {hex} takes {n}; {id} takes words, letters with
// digits, {n}, {hex} and {ts}. Words, numbers and hex must be as long as
// q's own tokens there, so a short namespace never vanishes into a
// long-token pattern next to it.
func absorbs(q, e *entry) bool {
	if q.keys < dominance*max(e.keys, 1) || len(q.pieces) != len(e.pieces) || q.pattern == e.pattern {
		return false
	}
	for i, qp := range q.pieces {
		ep := e.pieces[i]
		if qp.String() == ep.String() {
			continue
		}
		switch {
		case qp.Kind == Number && (ep.Kind == Timestamp || ep.Kind == Date && digitsOnly(ep.Format)):
		case qp.Kind == Hex && (ep.Kind == Number || ep.Kind == Literal && isHexWord(ep.Text)):
			if !within(e.lens[i], q.lens[i]) {
				return false
			}
		case qp.Kind == ID && (ep.Kind == Timestamp || widenable(ep)):
			if ep.Kind != Timestamp && !within(e.lens[i], q.lens[i]) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func within(in, out lenRange) bool { return in.lo >= out.lo && in.hi <= out.hi }

func digitsOnly(layout string) bool {
	for i := 0; i < len(layout); i++ {
		if !isDigit(layout[i]) {
			return false
		}
	}
	return layout != ""
}

func isHexWord(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isHexByte(s[i]) {
			return false
		}
	}
	return s != ""
}

// cut shortens s to at most n bytes without splitting a UTF-8 character.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
