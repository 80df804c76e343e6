package jobs

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
)

// effectSHA256 digests the fields that decide what happens to each key,
// in a fixed order, so formatting, comments, the description, limits and
// guard levels do not change it.
func (j *Job) effectSHA256() string {
	h := sha256.New()
	w := func(format string, a ...any) { fmt.Fprintf(h, format+"\n", a...) }
	w("version=%d name=%q", j.Version, j.Name)
	if j.DB != nil {
		w("db=%d", *j.DB)
	}
	sel := j.Select
	w("match=%q allow_all=%t type=%q", sel.Match, sel.AllowAll, sel.Type)
	if sel.Regex != nil {
		w("regex=%q", sel.Regex.String())
	}
	w("ttl=%d op=%d d=%d", sel.TTL.Kind, sel.TTL.Cmp.Op, sel.TTL.Cmp.D)
	if sel.Idle != nil {
		w("idle op=%d d=%d", sel.Idle.Op, sel.Idle.D)
	}
	if m := j.Members; m != nil {
		w("members score=%q older_than=%d", m.ScoreFormat, m.OlderThan)
	}
	if f := j.Fields; f != nil {
		re := ""
		if f.Regex != nil {
			re = f.Regex.String()
		}
		w("fields match=%q regex=%q ttl=%d", f.Match, re, f.TTL)
	}
	w("action=%d", j.Action.Kind)
	if e := j.Action.Expire; e != nil {
		w("ttl=%d after=%d grace=%d spread=%d when=%d jitter=%v", e.TTL, e.After, e.Grace, e.GraceSpread, e.When, e.Jitter)
		if f := e.From; f != nil {
			loc := ""
			if f.Location != nil {
				loc = f.Location.String()
			}
			w("from capture=%q format=%q zone=%q", f.Capture, f.Format, loc)
		}
	}
	w("backup=%d max_dump_size=%d", j.Backup.Mode, j.Backup.MaxDumpSize)
	io.WriteString(h, "keyjob effect v1")
	return hex.EncodeToString(h.Sum(nil))
}
