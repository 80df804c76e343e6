package scan

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/keyjob/keyjob/internal/redistest"
)

// COUNT follows the server's own time per SCAN call: with a bound no call
// can meet, the walk shrinks COUNT to its floor and takes many more calls;
// with a generous one it keeps the ceiling. Either way every key is seen.
func TestWalk_SteersCountByServerTime(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	c := srv.Client(t)
	ctx := context.Background()
	const n = 20000
	cmds := make(rueidis.Commands, 0, n)
	for i := range n {
		cmds = append(cmds, c.B().Set().Key(fmt.Sprintf("k:%d", i)).Value("v").Build())
	}
	for _, r := range c.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			t.Fatal(err)
		}
	}
	first, every := costFirst, costEvery
	costFirst, costEvery = 0, 0 // read the server's figures at every call
	t.Cleanup(func() { costFirst, costEvery = first, every })

	walk := func(slow time.Duration) (calls int64) {
		t.Helper()
		sc := srv.Client(t)
		seen := map[string]bool{}
		st, err := Walk(ctx, sc, 0, Options{Match: "k:*", Count: 1000, SlowCall: slow}, func(_ context.Context, b Batch) error {
			for _, k := range b.Keys {
				seen[k] = true
			}
			return nil
		})
		if err != nil {
			t.Fatalf("Walk: %v", err)
		}
		if len(seen) != n {
			t.Fatalf("saw %d keys, want %d", len(seen), n)
		}
		return st.Calls
	}
	generous := walk(time.Second)
	strict := walk(3 * time.Microsecond) // a mean of 1µs per call: nothing meets it
	if generous > 30 {
		t.Errorf("a generous bound took %d calls for %d keys at COUNT 1000", generous, n)
	}
	if strict < 10*generous {
		t.Errorf("an impossible bound took %d calls, the generous one %d: COUNT did not shrink", strict, generous)
	}
}
