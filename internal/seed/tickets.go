package seed

import (
	"context"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/redis/rueidis"
)

// Defaults of TicketSpec.
const (
	DefaultTTLShare  = 0.02 // about 240,000 of 11 million in the story
	DefaultSpan      = 2 * 365 * 24 * time.Hour
	DefaultLifetime  = 365 * 24 * time.Hour
	DefaultCustomers = 20000
	DefaultSeed      = 1
)

// TicketSpec describes the ticket keyspace: Count keys
// ticket:{issued, unix seconds}:{customer id}:{8-char token} holding a
// 40-char ticket, issued uniformly over Span before Now. A share of them
// still has the TTL every ticket should have had: it expires Lifetime after
// its issue, so only tickets issued within the last Lifetime can have one.
// The same spec always gives the same keys, values and TTLs.
type TicketSpec struct {
	Count        int
	Now          time.Time     // end of the issue window; zero means time.Now()
	Span         time.Duration // issue times lie in [Now-Span, Now); zero means DefaultSpan
	Lifetime     time.Duration // a ticket's life; zero means DefaultLifetime
	WithTTLShare float64       // share of all tickets with a TTL; zero means DefaultTTLShare, negative none
	Customers    int           // customer ids in [1, Customers]; zero means DefaultCustomers
	Seed         uint64        // zero means DefaultSeed
}

// TicketStats counts what Tickets wrote.
type TicketStats struct {
	WithTTL    int
	WithoutTTL int
}

// Total is the number of tickets written.
func (s TicketStats) Total() int { return s.WithTTL + s.WithoutTTL }

func (s TicketSpec) withDefaults() TicketSpec {
	if s.Now.IsZero() {
		s.Now = time.Now()
	}
	if s.Span <= 0 {
		s.Span = DefaultSpan
	}
	if s.Lifetime <= 0 {
		s.Lifetime = DefaultLifetime
	}
	if s.WithTTLShare == 0 {
		s.WithTTLShare = DefaultTTLShare
	}
	if s.Customers <= 0 {
		s.Customers = DefaultCustomers
	}
	if s.Seed == 0 {
		s.Seed = DefaultSeed
	}
	return s
}

// Tickets writes spec.Count tickets with SET, and SET ... EX for those with
// a TTL. TTLs count from spec.Now: with a Now in the past they run longer
// than the key name implies. Existing keys with the same names are
// overwritten; nothing else is touched.
func Tickets(ctx context.Context, c rueidis.Client, spec TicketSpec) (TicketStats, error) {
	gen := newTicketGen(spec)
	l := newLoader(c)
	var stats TicketStats
	for range spec.Count {
		t := gen.next()
		cmd := c.B().Set().Key(t.key).Value(t.value)
		if t.ttl > 0 {
			stats.WithTTL++
			if l.add(ctx, cmd.ExSeconds(t.ttl).Build()) != nil {
				break
			}
			continue
		}
		stats.WithoutTTL++
		if l.add(ctx, cmd.Build()) != nil {
			break
		}
	}
	if err := l.wait(ctx); err != nil {
		return TicketStats{}, err
	}
	return stats, nil
}

type ticket struct {
	key, value string
	issued     int64 // unix seconds
	ttl        int64 // seconds; 0 for none
}

type ticketGen struct {
	spec     TicketSpec
	rng      *rand.Rand
	now      int64
	span     int64
	lifetime int64
	pTTL     float64 // chance that a ticket young enough for a TTL has one
	buf      []byte
}

func newTicketGen(spec TicketSpec) *ticketGen {
	spec = spec.withDefaults()
	g := &ticketGen{
		spec:     spec,
		rng:      rand.New(rand.NewPCG(spec.Seed, 0x7469636b6574)), // "ticket"
		now:      spec.Now.Unix(),
		span:     int64(spec.Span / time.Second),
		lifetime: int64(spec.Lifetime / time.Second),
	}
	// Only the youngest min(Lifetime, Span) of the window can hold a TTL:
	// raise the chance there so the share over all tickets is WithTTLShare.
	young := min(float64(g.lifetime)/float64(g.span), 1)
	g.pTTL = min(max(spec.WithTTLShare, 0)/young, 1)
	return g
}

func (g *ticketGen) next() ticket {
	issued := g.now - 1 - g.rng.Int64N(g.span)
	customer := 1 + g.rng.IntN(g.spec.Customers)

	g.buf = append(g.buf[:0], "ticket:"...)
	g.buf = strconv.AppendInt(g.buf, issued, 10)
	g.buf = append(g.buf, ':')
	g.buf = strconv.AppendInt(g.buf, int64(customer), 10)
	g.buf = append(g.buf, ':')
	g.buf = g.appendAlnum(g.buf, 8)
	t := ticket{key: string(g.buf), issued: issued}
	t.value = string(g.appendAlnum(g.buf[:0], 40))

	// Always draw, so whether one ticket has a TTL does not shift the
	// random stream of the tickets after it.
	draw := g.rng.Float64()
	if left := issued + g.lifetime - g.now; left > 0 && draw < g.pTTL {
		t.ttl = left
	}
	return t
}

func (g *ticketGen) appendAlnum(b []byte, n int) []byte {
	for range n {
		b = append(b, alnum[g.rng.IntN(len(alnum))])
	}
	return b
}
