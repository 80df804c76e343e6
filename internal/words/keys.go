package words

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Printable is a key name (or a path) safe to print: as is when it is
// printable UTF-8, else Go-quoted, so a key cannot move the cursor of a
// terminal or hide a byte from the reader.
func Printable(k string) string {
	if k == "" || !utf8.ValidString(k) {
		return strconv.Quote(k)
	}
	for _, r := range k {
		if !unicode.IsPrint(r) {
			return strconv.Quote(k)
		}
	}
	return k
}

// OneLine makes free text (a description, a message) one printable line.
func OneLine(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			return ' '
		case unicode.IsControl(r):
			return '\uFFFD'
		}
		return r
	}, s)
}
