package jobs

import (
	"strings"
	"testing"
)

// The effect digest changes with what happens to keys, and only with that.
func TestEffectSHA256(t *testing.T) {
	const base = `version: 1
name: fx
description: first
select:
  match: "t:*"
  regex: '^t:(?P<at>\d{10})$'
action:
  expire:
    from: {capture: at, format: unix}
    after: 30d
limits:
  rate: 5000
guards:
  aof:
    max_growth: 1MiB
`
	parse := func(t *testing.T, src string) *Job {
		t.Helper()
		j, err := Parse("fx.yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	want := parse(t, base).EffectSHA256
	same := map[string]string{
		"guard level": strings.Replace(base, "1MiB", "64MiB", 1),
		"rate":        strings.Replace(base, "rate: 5000", "rate: 100", 1),
		"description": strings.Replace(base, "first", "second", 1),
		"comment":     "# reviewed\n" + base,
	}
	for name, src := range same {
		if got := parse(t, src).EffectSHA256; got != want {
			t.Errorf("%s changed the effect digest", name)
		}
	}
	differs := map[string]string{
		"after":  strings.Replace(base, "after: 30d", "after: 31d", 1),
		"match":  strings.Replace(base, `match: "t:*"`, `match: "t:1*"`, 1),
		"regex":  strings.Replace(base, `\d{10}`, `\d{9,10}`, 1),
		"format": strings.Replace(base, "format: unix", "format: unix_ms", 1),
		"name":   strings.Replace(base, "name: fx", "name: fy", 1),
	}
	for name, src := range differs {
		if got := parse(t, src).EffectSHA256; got == want {
			t.Errorf("%s left the effect digest unchanged", name)
		}
	}
}
