package jobs

import (
	"encoding/json"
	"os"
	"slices"
	"sort"
	"testing"
)

type schemaDoc struct {
	Schema               string                `json:"$schema"`
	Type                 string                `json:"type"`
	Properties           map[string]schemaNode `json:"properties"`
	Required             []string              `json:"required"`
	AdditionalProperties *bool                 `json:"additionalProperties"`
	Defs                 map[string]schemaNode `json:"$defs"`
}

type schemaNode struct {
	Ref                  string                `json:"$ref"`
	Type                 string                `json:"type"`
	Description          string                `json:"description"`
	Enum                 []any                 `json:"enum"`
	Properties           map[string]schemaNode `json:"properties"`
	AdditionalProperties *bool                 `json:"additionalProperties"`
	OneOf                []schemaNode          `json:"oneOf"`
	AnyOf                []schemaNode          `json:"anyOf"`
}

func loadSchema(t *testing.T) schemaDoc {
	t.Helper()
	b, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("PRINT_SCHEMA") != "" {
		os.Stdout.Write(b)
	}
	var doc schemaDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("Schema() is not JSON: %v", err)
	}
	return doc
}

func TestSchema_TopLevel(t *testing.T) {
	doc := loadSchema(t)
	if doc.Schema != "https://json-schema.org/draft/2020-12/schema" || doc.Type != "object" {
		t.Errorf("$schema %q type %q", doc.Schema, doc.Type)
	}
	var got []string
	for name := range doc.Properties {
		got = append(got, name)
	}
	sort.Strings(got)
	want := []string{"action", "backup", "db", "description", "fields", "guards", "limits", "members", "name", "select", "version"}
	if !slices.Equal(got, want) {
		t.Errorf("properties %v, want %v", got, want)
	}
	sort.Strings(doc.Required)
	if !slices.Equal(doc.Required, []string{"action", "name", "select", "version"}) {
		t.Errorf("required %v", doc.Required)
	}
	if doc.AdditionalProperties == nil || *doc.AdditionalProperties {
		t.Error("unknown top-level fields are not refused")
	}
}

// Every field says what it is for, and every mapping refuses unknown
// fields, so an editor catches typos.
func TestSchema_Fields(t *testing.T) {
	doc := loadSchema(t)
	for name, p := range doc.Properties {
		if p.Description == "" {
			t.Errorf("%s has no description", name)
		}
	}
	for def, s := range doc.Defs {
		if s.Type != "object" {
			continue
		}
		if s.AdditionalProperties == nil || *s.AdditionalProperties {
			t.Errorf("$defs/%s accepts unknown fields", def)
		}
		for name, p := range s.Properties {
			if p.Description == "" {
				t.Errorf("$defs/%s.%s has no description", def, name)
			}
		}
	}
	for _, def := range []string{"Select", "Action", "Expire", "From", "Limits", "Guards", "MemoryGuards", "Duration", "Size", "Backup"} {
		if _, ok := doc.Defs[def]; !ok {
			t.Errorf("no $defs/%s", def)
		}
	}
	if got := doc.Defs["Expire"].Properties["when"].Enum; len(got) != 4 {
		t.Errorf("when enum %v", got)
	}
	if got := doc.Defs["Select"].Properties["type"].Enum; len(got) != len(keyTypes) {
		t.Errorf("select.type enum %v", got)
	}
	if got := doc.Defs["Backup"].OneOf; len(got) != 2 {
		t.Errorf("backup has %d forms, want 2", len(got))
	}
}
