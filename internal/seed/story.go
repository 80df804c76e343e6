package seed

import (
	"context"
	"encoding/hex"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/redis/rueidis"
)

const dealDays = 90

// DealClicks writes n hashes deal:clicks:{deal id}:{yyyymmdd}, one per deal
// and day over the last 90 days (UTC) before today, with click counts per
// channel (web, app, email) and no TTL. Counts are the same on every run;
// dates follow the calendar.
func DealClicks(ctx context.Context, c rueidis.Client, n int) error {
	rng := rand.New(rand.NewPCG(DefaultSeed, 0x6465616c)) // "deal"
	today := time.Now().UTC().Truncate(24 * time.Hour)
	l := newLoader(c)
	for i := range n {
		deal := 1 + i/dealDays
		day := today.AddDate(0, 0, -1-i%dealDays).Format("20060102")
		key := "deal:clicks:" + strconv.Itoa(deal) + ":" + day
		cmd := c.B().Hset().Key(key).FieldValue().
			FieldValue("web", strconv.Itoa(rng.IntN(5000))).
			FieldValue("app", strconv.Itoa(rng.IntN(5000))).
			FieldValue("email", strconv.Itoa(rng.IntN(500))).
			Build()
		if l.add(ctx, cmd) != nil {
			break
		}
	}
	return l.wait(ctx)
}

// Sessions writes n strings session:{32 hex} holding a small JSON document,
// each with a TTL between one hour and one day. Names, values and TTLs are
// the same on every run.
func Sessions(ctx context.Context, c rueidis.Client, n int) error {
	rng := rand.New(rand.NewPCG(DefaultSeed, 0x73657373)) // "sess"
	const minTTL, maxTTL = 3600, 86400
	var id [16]byte
	l := newLoader(c)
	for range n {
		for i := range id {
			id[i] = byte(rng.Uint32())
		}
		key := "session:" + hex.EncodeToString(id[:])
		value := `{"customer":` + strconv.Itoa(1+rng.IntN(DefaultCustomers)) + `,"cart":` + strconv.Itoa(rng.IntN(10)) + `}`
		ttl := int64(minTTL + rng.IntN(maxTTL-minTTL+1))
		if l.add(ctx, c.B().Set().Key(key).Value(value).ExSeconds(ttl).Build()) != nil {
			break
		}
	}
	return l.wait(ctx)
}

// StoryStats counts the keys Story wrote.
type StoryStats struct {
	Tickets    TicketStats
	DealClicks int // no TTL
	Sessions   int // all with a TTL
}

// Keys is the number of keys written.
func (s StoryStats) Keys() int { return s.Tickets.Total() + s.DealClicks + s.Sessions }

// WithTTL is the number of keys written with a TTL.
func (s StoryStats) WithTTL() int { return s.Tickets.WithTTL + s.Sessions }

// Story loads the ticket story's keyspace: tickets tickets (defaults of
// TicketSpec, issued up to now), tickets/10 deal click hashes and
// tickets/20 sessions.
func Story(ctx context.Context, c rueidis.Client, tickets int) (StoryStats, error) {
	st := StoryStats{DealClicks: tickets / 10, Sessions: tickets / 20}
	var err error
	if st.Tickets, err = Tickets(ctx, c, TicketSpec{Count: tickets}); err != nil {
		return StoryStats{}, err
	}
	if err := DealClicks(ctx, c, st.DealClicks); err != nil {
		return StoryStats{}, err
	}
	if err := Sessions(ctx, c, st.Sessions); err != nil {
		return StoryStats{}, err
	}
	return st, nil
}
