package fastre

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

const ticketPattern = `^ticket:(?P<issued>\d{10}):(?P<customer>\d+):[A-Za-z0-9]+$`

// acceptedPatterns are inside the subset. The equivalence test and the fuzz
// seeds run all of them against regexp.
var acceptedPatterns = []string{
	ticketPattern,
	`^deal:clicks:\d+:\d{4}-\d{2}-\d{2}$`,
	`^session:[0-9a-f]{32}$`,
	`^user:(\d+)$`,
	`^a*b*c$`,
	`^cache:(?P<ts>\d{13})`,
	`^x\.y$`,
	`^[^:]+:(\d+)$`,
	`^\p{L}+:\d+$`,
	`^[α-ω]+$`,
	`^k:.{3}$`,
	`^a?b?c$`,
	`^v(\d{1,3})x$`,
	`^(\d{2,4})-(\w+)$`,
	`(?s)^k:.{2}`,
	`^(a*)(b*)$`,
	`^(a?)(b+)(c{0,2})`,
	`^user:(\d*)`,
	`^$`,
	`^`,
	`^id:\d{3,}$`,
	`^\d\d+$`,
	`^日本:(\p{Han}+)$`,
	`^é+x$`,
	`^[\x{80}-\x{10FFFF}]+:(.)$`,
	`^(?s:.)(.)$`,
	`^a.b$`,
	`^[^a]*a`,
	`^.*$`,
	`\A(?P<k>[a-z]{1,8}):(?P<v>[^:]*)\z`,
	`^(x)(y)(z)$`,
	`^(a|b):(c|d)$`,
	`^x(?:y)*`,
	`^.{1,3}\n`,
	`^x{2,5}y?$`,
	`^[\x00-\x{10FFFF}]{0,3}$`,
	`^[^\n]*$`,
}

// refusedPatterns are valid Go regexps outside the subset.
var refusedPatterns = []string{
	`ticket:\d+`, // unanchored start
	`^(a|bc)$`,   // alternation
	`^\d+\d$`,    // \d+ could stop early: not deterministic
	`^a*?b$`,     // lazy
	`(?i)^abc$`,  // case folding
	`^[Aa]bc$`,   // parsed as a case-folded literal
	`^(?:ab)+$`,  // repeated sequence
	`^.*:(\d+)$`, // . includes ':'
	`(?m)^a$`,    // line anchors
	`^a\b`,       // word boundary
	`^((a)b)$`,   // nested groups
	`^\d+(:\d+)?`,
	`^()$`,
	`^a{0}b$`,
	`^(a)+$`,
	`^a+?$`,
	`^a??b$`,
	`^a{1,3}?b$`,
	`^ab|cd$`,
	`^a$b`,
	`^a^b`,
	`^\x{fffd}$`,
	`^\x{d800}`,
	`^a?a$`,
	`^a*b?a$`,
	`^\w+_\d+$`, // \w includes '_'
	`^[a-z]{1,3}[k-m]$`,
	`^(a|b)+$`,
	`^.{1,3}x`,
	`^a{257}$`, // too many items
}

func TestCompileSubset(t *testing.T) {
	for _, p := range acceptedPatterns {
		if _, ok := Compile(regexp.MustCompile(p)); !ok {
			t.Errorf("Compile(%q) refused, want accepted", p)
		}
	}
	for _, p := range refusedPatterns {
		if _, ok := Compile(regexp.MustCompile(p)); ok {
			t.Errorf("Compile(%q) accepted, want refused", p)
		}
	}
}

func TestTicket(t *testing.T) {
	re := regexp.MustCompile(ticketPattern)
	m, ok := Compile(re)
	if !ok {
		t.Fatal("ticket pattern refused")
	}
	const key = "ticket:1700000000:42:AbC123xyz"
	for name, want := range map[string]string{"issued": "1700000000", "customer": "42"} {
		if got, ok := m.Submatch(key, re.SubexpIndex(name)); !ok || got != want {
			t.Errorf("Submatch(%q, %s) = %q, %v; want %q, true", key, name, got, ok, want)
		}
	}
	if got, ok := m.Submatch(key, 0); !ok || got != key {
		t.Errorf("Submatch(%q, 0) = %q, %v; want the whole key", key, got, ok)
	}
	for _, bad := range []string{
		"ticket:170000000:42:AbC",   // nine digits
		"ticket:17000000000:42:AbC", // eleven
		"ticket:1700000000:42:",     // empty tail
		"ticket:1700000000::AbC",    // empty customer
		"ticket:1700000000:42:AbC\n",
		"xticket:1700000000:42:AbC",
		"ticket:1700000000:42:Ab-C",
	} {
		if m.Match(bad) {
			t.Errorf("Match(%q) = true, want false", bad)
		}
		if got, ok := m.Submatch(bad, 1); ok || got != "" {
			t.Errorf("Submatch(%q, 1) = %q, %v; want \"\", false", bad, got, ok)
		}
	}
}

func TestSubmatchIndexOutOfRange(t *testing.T) {
	m, _ := Compile(regexp.MustCompile(`^user:(\d+)$`))
	for _, i := range []int{-1, 2} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Submatch(_, %d) did not panic", i)
				}
			}()
			m.Submatch("user:1", i)
		}()
	}
}

// checkAgree fails t unless m gives re's answers on s: Match against
// MatchString, and Submatch for every group against FindStringSubmatch.
func checkAgree(t testing.TB, re *regexp.Regexp, m *Matcher, s string) {
	t.Helper()
	want := re.FindStringSubmatch(s)
	if got := m.Match(s); got != re.MatchString(s) || got != (want != nil) {
		t.Fatalf("%q: Match(%q) = %v, regexp says %v", re, s, got, want != nil)
	}
	for i := 0; i <= re.NumSubexp(); i++ {
		got, ok := m.Submatch(s, i)
		if ok != (want != nil) {
			t.Fatalf("%q: Submatch(%q, %d) matched = %v, regexp says %v", re, s, i, ok, want != nil)
		}
		if ok && got != want[i] {
			t.Fatalf("%q: Submatch(%q, %d) = %q, regexp says %q", re, s, i, got, want[i])
		}
	}
}

// longest returns a copy of pattern compiled for leftmost-longest matching,
// which the package doc claims gives the same answers on the subset.
func longest(pattern string) *regexp.Regexp {
	re := regexp.MustCompile(pattern)
	re.Longest()
	return re
}

// extraTokens are mixed into every pattern's alphabet: separators, digits,
// letters, a newline, multi-byte runes, an invalid byte, a truncated
// sequence, an encoded surrogate and an encoded U+FFFD.
var extraTokens = []string{
	":", "0", "5", "9", "a", "f", "z", "A", "Z", "_", "-", ".", "\n", " ",
	"é", "α", "ω", "世", "\U0001F600", "\xff", "\xe4\xb8", "\xed\xa0\x80", "\uFFFD",
}

// alphabet is the tokens random inputs for m are built from: extraTokens
// and, for each item, its literal and the runes at and around the edges of
// its class ranges.
func alphabet(m *Matcher) []string {
	tokens := append([]string(nil), extraTokens...)
	for _, it := range m.items {
		if it.lit != "" {
			tokens = append(tokens, it.lit, it.lit[:1])
			continue
		}
		for _, r := range it.class {
			for _, e := range []rune{r - 1, r, r + 1} {
				if utf8.ValidRune(e) {
					tokens = append(tokens, string(e))
				}
			}
		}
	}
	return tokens
}

// sample returns a random rune of the class ranges, or "" for an empty class.
func sample(rng *rand.Rand, class []rune) string {
	if len(class) == 0 {
		return ""
	}
	i := 2 * rng.IntN(len(class)/2)
	return string(class[i] + rng.Int32N(class[i+1]-class[i]+1))
}

// matching builds a string that follows m's items (and usually matches):
// each item repeated a random count near its minimum.
func matching(rng *rand.Rand, m *Matcher) string {
	var b strings.Builder
	for _, it := range m.items {
		if it.lit != "" {
			b.WriteString(it.lit)
			continue
		}
		n := it.min + rng.IntN(min(it.max-it.min, 5)+1)
		for range n {
			b.WriteString(sample(rng, it.class))
		}
	}
	return b.String()
}

// mutate applies a few random edits to s: truncation, insertion, deletion,
// replacement and extension by tokens.
func mutate(rng *rand.Rand, s string, tokens []string) string {
	for range rng.IntN(4) {
		i := 0
		if len(s) > 0 {
			i = rng.IntN(len(s) + 1)
		}
		tok := tokens[rng.IntN(len(tokens))]
		switch rng.IntN(5) {
		case 0:
			s = s[:i]
		case 1:
			s = s[:i] + tok + s[i:]
		case 2:
			if i < len(s) {
				s = s[:i] + s[i+1:]
			}
		case 3:
			if i < len(s) {
				s = s[:i] + tok + s[i+1:]
			}
		case 4:
			s += tok
		}
	}
	return s
}

// randomInput builds one test input for m: a string that follows its
// items, possibly mutated, or a string of random tokens.
func randomInput(rng *rand.Rand, m *Matcher, tokens []string) string {
	if rng.IntN(4) == 0 {
		var b strings.Builder
		for range rng.IntN(12) {
			b.WriteString(tokens[rng.IntN(len(tokens))])
		}
		return b.String()
	}
	s := matching(rng, m)
	if rng.IntN(3) == 0 {
		return s
	}
	return mutate(rng, s, tokens)
}

func TestEquivalence(t *testing.T) {
	const perPattern = 6000
	rng := rand.New(rand.NewPCG(1, 2))
	total, matched := 0, 0
	for _, p := range acceptedPatterns {
		re := regexp.MustCompile(p)
		m, ok := Compile(re)
		if !ok {
			t.Errorf("Compile(%q) refused", p)
			continue
		}
		reLongest := longest(p)
		tokens := alphabet(m)
		for range perPattern {
			s := randomInput(rng, m, tokens)
			checkAgree(t, re, m, s)
			checkAgree(t, reLongest, m, s)
			total++
			if re.MatchString(s) {
				matched++
			}
		}
	}
	// The generator must exercise both outcomes, or the comparison says
	// little.
	if matched < total/5 || matched > total*4/5 {
		t.Errorf("%d of %d inputs matched; generator is lopsided", matched, total)
	}
	t.Logf("%d inputs, %d matched", total, matched)
}

// Building blocks for randomPattern: single-character items, and
// quantifiers to put after them.
var (
	patternAtoms = []string{
		"a", "b", "c", ":", "0", `\.`, `\n`, "é", "α", "日",
		`\d`, `\w`, `\s`, "[a-c]", "[b-d]", "[^:]", "[^a]", `\pL`, `\p{Han}`,
		".", "(?s:.)", "[α-ω]", `[\x80-\x{10FFFF}]`, `[\x00-\x{7f}]`, "[0-9a-f]",
	}
	patternQuantifiers = []string{
		"", "", "", "*", "+", "?", "{2}", "{1,3}", "{2,}", "{0,2}", "*?", "{3}",
	}
)

// randomPattern builds a random anchored pattern of atoms, quantifiers and
// top-level groups, many of which fastre accepts and many it refuses.
func randomPattern(rng *rand.Rand) string {
	var b strings.Builder
	b.WriteString("^")
	for range 1 + rng.IntN(5) {
		group := rng.IntN(4) == 0
		if group {
			b.WriteString("(")
		}
		for range 1 + b2i(group)*rng.IntN(3) {
			b.WriteString(patternAtoms[rng.IntN(len(patternAtoms))])
			b.WriteString(patternQuantifiers[rng.IntN(len(patternQuantifiers))])
		}
		if group {
			b.WriteString(")")
		}
	}
	if rng.IntN(3) != 0 {
		b.WriteString("$")
	}
	return b.String()
}

// TestRandomPatterns widens TestEquivalence to generated patterns: every one
// that fastre accepts must agree with regexp on generated inputs.
func TestRandomPatterns(t *testing.T) {
	const patterns, perPattern = 3000, 100
	rng := rand.New(rand.NewPCG(3, 4))
	accepted := 0
	for range patterns {
		p := randomPattern(rng)
		re := regexp.MustCompile(p)
		m, ok := Compile(re)
		if !ok {
			continue
		}
		accepted++
		reLongest := longest(p)
		tokens := alphabet(m)
		for range perPattern {
			s := randomInput(rng, m, tokens)
			checkAgree(t, re, m, s)
			checkAgree(t, reLongest, m, s)
		}
	}
	// Both sides of the subset must be well represented.
	if accepted < patterns/5 || accepted > patterns*4/5 {
		t.Errorf("%d of %d random patterns accepted; generator is lopsided", accepted, patterns)
	}
	t.Logf("%d of %d random patterns accepted", accepted, patterns)
}

func TestNoAllocs(t *testing.T) {
	re := regexp.MustCompile(ticketPattern)
	m, _ := Compile(re)
	const key = "ticket:1700000000:42:AbC123xyz"
	customer := re.SubexpIndex("customer")
	var sink string
	if n := testing.AllocsPerRun(1000, func() {
		if !m.Match(key) {
			t.Fatal("no match")
		}
	}); n != 0 {
		t.Errorf("Match allocates %v times per run", n)
	}
	if n := testing.AllocsPerRun(1000, func() {
		sink, _ = m.Submatch(key, customer)
	}); n != 0 {
		t.Errorf("Submatch allocates %v times per run", n)
	}
	if sink != "42" {
		t.Errorf("Submatch gave %q", sink)
	}
	// A non-ASCII key takes the decoding path.
	u, _ := Compile(regexp.MustCompile(`^\p{L}+:(\d+)$`))
	if n := testing.AllocsPerRun(1000, func() {
		sink, _ = u.Submatch("日本語:12", 1)
	}); n != 0 {
		t.Errorf("Submatch on non-ASCII allocates %v times per run", n)
	}
}

// TestConcurrent shares one Matcher among goroutines; run with -race it
// checks that matching does not write to the Matcher.
func TestConcurrent(t *testing.T) {
	re := regexp.MustCompile(ticketPattern)
	m, _ := Compile(re)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 0))
			tokens := alphabet(m)
			for range 2000 {
				s := randomInput(rng, m, tokens)
				got, ok := m.Submatch(s, 2)
				want := re.FindStringSubmatch(s)
				if ok != (want != nil) || (ok && got != want[2]) {
					t.Errorf("Submatch(%q, 2) = %q, %v; regexp says %q", s, got, ok, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

var (
	benchBool bool
	benchStr  string
)

// BenchmarkTicket compares fastre with regexp on the ticket pattern, the
// check keyjob runs once per scanned key.
func BenchmarkTicket(b *testing.B) {
	re := regexp.MustCompile(ticketPattern)
	m, ok := Compile(re)
	if !ok {
		b.Fatal("ticket pattern refused")
	}
	const key = "ticket:1700000000:42:AbC123xyz"
	customer := re.SubexpIndex("customer")
	b.Run("fastre/Match", func(b *testing.B) {
		for b.Loop() {
			benchBool = m.Match(key)
		}
	})
	b.Run("regexp/MatchString", func(b *testing.B) {
		for b.Loop() {
			benchBool = re.MatchString(key)
		}
	})
	b.Run("fastre/Submatch", func(b *testing.B) {
		for b.Loop() {
			benchStr, benchBool = m.Submatch(key, customer)
		}
	})
	b.Run("regexp/FindStringSubmatch", func(b *testing.B) {
		for b.Loop() {
			benchStr = re.FindStringSubmatch(key)[customer]
		}
	})
}
