package planner

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/keyjob/keyjob/internal/words"
)

// sampleGroup is one outcome's sample keys, as one table.
type sampleGroup struct {
	outcome string // "change", "change_grace" or a skip bucket
	label   string // "change" or "skip: already has a TTL"
	total   int64  // keys in the outcome
	keys    []Key
}

func (g sampleGroup) isChange() bool { return g.outcome == "change" || g.outcome == "change_grace" }

// hasWhy reports whether any key of the group says why: a skip table
// without reasons needs no third column.
func (g sampleGroup) hasWhy() bool {
	for _, k := range g.keys {
		if k.Why != "" {
			return true
		}
	}
	return false
}

// sampleGroups orders the samples as the outcome table does. Keys of the
// Samples map are "change", "change_grace" (tally.go) and the skip
// buckets; "skip:" or "skip." prefixes are accepted too.
func sampleGroups(p *Plan, st reportStyle) []sampleGroup {
	byOutcome := map[string][]Key{}
	for k, keys := range p.Samples {
		k = strings.TrimPrefix(strings.TrimPrefix(k, "skip:"), "skip.")
		byOutcome[k] = append(byOutcome[k], keys...)
	}
	o := p.Outcomes
	var groups []sampleGroup
	// The planner keeps grace keys apart ("change_grace"); a plan that
	// mixes them into "change" gets one change table.
	name, _ := changeWords(p)
	if keys := byOutcome["change"]; len(keys) > 0 {
		g := sampleGroup{"change", "change", o.Change, keys}
		if len(byOutcome["change_grace"]) > 0 || o.ChangeGrace == 0 {
			g.label, g.total = "change: "+name, o.Change-o.ChangeGrace
		}
		groups = append(groups, g)
	}
	if keys := byOutcome["change_grace"]; len(keys) > 0 {
		groups = append(groups, sampleGroup{"change_grace", "change: grace TTL (already past)", o.ChangeGrace, keys})
	}
	// Buckets the outcome table does not know come last, sorted.
	buckets := skipBuckets(p)
	known := map[string]bool{"change": true, "change_grace": true}
	for _, b := range buckets {
		known[b] = true
	}
	var extra []string
	for k := range byOutcome {
		if !known[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	for _, b := range append(buckets, extra...) {
		if keys := byOutcome[b]; len(keys) > 0 {
			label, _ := skipWords(p, b, st)
			groups = append(groups, sampleGroup{b, "skip: " + label, o.Skip[b], keys})
		}
	}
	return append(groups, fieldSampleGroups(p, st)...)
}

// beforeWords is a sample key's TTL now.
func beforeWords(p *Plan, k Key) string {
	if k.ExpireAt == nil {
		return "none"
	}
	return sampleTime(p, *k.ExpireAt)
}

// afterWords is what the run does to a sample key.
func afterWords(p *Plan, g sampleGroup, k Key) string {
	if !g.isChange() {
		return whyWords(g.outcome, k.Why)
	}
	switch {
	case k.Grace && k.NewExpire != nil:
		return "grace: " + spokenDuration(k.NewExpire.Sub(p.GeneratedAt)) + " after the run"
	case k.Grace:
		return "grace TTL"
	case k.NewExpire != nil:
		return sampleTime(p, *k.NewExpire)
	}
	switch p.Job.Action {
	case "delete":
		if p.Members != nil {
			return membersAfter(p, k)
		}
		return "deleted"
	case "persist":
		return "no TTL"
	}
	return k.Why
}

// whyWords reads a too_big_to_backup reason given in bytes ("42991616
// bytes") as a size; any other reason is shown as the planner wrote it.
func whyWords(outcome, why string) string {
	if outcome != "too_big_to_backup" {
		return why
	}
	n, err := strconv.ParseInt(strings.TrimSuffix(why, " bytes"), 10, 64)
	if err != nil || !strings.HasSuffix(why, " bytes") {
		return why
	}
	return "MEMORY USAGE " + words.Size(n)
}

// sampleTime is "2026-08-15 23:26:51 UTC (in 266 d)", relative to the plan's clock.
func sampleTime(p *Plan, t time.Time) string {
	s := t.UTC().Format("2006-01-02 15:04:05 UTC")
	if p.GeneratedAt.IsZero() {
		return s
	}
	switch d := t.Sub(p.GeneratedAt); {
	case d >= 0:
		return s + " (in " + spokenDuration(d) + ")"
	default:
		return s + " (" + spokenDuration(-d) + " ago)"
	}
}

// membersAfter is what a sample key of a members job loses.
func membersAfter(p *Plan, k Key) string {
	what := "members"
	if p.Members.Type == "stream" {
		what = "entries"
	}
	m := k.Members
	if m == nil {
		return what + " older than the cutoff removed"
	}
	s := fmt.Sprintf("%s of %s %s removed", words.Commas(m.Selected), words.Commas(m.Held), what)
	if m.FloorID != "" {
		s += ", oldest kept " + m.FloorID
	}
	return s
}
