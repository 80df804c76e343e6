package planner

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/keyjob/keyjob/internal/words"
)

// RenderJSON writes p as the versioned JSON contract (docs/cli.md), indented
// by two spaces, with a trailing newline. Lists and maps the plan left nil
// appear as [] and {}, and outcomes.skip has every bucket of SkipOrder, so
// a consumer never has to tell null from empty.
func RenderJSON(w io.Writer, p *Plan) error {
	if p == nil {
		return errRenderNilPlan
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	// Key names are data: "a<b" stays readable instead of "a\u003cb".
	enc.SetEscapeHTML(false)
	if err := enc.Encode(forJSON(p)); err != nil {
		return fmt.Errorf("encode plan: %w", err)
	}
	return words.Flush(w, &b)
}

// forJSON is a copy of p ready for the contract. It never writes to p: the
// caller's plan may be rendered again, or be in use elsewhere.
func forJSON(p *Plan) *Plan {
	c := *p
	if c.FormatVersion == 0 {
		c.FormatVersion = FormatVersion
	}
	c.Outcomes.Skip = make(map[string]int64, len(SkipOrder)+len(p.Outcomes.Skip))
	for _, b := range SkipOrder {
		c.Outcomes.Skip[b] = 0
	}
	for b, n := range p.Outcomes.Skip {
		c.Outcomes.Skip[b] = n
	}
	c.Samples = make(map[string][]Key, len(p.Samples))
	for o, keys := range p.Samples {
		c.Samples[o] = emptyNotNil(keys)
	}
	c.Expiries = emptyNotNil(c.Expiries)
	c.Guards = emptyNotNil(c.Guards)
	c.Warnings = emptyNotNil(c.Warnings)
	c.Errors = emptyNotNil(c.Errors)
	c.Estimates.Forks = emptyNotNil(c.Estimates.Forks)
	c.Target.Keyspace = emptyNotNil(c.Target.Keyspace)
	return &c
}

func emptyNotNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
