package jobs

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// tree is a parsed job file and where each of its fields is, so that every
// error, the decoder's or validation's, can name a line and a column.
type tree struct {
	file  string
	body  *ast.MappingNode
	keys  map[string]ast.Node     // field -> its key
	vals  map[string]ast.Node     // field -> its value
	bad   map[string]bool         // fields the structure check refused
	names map[*token.Token]string // key or value token -> field
	near  map[string][]string     // parent -> fields misspelt keys were near
	errs  Errors
}

func newTree(file string, body *ast.MappingNode) *tree {
	return &tree{
		file:  file,
		body:  body,
		keys:  map[string]ast.Node{},
		vals:  map[string]ast.Node{},
		bad:   map[string]bool{},
		names: map[*token.Token]string{},
		near:  map[string][]string{},
	}
}

// shape checks the document against the raw structs before the decoder
// sees it: unknown and repeated fields, and values of the wrong kind (a
// list where a duration goes). The decoder stops at its first error; this
// walk reports them all, and drops the offending entries from the tree so
// the strict decode of the rest succeeds and validation can go on.
func (t *tree) shape() {
	t.mapping("", reflect.TypeOf(rawJob{}), t.body)
}

// value checks one value against its raw type and reports whether to keep
// it.
func (t *tree) value(field string, typ reflect.Type, n ast.Node) bool {
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	switch n.(type) {
	case *ast.AnchorNode, *ast.AliasNode, *ast.TagNode:
		t.fail(field, n, "want %s, got %s", wantOf(typ), describe(n)).Hint =
			"job files take no anchors, aliases or tags: write the value out"
		return false
	case *ast.NullNode:
		if typ == reflect.TypeOf(rawEmpty{}) {
			t.fail(field, n, "want {}, got null").Hint = "write " + lastName(field) + ": {}"
			return false
		}
		return true // not set
	}
	if typ == reflect.TypeOf(rawBackup{}) && isScalar(n) {
		return t.scalar(field, reflect.TypeOf(""), typ, n)
	}
	if typ.Kind() == reflect.Struct {
		m, ok := n.(*ast.MappingNode)
		if !ok {
			t.fail(field, n, "want %s, got %s", wantOf(typ), describe(n))
			return false
		}
		t.mapping(field, typ, m)
		return true
	}
	return t.scalar(field, typ, typ, n)
}

// scalar checks a leaf: kind is what the decoder fills, named is the field's
// type, which says what to ask for.
func (t *tree) scalar(field string, kind, named reflect.Type, n ast.Node) bool {
	ok := false
	switch kind.Kind() {
	case reflect.String:
		ok = isScalar(n)
		// An escape can spell what the bytes did not (checkBytes saw
		// them): the value itself must be UTF-8 too.
		if sn, isStr := n.(*ast.StringNode); ok && isStr && !utf8.ValidString(sn.Value) {
			t.fail(field, n, "want UTF-8 text, got %q", sn.Value)
			return false
		}
	case reflect.Bool:
		_, ok = n.(*ast.BoolNode)
	case reflect.Int, reflect.Int64:
		ok = isInt64(n)
	}
	if !ok {
		t.fail(field, n, "want %s, got %s", wantOf(named), describe(n))
	}
	return ok
}

// mapping checks a mapping's keys against a struct's yaml names and keeps
// only the entries that pass.
func (t *tree) mapping(parent string, typ reflect.Type, m *ast.MappingNode) {
	fields := yamlFields(typ)
	kept := m.Values[:0:0]
	for _, mv := range m.Values {
		name, ok := keyName(mv.Key)
		if !ok {
			t.fail(parent, mv.Key, "want a field name, got %s", describe(mv.Key))
			continue
		}
		field := join(parent, name)
		if !t.known(field, name, typ, mv) || !t.once(field, mv) {
			continue
		}
		t.keys[field], t.vals[field] = mv.Key, mv.Value
		t.names[mv.Key.GetToken()], t.names[mv.Value.GetToken()] = field, field
		if t.value(field, fields[name], mv.Value) {
			kept = append(kept, mv)
		}
	}
	m.Values = kept
	t.quietMissing(parent)
}

// quietMissing marks the fields a misspelt key was probably meant to be
// when the mapping lacks them: "selct" already says "did you mean
// select?", so "select: got nothing" would only repeat it.
func (t *tree) quietMissing(parent string) {
	for _, name := range t.near[parent] {
		if _, ok := t.keys[join(parent, name)]; !ok {
			t.bad[join(parent, name)] = true
		}
	}
}

func (t *tree) known(field, name string, typ reflect.Type, mv *ast.MappingValueNode) bool {
	fields := yamlFields(typ)
	if _, ok := fields[name]; ok {
		return true
	}
	names := yamlNames(typ)
	if len(names) == 0 {
		parent := field[:strings.LastIndexByte(field, '.')]
		t.fail(field, mv.Key, "unknown field, %s takes no settings", lastName(parent)).Hint =
			"write " + lastName(parent) + ": {}"
		return false
	}
	e := t.fail(field, mv.Key, "unknown field, want one of %s", strings.Join(names, ", "))
	if near := nearest(name, names); near != "" {
		e.Hint = "did you mean " + near + "?"
		parent := strings.TrimSuffix(field, "."+name)
		if parent == field {
			parent = ""
		}
		t.near[parent] = append(t.near[parent], near)
	}
	return false
}

func (t *tree) once(field string, mv *ast.MappingValueNode) bool {
	first, seen := t.keys[field]
	if !seen {
		return true
	}
	p := first.GetToken().Position
	t.fail(field, mv.Key, "want each field once, got a second %s (the first is at %d:%d)",
		lastName(field), p.Line, p.Column)
	return false
}

// fail records a structure error at n and marks the field so validation
// stays quiet about it.
func (t *tree) fail(field string, n ast.Node, format string, args ...any) *Error {
	line, col := nodePos(n)
	e := &Error{File: t.file, Line: line, Col: col, Field: field, Msg: fmt.Sprintf(format, args...)}
	t.errs = append(t.errs, e)
	t.bad[field] = true
	return e
}

// refused reports whether the structure check refused field or a field
// it sits in.
func (t *tree) refused(field string) bool {
	for f := field; ; f = f[:strings.LastIndexByte(f, '.')] {
		if t.bad[f] {
			return true
		}
		if !strings.Contains(f, ".") {
			return false
		}
	}
}

// pos is where an error about field points: its value when the file has
// one, else the key of the nearest enclosing field that is there, else the
// document's first key.
func (t *tree) pos(field string) (line, col int) {
	if n, ok := t.vals[field]; ok {
		return nodePos(n)
	}
	for f := field; strings.Contains(f, "."); {
		f = f[:strings.LastIndexByte(f, '.')]
		if n, ok := t.keys[f]; ok {
			return nodePos(n)
		}
	}
	return nodePos(t.body)
}

// nodePos is the 1-based position of a node. A block mapping's own token is
// the colon of its first entry: point at that entry's key instead.
func nodePos(n ast.Node) (line, col int) {
	if m, ok := n.(*ast.MappingNode); ok && !m.IsFlowStyle && len(m.Values) > 0 {
		return nodePos(m.Values[0].Key)
	}
	if n == nil || n.GetToken() == nil || n.GetToken().Position == nil {
		return 1, 1
	}
	p := n.GetToken().Position
	return max(p.Line, 1), max(p.Column, 1)
}

// yamlFields maps a struct's yaml names to their field types.
func yamlFields(typ reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		if name, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); name != "" {
			out[name] = f.Type
		}
	}
	return out
}

// yamlNames lists a struct's yaml names in the struct's order, which is
// the order the spec documents them in.
func yamlNames(typ reflect.Type) []string {
	var names []string
	for i := 0; i < typ.NumField(); i++ {
		if name, _, _ := strings.Cut(typ.Field(i).Tag.Get("yaml"), ","); name != "" {
			names = append(names, name)
		}
	}
	return names
}

func keyName(k ast.MapKeyNode) (string, bool) {
	s, ok := k.(*ast.StringNode)
	if !ok {
		return "", false
	}
	return s.Value, true
}

func isScalar(n ast.Node) bool {
	switch n.(type) {
	case *ast.StringNode, *ast.LiteralNode, *ast.IntegerNode, *ast.FloatNode,
		*ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		return true
	}
	return false
}

func isInt64(n ast.Node) bool {
	i, ok := n.(*ast.IntegerNode)
	if !ok {
		return false
	}
	switch v := i.Value.(type) {
	case int64:
		return true
	case uint64:
		return v <= math.MaxInt64
	}
	return false
}

// wantOf says what a value of a raw type must look like.
func wantOf(typ reflect.Type) string {
	if w, ok := reflect.Zero(typ).Interface().(wanter); ok {
		return w.want()
	}
	switch typ.Kind() {
	case reflect.Struct:
		return "a mapping of " + strings.Join(yamlNames(typ), ", ")
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64:
		return "an integer"
	}
	return "a string"
}

// describe says what a node is, for "got ...": text is quoted, numbers and
// booleans are shown as written.
func describe(n ast.Node) string {
	switch v := n.(type) {
	case *ast.StringNode:
		return strconv.Quote(v.Value)
	case *ast.LiteralNode:
		return strconv.Quote(v.Value.Value)
	case *ast.NullNode:
		return "null"
	case *ast.MappingNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case *ast.AnchorNode:
		return "an anchor"
	case *ast.AliasNode:
		return "an alias"
	case *ast.TagNode:
		return "a tag"
	case *ast.MappingKeyNode:
		return "a complex key"
	}
	if n.GetToken() != nil {
		return n.GetToken().Value
	}
	return n.Type().String()
}

func join(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

func lastName(field string) string {
	return field[strings.LastIndexByte(field, '.')+1:]
}

// nearest returns the name closest to s when it is a likely typo (at most
// two edits, and fewer than half the letters), else "".
func nearest(s string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if d := editDistance(s, n); d < bestD && 2*d < len(n) {
			best, bestD = n, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
