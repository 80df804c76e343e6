// Package fastre matches key names against the small, deterministic subset
// of RE2 that select.regex patterns nearly always use, several times faster
// than package regexp and without allocating.
//
// # Why
//
// keyjob tests every scanned key name against the job's select.regex. With
// package regexp that check (MatchString or FindStringSubmatch on the
// one-pass engine) was over a third of the process's CPU on a 1M-key run.
// Key-name patterns such as
//
//	^ticket:(?P<issued>\d{10}):(?P<customer>\d+):[A-Za-z0-9]+$
//
// are an anchored sequence of literals and repeated character classes, which
// a plain left-to-right loop over the bytes can decide.
//
// # The subset
//
// Compile re-parses the expression with regexp/syntax (Perl flags, as
// regexp.Compile does), simplifies it, and accepts it only when it is:
//
//   - anchored at the start (^ or \A, required) and optionally at the end
//     ($ or \z); without the end anchor a match may be a prefix of the input;
//   - otherwise a sequence of elements, each a single-character item — a
//     case-sensitive literal rune, a character class, . or (?s). — matched
//     once or repeated greedily (*, +, ?, {n}, {n,}, {n,m});
//   - with capture groups only at the top level, each around a run of such
//     elements (no nested groups, no alternation, no repeated groups);
//   - deterministic: for every item whose repeat count can vary, no
//     character it matches can begin what follows it (the following items up
//     to and including the first one that cannot match empty).
//
// Anything else — unanchored starts, alternation, case folding, (?m) line
// anchors, \b, lazy repeats, repeated groups, an empty group — is refused
// (ok == false), and the caller keeps using the *regexp.Regexp.
//
// # Why the answers are exact
//
// The determinism condition means that stopping a variable repeat early
// leaves a character that nothing after it can consume, so any match must
// take each repeat as far as it goes — what the greedy loop does. The greedy
// run therefore finds a match whenever one exists, and it is the match that
// Perl's leftmost-first preference (regexp's default) picks: every repeat
// greedy. With no trailing $ a shorter match can also exist, but only one
// that ends where a repeat was cut short, and leftmost-first still prefers
// the greedy one; so the whole match and every group agree with
// FindStringSubmatch. (It is also the longest match, so a Regexp switched to
// leftmost-longest by Longest agrees as well.)
//
// Input is decoded as regexp decodes it: bytes below 0x80 are runes, longer
// sequences are decoded as UTF-8, and an invalid byte is utf8.RuneError with
// width 1. Literal runes that regexp's engines treat inconsistently against
// invalid UTF-8 (U+FFFD itself, surrogates) are refused.
//
// The expression must come from regexp.Compile or regexp.MustCompile. A
// Regexp from CompilePOSIX parses ^ and $ as line anchors, which re.String()
// does not reveal, so Compile cannot tell and must not be given one.
package fastre

import (
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxItems bounds the number of single-character elements a pattern may
// expand to (x{10} counts 10), so that Compile stays trivial. Key-name
// patterns are far below it.
const maxItems = 256

// unbounded is the max of a repeat with no upper bound (x*, x+). Using the
// largest int rather than a sentinel keeps the match loop free of a branch.
const unbounded = int(^uint(0) >> 1)

// Matcher matches the deterministic subset of RE2 that key-name patterns use.
// It is immutable after Compile and safe for concurrent use.
type Matcher struct {
	items     []item
	groups    []group // groups[i] is capture group i; groups[0] is the whole match
	anchorEnd bool    // the pattern ends in $ (or \z): the match must reach the end
}

// item is one step of the match: either a literal byte string matched once,
// or a character class repeated between min and max times.
type item struct {
	// lit, when non-empty, is a run of ASCII literal characters, matched
	// byte for byte exactly once; class then holds lit[0] alone, for the
	// determinism check, and min == max == 1.
	lit string
	// ascii has bit c set when the class matches the rune c < 0x80, so
	// that ASCII input, the common case, needs neither decoding nor search.
	ascii [2]uint64
	// class is the sorted, non-overlapping inclusive ranges [lo, hi] as
	// pairs, as in syntax.Regexp.Rune; it decides runes >= 0x80.
	class    []rune
	min, max int
}

// group is a capture group as the half-open run items[start:end]: the group's
// text runs from the input position before items[start] to the one before
// items[end].
type group struct{ start, end int }

// Compile returns a Matcher equivalent to re, or ok=false when re is outside
// the subset (the caller then uses re itself). re must come from
// regexp.Compile or regexp.MustCompile, not CompilePOSIX (see the package
// doc).
func Compile(re *regexp.Regexp) (m *Matcher, ok bool) {
	parsed, err := syntax.Parse(re.String(), syntax.Perl)
	if err != nil {
		return nil, false
	}
	seq := flatten(parsed.Simplify(), nil)
	// The match must start at the beginning of the input: one leading \A.
	if len(seq) == 0 || seq[0].Op != syntax.OpBeginText {
		return nil, false
	}
	seq = seq[1:]
	b := builder{groups: make([]group, re.NumSubexp()+1), seen: make([]bool, re.NumSubexp()+1)}
	if n := len(seq); n > 0 && seq[n-1].Op == syntax.OpEndText {
		b.anchorEnd = true
		seq = seq[:n-1]
	}
	for _, sub := range seq {
		if !b.top(sub) {
			return nil, false
		}
	}
	return b.finish()
}

// flatten appends to dst the elements of re's concatenation, descending into
// nested concatenations (Simplify nests them, e.g. for x{2,5}). Grouping
// without capture has already disappeared in the parse.
func flatten(re *syntax.Regexp, dst []*syntax.Regexp) []*syntax.Regexp {
	if re.Op != syntax.OpConcat {
		return append(dst, re)
	}
	for _, sub := range re.Sub {
		dst = flatten(sub, dst)
	}
	return dst
}

// builder accumulates the items of a Matcher while Compile walks the parse.
type builder struct {
	items     []item
	groups    []group
	seen      []bool // seen[i]: capture group i has been placed
	anchorEnd bool
	// sealed is the number of leading items that must not be extended by
	// merging, because a group boundary follows them.
	sealed int
	// expanded counts single-character elements before merging, against
	// maxItems.
	expanded int
}

// top adds one top-level element, which alone may be a capture group.
func (b *builder) top(re *syntax.Regexp) bool {
	if re.Op != syntax.OpCapture {
		return b.element(re)
	}
	if re.Cap <= 0 || re.Cap >= len(b.groups) || b.seen[re.Cap] {
		return false
	}
	b.sealed = len(b.items)
	start := len(b.items)
	for _, sub := range flatten(re.Sub[0], nil) {
		if !b.element(sub) {
			return false
		}
	}
	b.sealed = len(b.items)
	b.groups[re.Cap] = group{start, len(b.items)}
	b.seen[re.Cap] = true
	return true
}

// element adds one element that is not a group: a single-character item,
// matched once or repeated. Everything else is outside the subset.
func (b *builder) element(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpLiteral:
		// A multi-rune literal is a sequence of single-rune items.
		for _, r := range re.Rune {
			lit := &syntax.Regexp{Op: syntax.OpLiteral, Flags: re.Flags, Rune: []rune{r}}
			class, ok := singleClass(lit)
			if !ok || !b.add(class, 1, 1) {
				return false
			}
		}
		return true
	case syntax.OpCharClass, syntax.OpAnyCharNotNL, syntax.OpAnyChar:
		class, ok := singleClass(re)
		return ok && b.add(class, 1, 1)
	case syntax.OpStar, syntax.OpPlus:
		class, ok := repeatedClass(re)
		return ok && b.add(class, b2i(re.Op == syntax.OpPlus), unbounded)
	case syntax.OpQuest:
		class, n, ok := questChain(re)
		return ok && b.add(class, 0, n)
	}
	// OpRepeat does not survive Simplify; empty-width assertions other
	// than the outer anchors, OpEmptyMatch, alternation and nested groups
	// are outside the subset.
	return false
}

// repeatedClass returns the class of x in x* or x+, when x is a
// single-character item and the repeat is greedy.
func repeatedClass(re *syntax.Regexp) ([]rune, bool) {
	if re.Flags&syntax.NonGreedy != 0 {
		return nil, false
	}
	return singleClass(re.Sub[0])
}

// questChain recognises x? and the nested form Simplify gives x{0,n},
// (?:x(?:x(?:x)?)?)?, returning x's class and n. Each level must be greedy
// and repeat the same x.
func questChain(re *syntax.Regexp) (class []rune, n int, ok bool) {
	if re.Op != syntax.OpQuest || re.Flags&syntax.NonGreedy != 0 {
		return nil, 0, false
	}
	sub := re.Sub[0]
	if sub.Op != syntax.OpConcat {
		class, ok = singleClass(sub)
		return class, 1, ok
	}
	if len(sub.Sub) != 2 {
		return nil, 0, false
	}
	class, ok = singleClass(sub.Sub[0])
	if !ok {
		return nil, 0, false
	}
	inner, n, ok := questChain(sub.Sub[1])
	if !ok || !equalClass(class, inner) {
		return nil, 0, false
	}
	return class, n + 1, true
}

// anyChar and anyCharNotNL are the classes of (?s). and . as rune ranges.
var (
	anyChar      = []rune{0, unicode.MaxRune}
	anyCharNotNL = []rune{0, '\n' - 1, '\n' + 1, unicode.MaxRune}
)

// singleClass returns the rune ranges matched by a single-character item: a
// case-sensitive one-rune literal, a class, or any character.
func singleClass(re *syntax.Regexp) ([]rune, bool) {
	switch re.Op {
	case syntax.OpLiteral:
		if len(re.Rune) != 1 || re.Flags&syntax.FoldCase != 0 {
			return nil, false
		}
		r := re.Rune[0]
		// regexp compares literal prefixes as bytes but decodes the
		// rest, so for U+FFFD and surrogates (which encode as U+FFFD)
		// its engines disagree about invalid UTF-8. Stay out of it.
		if r == utf8.RuneError || !utf8.ValidRune(r) {
			return nil, false
		}
		return []rune{r, r}, true
	case syntax.OpCharClass:
		return re.Rune, true
	case syntax.OpAnyChar:
		return anyChar, true
	case syntax.OpAnyCharNotNL:
		return anyCharNotNL, true
	}
	return nil, false
}

// add appends a class repeated min..max times, merging it into the
// previous item where that gives the same matches with fewer steps:
//   - consecutive ASCII literal characters become one literal string, which
//     the match compares as bytes (exact: a byte below 0x80 is the rune);
//   - a class after a fixed-count repeat of the same class (\d\d\d, or the
//     xx+ Simplify makes of x{2,}) extends that repeat. Only after a fixed
//     count: x+x stays two items, so the determinism check refuses it.
//
// Merging never crosses a group boundary (b.sealed).
func (b *builder) add(class []rune, min, max int) bool {
	b.expanded++
	if b.expanded > maxItems {
		return false
	}
	var prev *item
	if n := len(b.items); n > b.sealed {
		prev = &b.items[n-1]
	}
	asciiLit := min == 1 && max == 1 && len(class) == 2 && class[0] == class[1] && class[0] < utf8.RuneSelf
	switch {
	case asciiLit && prev != nil && prev.lit != "":
		prev.lit += string(class[0])
	case asciiLit:
		b.items = append(b.items, newItem(class, 1, 1))
		b.items[len(b.items)-1].lit = string(class[0])
	case prev != nil && prev.lit == "" && prev.min == prev.max && equalClass(prev.class, class):
		prev.min += min
		prev.max = addMax(prev.max, max)
	default:
		b.items = append(b.items, newItem(class, min, max))
	}
	return true
}

// addMax adds two repeat maxima, keeping unbounded unbounded.
func addMax(a, b int) int {
	if a == unbounded || b == unbounded {
		return unbounded
	}
	return a + b
}

// newItem builds a class item with its ASCII bitmap filled in.
func newItem(class []rune, min, max int) item {
	it := item{class: class, min: min, max: max}
	for i := 0; i < len(class); i += 2 {
		for r := class[i]; r <= class[i+1] && r < utf8.RuneSelf; r++ {
			it.ascii[r>>6] |= 1 << (r & 63)
		}
	}
	return it
}

// finish checks that every group was placed and that the items are
// deterministic, and returns the Matcher.
func (b *builder) finish() (*Matcher, bool) {
	for i := 1; i < len(b.seen); i++ {
		if !b.seen[i] {
			return nil, false
		}
	}
	if !deterministic(b.items) {
		return nil, false
	}
	b.groups[0] = group{0, len(b.items)}
	return &Matcher{items: b.items, groups: b.groups, anchorEnd: b.anchorEnd}, true
}

// deterministic reports whether greedy matching is the only way to match:
// for every item with a variable count, none of its characters may begin
// what follows — the next item, and the ones after it for as long as the
// items passed over can match empty. (End of input is never in a class, so
// it needs no check.)
func deterministic(items []item) bool {
	for k := range items {
		if items[k].min == items[k].max {
			continue
		}
		for j := k + 1; j < len(items); j++ {
			if overlap(items[k].class, items[j].class) {
				return false
			}
			if items[j].min > 0 {
				break
			}
		}
	}
	return true
}

// overlap reports whether two range lists share a rune.
func overlap(a, b []rune) bool {
	for i := 0; i < len(a); i += 2 {
		for j := 0; j < len(b); j += 2 {
			if a[i] <= b[j+1] && b[j] <= a[i+1] {
				return true
			}
		}
	}
	return false
}

// equalClass reports whether two range lists are identical. Both come from
// the parser in canonical (sorted, merged) form, so equal sets are equal
// lists.
func equalClass(a, b []rune) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Match reports whether s matches (same answer as re.MatchString(s)).
func (m *Matcher) Match(s string) bool {
	_, _, ok := m.run(s, m.groups[0])
	return ok
}

// Submatch reports whether s matches and, if so, the text of capture group
// i (1-based, as in regexp's SubexpIndex; i == 0 is the whole match) — the
// same string re.FindStringSubmatch(s)[i] gives — without allocating: it is
// a substring of s. Every group in the subset participates in a match, so a
// group gives "" only when it matched empty. When s does not match it
// returns "", false. Like indexing FindStringSubmatch's result, an i outside
// 0..re.NumSubexp() panics.
func (m *Matcher) Submatch(s string, i int) (string, bool) {
	if i < 0 || i >= len(m.groups) {
		panic("fastre: capture group index out of range")
	}
	lo, hi, ok := m.run(s, m.groups[i])
	if !ok {
		return "", false
	}
	return s[lo:hi], true
}

// run matches s greedily, item by item, and returns the input positions at
// which g starts and ends.
func (m *Matcher) run(s string, g group) (lo, hi int, ok bool) {
	pos := 0
	for k := range m.items {
		if k == g.start {
			lo = pos
		}
		if k == g.end {
			hi = pos
		}
		if pos, ok = m.items[k].consume(s, pos); !ok {
			return 0, 0, false
		}
	}
	if g.start == len(m.items) {
		lo = pos
	}
	if g.end == len(m.items) {
		hi = pos
	}
	if m.anchorEnd && pos != len(s) {
		return 0, 0, false
	}
	return lo, hi, true
}

// consume matches the item at s[pos:], taking as many repeats as it can (at
// most max), and returns the position after them and whether there were at
// least min.
func (it *item) consume(s string, pos int) (int, bool) {
	if it.lit != "" {
		if !strings.HasPrefix(s[pos:], it.lit) {
			return pos, false
		}
		return pos + len(it.lit), true
	}
	n := 0
	for n < it.max && pos < len(s) {
		c := s[pos]
		if c < utf8.RuneSelf {
			if it.ascii[c>>6]&(1<<(c&63)) == 0 {
				break
			}
			pos++
		} else {
			// As regexp does: invalid UTF-8 is RuneError, width 1.
			r, w := utf8.DecodeRuneInString(s[pos:])
			if !it.has(r) {
				break
			}
			pos += w
		}
		n++
	}
	return pos, n >= it.min
}

// has reports whether r (>= 0x80 in practice) is in the item's class, by
// binary search over the ranges.
func (it *item) has(r rune) bool {
	c := it.class
	lo, hi := 0, len(c)/2
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		switch {
		case r < c[2*mid]:
			hi = mid
		case r > c[2*mid+1]:
			lo = mid + 1
		default:
			return true
		}
	}
	return false
}
