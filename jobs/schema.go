package jobs

import (
	"encoding/json"
	"reflect"
	"strings"

	"github.com/invopop/jsonschema"
)

// Schema is the job file format as a JSON Schema (draft 2020-12), for
// editors: with "# yaml-language-server: $schema=PATH" at the top of a job
// file, an editor flags unknown fields, wrong enum values and malformed
// durations, sizes and percentages as you type. Parse remains the
// authority: it checks what a schema cannot (regexes, captures, layouts,
// zones, combinations).
func Schema() ([]byte, error) {
	r := &jsonschema.Reflector{
		FieldNameTag:               "yaml",
		Anonymous:                  true, // no $id: editors find it by path
		RequiredFromJSONSchemaTags: true,
		ExpandedStruct:             true,
		Namer:                      schemaName,
	}
	s := r.Reflect(&rawJob{})
	s.Title = "keyjob job file, format version 1"
	s.Description = "A bulk-maintenance job for Redis: which keys (select), what to do to each (action), how to undo it (backup), how fast (limits) and when to stop (guards)."
	return json.MarshalIndent(s, "", "  ")
}

// schemaName names the $defs after what the user writes: rawSelect is
// Select, durationText is Duration.
func schemaName(t reflect.Type) string {
	n := strings.TrimSuffix(strings.TrimPrefix(t.Name(), "raw"), "Text")
	if n == "" {
		return t.Name()
	}
	return strings.ToUpper(n[:1]) + n[1:]
}

// Patterns mirror the parsers in units.go; a schema that refused what Parse
// accepts would put false alarms in editors, so where in doubt they are
// looser.
const (
	durationPattern   = `^(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|ms|s|m|h|d|w))+)$`
	sizePattern       = `^[0-9]+(\.[0-9]+)? ?(B|KiB|MiB|GiB|TiB|KB|MB|GB|TB)?$`
	percentPattern    = `^[0-9]+(\.[0-9]+)? ?%$`
	comparisonPattern = `^\s*[<>]\s*(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|ms|s|m|h|d|w))+)$`
)

func (durationText) JSONSchema() *jsonschema.Schema {
	return &jsonschema.Schema{Type: "string", Pattern: durationPattern,
		Description: "Go duration syntax plus d (24h) and w (7d), combinable: 365d, 1d12h, 1h30m.",
		Examples:    []any{"365d", "1h30m", "10ms"}}
}

func (sizeText) JSONSchema() *jsonschema.Schema {
	return &jsonschema.Schema{
		Description: "A size in bytes: a plain integer, or with KiB MiB GiB TiB (powers of 2) or KB MB GB TB (powers of 10).",
		AnyOf: []*jsonschema.Schema{
			{Type: "integer", Minimum: "0"},
			{Type: "string", Pattern: sizePattern, Examples: []any{"16MiB", "1GB"}},
		}}
}

func (percentText) JSONSchema() *jsonschema.Schema {
	return &jsonschema.Schema{Type: "string", Pattern: percentPattern,
		Description: "A percentage with its sign: 90%, 2.5%.", Examples: []any{"90%", "5%"}}
}

func (sizeOrPercentText) JSONSchema() *jsonschema.Schema {
	s := sizeText("").JSONSchema()
	s.Description = "A size such as 256MiB, or a percentage of used_memory such as 25%."
	s.AnyOf = append(s.AnyOf, percentText("").JSONSchema())
	return s
}

func (rateText) JSONSchema() *jsonschema.Schema {
	return &jsonschema.Schema{
		Description: "Per second: a positive number, or unlimited.",
		AnyOf: []*jsonschema.Schema{
			{Type: "number", ExclusiveMinimum: "0"},
			{Type: "string", Pattern: `^(unlimited|[0-9]+(\.[0-9]+)?)$`},
		}}
}

func (comparisonText) JSONSchema() *jsonschema.Schema {
	return &jsonschema.Schema{Type: "string", Pattern: comparisonPattern,
		Description: "< or > and a duration.", Examples: []any{"> 30d", "< 1h"}}
}

func (ttlText) JSONSchema() *jsonschema.Schema {
	return &jsonschema.Schema{
		Description: "none, any, or a comparison on the remaining TTL.",
		AnyOf: []*jsonschema.Schema{
			{Type: "string", Enum: []any{"none", "any"}},
			comparisonText("").JSONSchema(),
		}}
}

// JSONSchema gives both forms of backup: a mode alone or a mapping.
func (rawBackup) JSONSchema() *jsonschema.Schema {
	modes := []any{"journal", "dump", "none"}
	props := jsonschema.NewProperties()
	props.Set("mode", &jsonschema.Schema{Type: "string", Enum: modes,
		Description: "journal: previous expiries; dump: also DUMP payloads; none: no undo."})
	size := sizeText("").JSONSchema()
	size.Description = "With mode: dump, a key larger than this (MEMORY USAGE) is not dumped and so not changed. Default 16MiB."
	props.Set("max_dump_size", size)
	return &jsonschema.Schema{
		Description: "journal (the default), dump or none, or {mode: dump, max_dump_size: 16MiB}.",
		OneOf: []*jsonschema.Schema{
			{Type: "string", Enum: modes},
			{Type: "object", Properties: props, Required: []string{"mode"},
				AdditionalProperties: jsonschema.FalseSchema},
		}}
}
