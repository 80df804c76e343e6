// Package examples holds job files that work: each is loaded, validated
// and planned by the tests, and `keyjob demo` runs the ticket story's job
// from here.
package examples

import "embed"

// Files are the example job files.
//
//go:embed *.yaml
var Files embed.FS
