package apply

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/keyjob/keyjob/internal/redistest"
	"github.com/keyjob/keyjob/jobs"
)

// TestRun_RateFromFirstSecond: at --rate N no one-second window of the
// run, its first included and the first after a resume, carries more than
// N changes plus one batch. A sampler reads DBSIZE and TIME in one
// MULTI, so each count has the server's own time; the check is on counts
// between samples at most a second apart, so a loaded machine can only
// make it see fewer changes, never fail it.
func TestRun_RateFromFirstSecond(t *testing.T) {
	for _, tc := range []struct {
		rate, keys int
		limit      int64 // the first invocation stops here; the rest is a resume
	}{
		{rate: 100, keys: 500, limit: 250},
		{rate: 3000, keys: 9000, limit: 4500},
	} {
		t.Run(strconv.Itoa(tc.rate), func(t *testing.T) {
			srv, c := startRedis(t, redistest.Options{})
			ctx := context.Background()
			cmds := make(rueidis.Commands, 0, tc.keys)
			for i := range tc.keys {
				cmds = append(cmds, c.B().Set().Key("rate:"+strconv.Itoa(i)).Value("v").Build())
			}
			for _, r := range c.DoMulti(ctx, cmds...) {
				if err := r.Error(); err != nil {
					t.Fatal(err)
				}
			}
			job := loadJob(t, "version: 1\nname: rate\nselect: {match: \"rate:*\"}\naction: {delete: {}}\nbackup: none\nlimits: {scan_count: 1000}\n")
			batch := min(1000, tc.rate)

			stop := make(chan struct{})
			var samples []sample
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { defer wg.Done(); samples = sampleSize(t, c, stop) }()
			state := t.TempDir()
			o := Options{StateDir: state, Rate: jobs.Rate(tc.rate), Limit: tc.limit}
			if _, err := runJob(t, dial(t, srv.URL), job, o); err != nil {
				t.Fatalf("first invocation: %v", err)
			}
			o.Limit, o.Resume = 0, true
			rep, err := runJob(t, dial(t, srv.URL), job, o)
			if err != nil {
				t.Fatalf("resume: %v", err)
			}
			close(stop)
			wg.Wait()
			if !rep.Completed {
				t.Fatalf("the resumed run did not complete")
			}
			if samples[0].size != int64(tc.keys) || samples[len(samples)-1].size != 0 {
				t.Fatalf("samples run from %d to %d keys, want %d to 0", samples[0].size, samples[len(samples)-1].size, tc.keys)
			}
			for i, a := range samples {
				for _, b := range samples[i+1:] {
					if b.at.Sub(a.at) > time.Second {
						break
					}
					if n := a.size - b.size; n > int64(tc.rate+batch) {
						t.Fatalf("%d changes between %s and %s (server time), want at most %d (the rate plus one batch of %d)",
							n, a.at.Format("15:04:05.000"), b.at.Format("15:04:05.000"), tc.rate+batch, batch)
					}
				}
			}
		})
	}
}

type sample struct {
	at   time.Time
	size int64
}

// sampleSize reads the key count and the server's time together until
// stop is closed, then once more.
func sampleSize(t *testing.T, c rueidis.Client, stop <-chan struct{}) []sample {
	var out []sample
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		s, err := readSize(c)
		if err != nil {
			t.Error(err)
			return out
		}
		out = append(out, s)
		select {
		case <-stop:
			s, err := readSize(c)
			if err != nil {
				t.Error(err)
			}
			return append(out, s)
		case <-tick.C:
		}
	}
}

func readSize(c rueidis.Client) (sample, error) {
	ctx := context.Background()
	var s sample
	err := c.Dedicated(func(d rueidis.DedicatedClient) error {
		r := d.DoMulti(ctx, d.B().Multi().Build(), d.B().Dbsize().Build(), d.B().Time().Build(), d.B().Exec().Build())
		res, err := r[3].ToArray()
		if err != nil {
			return err
		}
		if s.size, err = res[0].AsInt64(); err != nil {
			return err
		}
		tm, err := res[1].AsStrSlice()
		if err != nil || len(tm) != 2 {
			return fmt.Errorf("TIME: %v %v", tm, err)
		}
		sec, _ := strconv.ParseInt(tm[0], 10, 64)
		usec, _ := strconv.ParseInt(tm[1], 10, 64)
		s.at = time.Unix(sec, usec*1000)
		return nil
	})
	return s, err
}
