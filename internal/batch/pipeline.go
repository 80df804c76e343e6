package batch

import (
	"context"

	"github.com/redis/rueidis"

	"github.com/keyjob/keyjob/internal/scan"
)

// Stages are what a walk does with each batch of one node. A node's walk
// is a two-stage pipeline, so the server never waits for keyjob between
// batches: Prepare runs in the walk's goroutine, batch after batch in
// SCAN order, while Finish takes the items Prepare made, in the same
// order, in a goroutine of its own. While batch N's requests are on the
// wire, batch N+1 is being prepared.
type Stages[T any] struct {
	// Prepare works on a batch and returns the item to finish (ok false:
	// nothing to finish). An error ends the walk after that item.
	Prepare func(ctx context.Context, b scan.Batch) (item T, ok bool, err error)
	// Finish is called for every item made, even after the walk stopped:
	// an item that was sent is finished. drain is true once an earlier
	// Finish broke the walk: the item is then only waited for and given
	// back, not recorded. broke says later items must be drained. The
	// first error cancels the walk.
	Finish func(item T, drain bool) (broke bool, err error)
	// Depth is how many items may wait for Finish beyond the one it is
	// working on; at least 1.
	Depth int
}

// Walk runs one node's walk, from cursor, through the stages. It returns
// when every item made was finished, with the first error of either
// stage; Finish's when both failed (it cancelled the walk). The context
// Prepare gets lives until every item was finished, so work Prepare
// starts in the background may use it.
func Walk[T any](ctx context.Context, client rueidis.Client, cursor uint64, opts scan.Options, st Stages[T]) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	items := make(chan T, max(st.Depth, 1))
	finished := make(chan error, 1)
	go func() {
		var first error
		broken := false
		for it := range items {
			broke, err := st.Finish(it, broken)
			broken = broken || broke
			if err != nil && first == nil {
				first = err
				cancel()
			}
		}
		finished <- first
	}()
	_, err := scan.Walk(wctx, client, cursor, opts, func(_ context.Context, b scan.Batch) error {
		it, ok, err := st.Prepare(wctx, b)
		if !ok {
			return err
		}
		items <- it // Finish takes every item, so this never blocks for long
		return err
	})
	close(items)
	if ferr := <-finished; ferr != nil {
		return ferr
	}
	return err
}
