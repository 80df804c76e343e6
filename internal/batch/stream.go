package batch

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/rueidis"

	"github.com/keyjob/keyjob/internal/scan"
	"github.com/keyjob/keyjob/jobs"
)

// StreamCountChunk is the most entry IDs one XRANGE of the plan's count
// reads: a stream's entries below the cutoff are counted this many at a
// time, never in one call over the whole stream.
const StreamCountChunk = 250

// streamEnds is what one pipeline reads of a stream: its length, its
// oldest and newest entry IDs ("" when it has none).
type streamEnds struct {
	length         int64
	oldest, newest string
}

// streams decides, for a job on stream entries, each key decided for
// change: a stream whose oldest entry lies before 2000 is a bad_timestamp
// (its IDs are no times), one whose oldest entry is at or after the
// cutoff is no_members, one that is no stream any more is gone. XLEN and
// the first and last entry (O(1) each) tell it, in one pipeline for the
// batch. With Count (the plan), the entries below the cutoff are counted
// (Units, of Parts = XLEN) and the oldest entry kept is read (FloorID):
// all of them when the newest is older than the cutoff, else by XRANGE
// of StreamCountChunk IDs at a time.
func (s *Step) streams(ctx context.Context, c rueidis.Client, ds []Decision) error {
	rg := s.Job.Members.StreamRange(s.RunStart)
	var at []int
	cmds := make(rueidis.Commands, 0, 3*len(ds))
	for i, d := range ds {
		if d.Outcome != jobs.Change {
			continue
		}
		at = append(at, i)
		k := d.Info.Name
		cmds = append(cmds, c.B().Xlen().Key(k).Build(),
			c.B().Xrange().Key(k).Start("-").End("+").Count(1).Build(),
			c.B().Xrevrange().Key(k).End("+").Start("-").Count(1).Build())
	}
	if len(cmds) == 0 {
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, scan.CallTimeout)
	res := c.DoMulti(rctx, cmds...)
	cancel()
	for n, i := range at {
		e, err := readEnds(res[3*n : 3*n+3])
		if re, ok := rueidis.IsRedisErr(err); ok && strings.HasPrefix(re.Error(), "WRONGTYPE") {
			ds[i].Decision = jobs.Decision{Outcome: jobs.Gone} // the stream scanned is gone
			continue
		}
		if err != nil {
			return fmt.Errorf("XLEN %q: %w", ds[i].Info.Name, err)
		}
		switch {
		case e.length == 0 || IDMs(e.oldest) >= rg.CutoffMs:
			ds[i].Decision = jobs.Decision{Outcome: jobs.SkipNoMembers}
		case IDMs(e.oldest) < rg.FloorMs:
			ds[i].Decision = jobs.Decision{Outcome: jobs.SkipBadTimestamp, Why: fmt.Sprintf(
				"oldest entry %s lies before 2000: its IDs are no times", e.oldest)}
		case !s.Count:
			ds[i].Units, ds[i].Parts = 1, e.length // some, at least
		case IDMs(e.newest) < rg.CutoffMs:
			ds[i].Units, ds[i].Parts = e.length, e.length // every entry is older
		default:
			units, floor, err := CountStream(ctx, c, ds[i].Info.Name, e.oldest, rg)
			if err != nil {
				return err
			}
			ds[i].Units, ds[i].Parts, ds[i].FloorID = units, e.length, floor
		}
	}
	return nil
}

// readEnds reads the replies of XLEN, XRANGE - + COUNT 1 and XREVRANGE +
// - COUNT 1.
func readEnds(res []rueidis.RedisResult) (streamEnds, error) {
	var e streamEnds
	var err error
	if e.length, err = res[0].AsInt64(); err != nil {
		return e, err
	}
	for j, id := range []*string{&e.oldest, &e.newest} {
		xs, err := res[1+j].AsXRange()
		if err != nil {
			return e, err
		}
		if len(xs) > 0 {
			*id = xs[0].ID
		}
	}
	return e, nil
}

// CountStream counts the entries of a stream from the ID from (its oldest)
// to the cutoff, StreamCountChunk IDs per XRANGE, and returns the count
// and the oldest entry at or after the cutoff ("" when there is none).
func CountStream(ctx context.Context, c rueidis.Client, key, from string, rg jobs.StreamRange) (n int64, floor string, err error) {
	for start := from; ; {
		rctx, cancel := context.WithTimeout(ctx, scan.CallTimeout)
		xs, err := c.Do(rctx, c.B().Xrange().Key(key).Start(start).End(rg.Last).Count(StreamCountChunk).Build()).AsXRange()
		cancel()
		if err != nil {
			return n, "", fmt.Errorf("XRANGE %q: %w", key, err)
		}
		n += int64(len(xs))
		if len(xs) < StreamCountChunk {
			break
		}
		start = NextID(xs[len(xs)-1].ID)
	}
	rctx, cancel := context.WithTimeout(ctx, scan.CallTimeout)
	defer cancel()
	xs, err := c.Do(rctx, c.B().Xrange().Key(key).Start(rg.CutoffID).End("+").Count(1).Build()).AsXRange()
	if err != nil {
		return n, "", fmt.Errorf("XRANGE %q: %w", key, err)
	}
	if len(xs) > 0 {
		floor = xs[0].ID
	}
	return n, floor, nil
}

// IDMs is the milliseconds part of a stream entry ID ("1733000000000-3").
func IDMs(id string) int64 {
	ms, _, _ := strings.Cut(id, "-")
	n, _ := strconv.ParseInt(ms, 10, 64)
	return n
}

// NextID is the smallest entry ID after id: an inclusive XRANGE start
// that skips id on every server (the exclusive "(" needs Redis 6.2).
func NextID(id string) string {
	ms, seq, _ := strings.Cut(id, "-")
	s, err := strconv.ParseUint(seq, 10, 64)
	if err != nil || s == ^uint64(0) {
		m, _ := strconv.ParseInt(ms, 10, 64)
		return strconv.FormatInt(m+1, 10) + "-0"
	}
	return ms + "-" + strconv.FormatUint(s+1, 10)
}
