package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/redis/rueidis"
	"github.com/urfave/cli/v2"

	"github.com/keyjob/keyjob/guard"
	"github.com/keyjob/keyjob/internal/redisx"
	"github.com/keyjob/keyjob/jobs"
	"github.com/keyjob/keyjob/planner"
)

func guardFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "disk-path", Usage: "a `DIR` on the disk where Redis keeps its AOF/RDB, for the disk guard (statfs)"},
		&cli.StringFlag{Name: "disk-free-command", Usage: "a shell `CMD` that prints the free bytes of Redis's data disk (KEYJOB_NODE=host:port is set)"},
		&cli.BoolFlag{Name: "from-high-memory", Usage: "run on a server already above the memory pause level, with levels relative to the start"},
		&cli.BoolFlag{Name: "allow-looser-guards", Usage: "accept guard levels in the job file looser than the defaults"},
		&cli.BoolFlag{Name: "unguarded", Usage: "turn the guards off (benchmarks only; refused unless the target is a loopback address)"},
	}
}

type guardOptions struct {
	DiskPath, DiskCommand string
	FromHighMemory        bool
	AllowLooser           bool
	Unguarded             bool
	// MaxDown is --node-down-timeout: the guards wait as long as the walk
	// for a node that does not answer before they abort. 0: the default.
	MaxDown time.Duration
}

func guardOptionsFrom(c *cli.Context) (guardOptions, error) {
	o := guardOptions{
		DiskPath: c.String("disk-path"), DiskCommand: c.String("disk-free-command"),
		FromHighMemory: c.Bool("from-high-memory"), AllowLooser: c.Bool("allow-looser-guards"), Unguarded: c.Bool("unguarded"),
		MaxDown: c.Duration("node-down-timeout"),
	}
	if o.DiskPath != "" && o.DiskCommand != "" {
		return o, usageError(errors.New("--disk-path and --disk-free-command exclude each other"))
	}
	return o, nil
}

func (o guardOptions) probe() guard.DiskProbe {
	switch {
	case o.DiskPath != "":
		return guard.PathProbe(o.DiskPath)
	case o.DiskCommand != "":
		return guard.CommandProbe(o.DiskCommand)
	}
	return nil
}

// startGuards starts a collector per primary, each on a connection of its
// own, and resolves the levels from the job file, the operator's flags and
// the server's figures now. nil with --unguarded.
func startGuards(ctx context.Context, conn *redisx.Conn, job *jobs.Job, o guardOptions, log *slog.Logger) (*guard.Gate, error) {
	if o.Unguarded {
		if !loopback(conn.Addr) {
			return nil, usageError(fmt.Errorf("--unguarded is for benchmarks on a loopback address; %s is not one", conn.Addr))
		}
		return nil, nil
	}
	nodes, err := conn.Primaries(ctx)
	if err != nil {
		return nil, err
	}
	var colls []*guard.Collector
	var clients []rueidis.Client
	started := false
	defer func() {
		// Run closes a collector's connection; one that never ran is closed here.
		if !started {
			for _, c := range clients {
				c.Close()
			}
		}
	}()
	for _, n := range nodes {
		client, err := conn.DialNode(n.Addr)
		if err != nil {
			return nil, err
		}
		clients = append(clients, client)
		colls = append(colls, guard.NewCollector(n.Addr, client, o.probe(), log))
	}
	start, err := colls[0].Poll(ctx)
	if err != nil {
		return nil, fmt.Errorf("guards: read %s: %w", colls[0].Node, err)
	}
	levels, err := guard.Resolve(job.Guards, start, guard.Options{
		FromHighMemory: o.FromHighMemory, AllowLooserGuards: o.AllowLooser, Delete: job.Action.Kind == jobs.ActionDelete,
	})
	var looser *guard.ErrLooser
	var high *guard.ErrHighMemory
	switch {
	case errors.As(err, &looser):
		return nil, usageError(err)
	case errors.As(err, &high):
		return nil, withCode(exitGuard, err)
	case err != nil:
		return nil, err
	}
	g := guard.NewGate(colls, levels, log)
	if conn.Cluster {
		// Follow a failover: watch the primaries that serve the slots now.
		g.Topology = func(ctx context.Context) ([]string, error) {
			nodes, err := conn.Primaries(ctx)
			addrs := make([]string, len(nodes))
			for i, n := range nodes {
				addrs[i] = n.Addr
			}
			return addrs, err
		}
		g.Watch = func(addr string) (*guard.Collector, error) {
			client, err := conn.DialNode(addr)
			if err != nil {
				return nil, err
			}
			return guard.NewCollector(addr, client, o.probe(), log), nil
		}
	}
	if o.MaxDown > 0 {
		g.MaxDown = o.MaxDown
	}
	g.Start(ctx)
	started = true
	return g, nil
}

// checkDisk refuses to start when the free disk cannot hold the AOF the
// run appends plus the room a rewrite needs (yipit: the rewrite filled
// the disk and Redis died).
func checkDisk(ctx context.Context, g *guard.Gate, p *planner.Plan) error {
	if g == nil || p == nil {
		return nil
	}
	cur, err := g.Figures()
	if err != nil || cur.DiskFree < 0 {
		return nil
	}
	// Without AOF the run appends nothing to the disk; a snapshot its
	// writes trigger still needs the room.
	var aof int64
	if cur.AOFEnabled {
		aof = p.Estimates.AOFBytes
	}
	need := aof + p.Estimates.RewriteDiskBytes
	if cur.DiskFree < need {
		return withCode(exitGuard, fmt.Errorf("refusing to start: %s free on the data disk, and the run needs about %s (%s of AOF it appends plus %s for a rewrite)",
			humanize.IBytes(uint64(cur.DiskFree)), humanize.IBytes(uint64(need)),
			humanize.IBytes(uint64(aof)), humanize.IBytes(uint64(p.Estimates.RewriteDiskBytes))))
	}
	return nil
}

// blindGuards says which guards cannot be evaluated, before the run.
func blindGuards(w io.Writer, g *guard.Gate) {
	if g == nil {
		fmt.Fprintln(w, "guards: OFF (--unguarded)")
		return
	}
	cur, err := g.Figures()
	if err != nil {
		return
	}
	var blind []string
	for _, l := range guard.Lines(cur, guard.Baseline{}, g.Levels()) {
		if l.State == "blind" {
			blind = append(blind, l.Name+" ("+l.Note+")")
		}
	}
	if len(blind) > 0 {
		fmt.Fprintf(w, "guards that cannot be evaluated: %s\n", strings.Join(blind, ", "))
	}
}

func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
