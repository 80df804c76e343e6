package words

import (
	"bytes"
	"fmt"
	"io"
	"strings"
)

// Formats are the report formats, in the order help texts list them. Each
// call returns a new slice, so a package can hand out its own.
func Formats() []string { return []string{"text", "markdown", "json"} }

// Render writes v to w with the renderer for format: "text" (a terminal),
// "markdown" or "json". An unknown format is an error that names the ones
// there are.
func Render[T any](w io.Writer, v T, format string, text, markdown, json func(io.Writer, T) error) error {
	switch format {
	case "text":
		return text(w, v)
	case "markdown":
		return markdown(w, v)
	case "json":
		return json(w, v)
	}
	return fmt.Errorf("unknown report format %q: use one of %s", format, strings.Join(Formats(), ", "))
}

// Flush writes a report built in memory in one call, so a failing writer
// leaves no half report behind a success.
func Flush(w io.Writer, b *bytes.Buffer) error {
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// Server adds to the words describing a server what both reports say
// alike: "Redis 7.0.15", then the role, where "primary" goes without
// saying in a cluster (every node scanned is one). How the mode and the
// node count read is left to each report.
func Server(parts []string, mode, version, role string) []string {
	if version != "" {
		parts = append(parts, "Redis "+version)
	}
	switch role {
	case "master":
		if mode != "cluster" {
			parts = append(parts, "primary")
		}
	case "":
	default:
		parts = append(parts, role)
	}
	return parts
}
