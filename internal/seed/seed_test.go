package seed

import (
	"context"
	"math"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/keyjob/keyjob/internal/redistest"
)

var ticketKey = regexp.MustCompile(`^ticket:(\d+):(\d+):[A-Za-z0-9]{8}$`)

func TestTicketGen(t *testing.T) {
	now := time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		spec      TicketSpec
		wantShare float64
	}{
		{"Defaults", TicketSpec{Now: now}, DefaultTTLShare},
		{"NoTTL", TicketSpec{Now: now, WithTTLShare: -1}, 0},
		{"AllYoung", TicketSpec{Now: now, Span: 30 * 24 * time.Hour, WithTTLShare: 0.5, Seed: 7}, 0.5},
		{"ShareAboveYoung", TicketSpec{Now: now, WithTTLShare: 0.9}, 0.5}, // only the last year can hold a TTL
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const n = 50000
			spec := tt.spec.withDefaults()
			a, b := newTicketGen(tt.spec), newTicketGen(tt.spec)
			withTTL := 0
			for i := range n {
				got, again := a.next(), b.next()
				if got != again {
					t.Fatalf("ticket %d differs between two runs of the same spec: %+v, %+v", i, got, again)
				}
				m := ticketKey.FindStringSubmatch(got.key)
				if m == nil || len(got.value) != 40 {
					t.Fatalf("ticket %d = %q = %q: want ticket:{ts}:{customer}:{8 alnum} = 40 chars", i, got.key, got.value)
				}
				issued, _ := strconv.ParseInt(m[1], 10, 64)
				customer, _ := strconv.Atoi(m[2])
				if issued >= now.Unix() || issued < now.Add(-spec.Span).Unix() || customer < 1 || customer > spec.Customers {
					t.Fatalf("ticket %d = %q: issue time or customer out of range", i, got.key)
				}
				if got.ttl != 0 {
					withTTL++
					if want := issued + int64(spec.Lifetime/time.Second) - now.Unix(); got.ttl != want {
						t.Fatalf("ticket %d = %q: ttl %d, want %d (lifetime from issue)", i, got.key, got.ttl, want)
					}
				}
			}
			if share := float64(withTTL) / n; math.Abs(share-tt.wantShare) > 0.01 {
				t.Errorf("share with TTL = %.4f, want %.4f", share, tt.wantShare)
			}
		})
	}

	t.Run("SeedMatters", func(t *testing.T) {
		a := newTicketGen(TicketSpec{Now: now}).next()
		b := newTicketGen(TicketSpec{Now: now, Seed: 2}).next()
		if a.key == b.key {
			t.Errorf("seeds 1 and 2 both start with %q", a.key)
		}
	})
}

func TestStory(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t, redistest.Options{})
	c := srv.Client(t)

	st, err := Story(ctx, c, 4000)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := st.Keys(), 4000+400+200; got != want {
		t.Errorf("Story reports %d keys, want %d", got, want)
	}
	if st.Tickets.WithTTL == 0 || st.Tickets.WithoutTTL == 0 {
		t.Errorf("tickets %+v: want some with and some without a TTL", st.Tickets)
	}

	dbsize, err := c.Do(ctx, c.B().Dbsize().Build()).AsInt64()
	if err != nil {
		t.Fatal(err)
	}
	if dbsize != int64(st.Keys()) {
		t.Errorf("DBSIZE = %d, want %d", dbsize, st.Keys())
	}
	info, err := c.Do(ctx, c.B().Info().Section("keyspace").Build()).ToString()
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`db0:keys=(\d+),expires=(\d+)`).FindStringSubmatch(info)
	if m == nil {
		t.Fatalf("INFO keyspace without db0: %q", info)
	}
	if got, want := m[2], strconv.Itoa(st.WithTTL()); got != want {
		t.Errorf("INFO keyspace expires=%s, want %s (%d tickets + %d sessions)", got, want, st.Tickets.WithTTL, st.Sessions)
	}
}
