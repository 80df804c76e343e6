package redistest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	netapi "github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/redis/rueidis"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"
)

const (
	// primaryAlias is the primary's name on the network it shares with a replica.
	primaryAlias = "primary"
	// defaultNetwork is Docker's default bridge, where Start puts servers.
	defaultNetwork = "bridge"
)

// StartReplica runs a replica of primary and returns once its link to the
// primary is up. Both are cleaned up when the test ends.
//
// The two containers talk over a user-defined Docker network made for the
// pair: the primary joins it under the alias "primary" and the replica runs
// with --replicaof primary 6379. A name, unlike the primary's IP or
// published port, survives a Restart of the primary, and the replica's
// traffic never leaves Docker.
//
// The network is internal (no gateway) on purpose: Docker publishes ports
// through a container's gateway network, and connecting a running container
// to a network that wins the gateway choice (networks are ordered by name)
// republishes its ports on new host ports, which would break the primary's
// Addr and every client already connected to it. An internal network never
// wins. The replica is on the default bridge too, for its own port.
func StartReplica(t testing.TB, primary *Server) *Server {
	t.Helper()
	docker, _, err := setup()
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startupTimeout)
	defer cancel()

	nw, err := network.New(ctx, network.WithInternal(), network.WithLabels(runLabels()))
	if err != nil {
		t.Fatalf("redistest: create network for replica: %v", err)
	}
	primaryID := primary.Container.GetContainerID()
	// Registered before the replica's cleanup, so it runs after the replica
	// is gone; the primary (cleaned up later still) must leave first.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// Fails harmlessly when the primary is already gone.
		docker.NetworkDisconnect(ctx, nw.ID, client.NetworkDisconnectOptions{Container: primaryID, Force: true})
		if err := nw.Remove(ctx); err != nil {
			t.Errorf("redistest: remove replica network: %v", err)
		}
	})
	_, err = docker.NetworkConnect(ctx, nw.ID, client.NetworkConnectOptions{
		Container:      primaryID,
		EndpointConfig: &netapi.EndpointSettings{Aliases: []string{primaryAlias}},
	})
	if err != nil {
		t.Fatalf("redistest: connect primary to replica network: %v", err)
	}
	addr := primary.Addr
	if err := primary.ready(ctx); err != nil {
		t.Fatalf("redistest: %v", err)
	}
	if primary.Addr != addr {
		t.Fatalf("redistest: joining the replica network moved the primary from %s to %s", addr, primary.Addr)
	}

	opts := Options{Args: []string{"--replicaof", primaryAlias, "6379"}}
	replica := start(t, opts, testcontainers.CustomizeRequestOption(func(req *testcontainers.GenericContainerRequest) error {
		// The first network is the one the container is created on.
		req.Networks = append(req.Networks, defaultNetwork, nw.Name)
		return nil
	}))
	if err := replica.waitLinkUp(ctx); err != nil {
		t.Fatalf("redistest: %v", err)
	}
	return replica
}

// waitLinkUp polls INFO replication until master_link_status:up.
func (s *Server) waitLinkUp(ctx context.Context) error {
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{s.Addr}, DisableCache: true})
	if err != nil {
		return fmt.Errorf("connect replica %s: %w", s.Addr, err)
	}
	defer c.Close()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		info, err := c.Do(ctx, c.B().Info().Section("replication").Build()).ToString()
		if err == nil && strings.Contains(info, "master_link_status:up") {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("replica %s: link to primary not up: %w (last INFO: %q, %v)", s.Addr, ctx.Err(), info, err)
		case <-tick.C:
		}
	}
}
