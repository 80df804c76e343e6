// Package seed loads deterministic keyspaces into Redis: the ticket story
// (ticket:{unix seconds}:{customer}:{token} strings, most of them without
// the TTL they should have), deal click counters and sessions. The demo
// command, the benchmark and the tests use it, so it is a normal package.
//
// Loading is pipelined: batches of about a thousand commands sent with
// DoMulti, a few batches in flight. It depends only on rueidis.
package seed

import (
	"context"
	"fmt"
	"sync"

	"github.com/redis/rueidis"
)

const (
	batchSize = 1000
	inFlight  = 4
)

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// loader sends commands in pipelined batches, a few batches at a time.
// Commands are independent writes to distinct keys, so their order across
// batches does not matter.
type loader struct {
	c     rueidis.Client
	batch rueidis.Commands
	sem   chan struct{}
	wg    sync.WaitGroup

	mu  sync.Mutex
	err error
}

func newLoader(c rueidis.Client) *loader {
	return &loader{c: c, sem: make(chan struct{}, inFlight)}
}

// add queues cmd and sends the batch when it is full. It reports the first
// error of any batch sent so far, so callers stop generating early.
func (l *loader) add(ctx context.Context, cmd rueidis.Completed) error {
	l.batch = append(l.batch, cmd)
	if len(l.batch) >= batchSize {
		l.flush(ctx)
	}
	return l.firstErr()
}

func (l *loader) flush(ctx context.Context) {
	if len(l.batch) == 0 {
		return
	}
	batch := l.batch
	l.batch = make(rueidis.Commands, 0, batchSize)
	select {
	case l.sem <- struct{}{}:
	case <-ctx.Done():
		l.setErr(ctx.Err())
		return
	}
	l.wg.Add(1)
	go func() {
		defer func() { <-l.sem; l.wg.Done() }()
		for _, r := range l.c.DoMulti(ctx, batch...) {
			if err := r.Error(); err != nil {
				l.setErr(err)
				return
			}
		}
	}()
}

// wait sends what is left and waits for every batch.
func (l *loader) wait(ctx context.Context) error {
	l.flush(ctx)
	l.wg.Wait()
	return l.firstErr()
}

func (l *loader) setErr(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil {
		l.err = fmt.Errorf("seed: %w", err)
	}
}

func (l *loader) firstErr() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}
