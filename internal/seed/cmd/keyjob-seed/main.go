// Command keyjob-seed loads the ticket story's keyspace into a Redis
// server, for the benchmark and for trying keyjob by hand:
//
//	go run ./internal/seed/cmd/keyjob-seed -redis redis://127.0.0.1:6379 -tickets 1000000
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/redis/rueidis"

	"github.com/keyjob/keyjob/internal/seed"
)

func main() {
	url := flag.String("redis", "redis://127.0.0.1:6379/0", "target URL")
	tickets := flag.Int("tickets", 100000, "tickets to load (plus a tenth as many deal:clicks hashes and a twentieth as many sessions)")
	flag.Parse()
	opt, err := rueidis.ParseURL(*url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "keyjob-seed: bad -redis URL")
		os.Exit(2)
	}
	opt.DisableCache = true
	c, err := rueidis.NewClient(opt)
	if err != nil {
		fmt.Fprintln(os.Stderr, "keyjob-seed:", err)
		os.Exit(1)
	}
	defer c.Close()
	start := time.Now()
	st, err := seed.Story(context.Background(), c, *tickets)
	if err != nil {
		fmt.Fprintln(os.Stderr, "keyjob-seed:", err)
		os.Exit(1)
	}
	fmt.Printf("loaded %d keys (%d with a TTL) in %s\n", st.Keys(), st.WithTTL(), time.Since(start).Round(time.Millisecond))
}
