package fastre

import (
	"regexp"
	"testing"
)

// fuzzInputs seed the input side of FuzzEquivalence.
var fuzzInputs = []string{
	"",
	"ticket:1700000000:42:AbC123xyz",
	"ticket:1700000000:42:AbC123xyz\n",
	"deal:clicks:7:2024-01-31",
	"user:123",
	"aabbc",
	"k:\xff\n\U0001F600",
	"αβγ:12",
	"v12x",
	"\xed\xa0\x80\uFFFD:1",
}

// FuzzEquivalence compiles a pattern with regexp and, when fastre accepts
// it, checks that fastre gives regexp's answers (Match, and Submatch for
// every group, under both leftmost-first and leftmost-longest) on the input.
func FuzzEquivalence(f *testing.F) {
	for i, p := range acceptedPatterns {
		for j, s := range fuzzInputs {
			// A diagonal of the cross product keeps the seed corpus small.
			if (i+j)%3 == 0 {
				f.Add(p, s)
			}
		}
	}
	for i, p := range refusedPatterns {
		f.Add(p, fuzzInputs[i%len(fuzzInputs)])
	}
	f.Fuzz(func(t *testing.T, pattern, input string) {
		re, err := regexp.Compile(pattern)
		if err != nil {
			return
		}
		m, ok := Compile(re)
		if !ok {
			return
		}
		checkAgree(t, re, m, input)
		checkAgree(t, longest(pattern), m, input)
	})
}
