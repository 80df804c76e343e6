package survey

import (
	"fmt"
	"slices"
	"strings"

	"github.com/keyjob/keyjob/internal/words"
)

// Codes of the survey's warnings and notes: stable, for machines.
const (
	// WarnVolatileNoTTL: the ticket story. Under a volatile-* policy a
	// pattern none of whose keys has a TTL can never be evicted.
	WarnVolatileNoTTL = "volatile_policy_patterns_without_ttl"
	// WarnVolatileFewTTLs: under a volatile-* policy most keys have no
	// TTL (the planner's code for the same finding).
	WarnVolatileFewTTLs = "volatile_policy_few_ttls"
	// WarnKeysWithoutTTL: most keys have no TTL.
	WarnKeysWithoutTTL = "keys_without_ttl"
	// WarnBigKeys: keys over BigKeyBytes in the sample.
	WarnBigKeys = "big_keys"
	// WarnTooManyPatterns: patterns collapsed into "other".
	WarnTooManyPatterns = "too_many_patterns"

	NoteIdleNotRead   = "idle_not_read"
	NoteVanished      = "keys_vanished"
	NoteReplicaTarget = "target_is_replica"
	NoteMemoryUnknown = "memory_unknown"
	NoteTypesUnknown  = "types_unknown"
	NoteIdleUnknown   = "idle_unknown"
)

// TypeUnknown is the type the survey counts a key under when TYPE is
// missing or denied.
const TypeUnknown = "unknown"

// listed is how many patterns or keys a message names before "and N more".
const listed = 5

func (s *Survey) warn(code, format string, a ...any) {
	s.Warnings = append(s.Warnings, Message{Code: code, Message: fmt.Sprintf(format, a...)})
}

func (s *Survey) note(code, format string, a ...any) {
	s.Notes = append(s.Notes, Message{Code: code, Message: fmt.Sprintf(format, a...)})
}

// judge adds the warnings the stories teach, in plain words. Messages use
// markdown marks (`code`) that the text renderer strips.
func judge(s *Survey, gone int64) {
	policy := s.Target.MaxMemoryPolicy
	volatile := strings.HasPrefix(policy, "volatile-")
	if volatile {
		var none []Pattern
		for _, p := range s.Patterns {
			if p.Keys > 0 && p.WithTTL == 0 {
				none = append(none, p) // already by memory, largest first
			}
		}
		if len(none) > 0 {
			s.warn(WarnVolatileNoTTL, "No key of %d %s has a TTL, and maxmemory-policy %s evicts only keys that have one: %s. "+
				"Eviction can never free them; when the keys that have a TTL are gone, writes fail with OOM.",
				len(none), words.Plural(len(none), "pattern", "patterns"), policy, patternList(none))
		}
	}
	if s.Keys > 0 {
		noTTL := s.Keys - s.WithTTL
		share := float64(noTTL) / float64(s.Keys)
		switch {
		case share >= 0.5 && volatile:
			s.warn(WarnVolatileFewTTLs, "maxmemory-policy is %s and %s of the keys (%s of %s) have no TTL. Eviction can only pick among the %s that do.",
				policy, words.PercentCapped(share), words.Commas(noTTL), words.Commas(s.Keys), words.PercentCapped(1-share))
		case share >= 0.5:
			s.warn(WarnKeysWithoutTTL, "%s of the keys (%s of %s) have no TTL: they stay until something deletes them.",
				words.PercentCapped(share), words.Commas(noTTL), words.Commas(s.Keys))
		}
	}
	judgeBigKeys(s)
	if o := s.Other; o != nil {
		n := words.Commas(o.Patterns)
		if o.AtLeast {
			n = "more than " + n
		}
		s.warn(WarnTooManyPatterns, "The keyspace has more patterns than a survey tracks (%d): %s keys of about %s rarer patterns are counted together as `other`. "+
			"Survey a narrower --match to see them.",
			s.MaxPatterns, words.Commas(o.Keys), n)
	}
	if !s.IdleRead && strings.Contains(policy, "lfu") {
		s.note(NoteIdleNotRead, "Idle times were not read: maxmemory-policy is %s, and under an LFU policy the server refuses OBJECT IDLETIME.", policy)
	}
	if s.Target.Role == "replica" {
		s.note(NoteReplicaTarget, "These figures come from a replica.")
	}
	if gone > 0 {
		s.note(NoteVanished, "%s keys vanished between SCAN and their lookup (expired or deleted meanwhile); they are not counted.", words.Commas(gone))
	}
}

func judgeBigKeys(s *Survey) {
	var big []BigKey
	for _, p := range s.Patterns {
		big = append(big, p.BigKeys...)
	}
	if len(big) == 0 {
		return
	}
	slices.SortFunc(big, func(a, b BigKey) int { return int(b.MemoryBytes - a.MemoryBytes) })
	var names []string
	for _, b := range big[:min(len(big), listed)] {
		names = append(names, "`"+words.Printable(b.Key)+"` ("+words.Size(b.MemoryBytes)+")")
	}
	more := ""
	if len(big) > listed {
		more = fmt.Sprintf(" and %d more", len(big)-listed)
	}
	s.warn(WarnBigKeys, "%d %s of the sample %s more than %s: %s%s. Deleting, dumping or reading one whole blocks the server while it works; "+
		"the survey measured at most %d keys a pattern, so there may be more.",
		len(big), words.Plural(len(big), "key", "keys"), words.Plural(len(big), "uses", "use"), words.Size(BigKeyBytes),
		strings.Join(names, ", "), more, detailSample)
}

// patternList names the first few patterns with their keys and memory.
func patternList(ps []Pattern) string {
	var parts []string
	for _, p := range ps[:min(len(ps), listed)] {
		parts = append(parts, fmt.Sprintf("`%s` (%s %s, %s)", p.Pattern, words.Commas(p.Keys), words.Plural(p.Keys, "key", "keys"), words.Size(p.MemoryBytes)))
	}
	s := strings.Join(parts, ", ")
	if len(ps) > listed {
		s += fmt.Sprintf(" and %d more", len(ps)-listed)
	}
	return s
}
