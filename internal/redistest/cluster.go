package redistest

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/redis/rueidis"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
)

// Cluster is a Redis Cluster of several processes in one container. Each
// node listens on a port that is published on the same port of the host
// and announces 127.0.0.1, so the nodes reach each other and a client on
// the host reaches every node at the address the cluster gives it.
type Cluster struct {
	Addrs     []string // every node, primaries first
	URL       string   // redis://ADDR of the first node
	Container *testcontainers.DockerContainer
}

// StartCluster starts primaries masters, each with replicas replicas, and
// waits until the cluster reports ok.
func StartCluster(t testing.TB, primaries, replicas int) *Cluster {
	t.Helper()
	img := Image(t)
	n := primaries * (1 + replicas)
	ports := freePorts(t, n)
	var script strings.Builder
	var addrs []string
	for _, p := range ports {
		fmt.Fprintf(&script, "mkdir -p /data/%d && /usr/bin/redis-server --port %d --cluster-enabled yes "+
			"--cluster-config-file /data/%d/nodes.conf --dir /data/%d --cluster-announce-ip 127.0.0.1 "+
			"--protected-mode no --save '' --appendonly no --enable-debug-command yes "+
			"--cluster-node-timeout 2000 --daemonize yes --logfile /data/%d/log; ", p, p, p, p, p)
		addrs = append(addrs, "127.0.0.1:"+strconv.Itoa(p))
	}
	fmt.Fprintf(&script, "sleep 1; /usr/bin/redis-cli --cluster create %s --cluster-replicas %d --cluster-yes && echo CLUSTER-CREATED; exec tail -f /dev/null",
		strings.Join(addrs, " "), replicas)

	exposed := make([]string, 0, n)
	bindings := network.PortMap{}
	for _, p := range ports {
		port := network.MustParsePort(strconv.Itoa(p) + "/tcp")
		exposed = append(exposed, strconv.Itoa(p)+"/tcp")
		bindings[port] = []network.PortBinding{{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: strconv.Itoa(p)}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*startupTimeout)
	defer cancel()
	custom := []testcontainers.ContainerCustomizer{
		testcontainers.WithLogger(tclog.TestLogger(t)),
		testcontainers.WithEntrypoint("/bin/sh", "-c", script.String()),
		testcontainers.WithExposedPorts(exposed...),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) { hc.PortBindings = bindings }),
	}
	if labels := runLabels(); labels != nil {
		custom = append(custom, testcontainers.WithLabels(labels))
	}
	ctr, err := testcontainers.Run(ctx, img, custom...)
	testcontainers.CleanupContainer(t, ctr)
	if err != nil {
		t.Fatalf("redistest: start cluster: %v%s", err, imageHint(img))
	}
	c := &Cluster{Addrs: addrs, URL: "redis://" + addrs[0], Container: ctr}
	if err := c.waitOK(ctx, primaries); err != nil {
		t.Fatalf("redistest: %v", err)
	}
	return c
}

func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("redistest: free port: %v", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// waitOK polls CLUSTER INFO until every node says cluster_state:ok and the
// expected number of masters serve slots.
func (c *Cluster) waitOK(ctx context.Context, primaries int) error {
	var last string
	for {
		ok := true
		for _, a := range c.Addrs {
			info, err := clusterInfo(ctx, a)
			if err != nil || !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, fmt.Sprintf("cluster_size:%d", primaries)) {
				ok, last = false, fmt.Sprintf("%s: %v %s", a, err, firstLines(info))
				break
			}
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster not ok: %s", last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func clusterInfo(ctx context.Context, addr string) (string, error) {
	cl, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true, ForceSingleClient: true})
	if err != nil {
		return "", err
	}
	defer cl.Close()
	return cl.Do(ctx, cl.B().ClusterInfo().Build()).ToString()
}

func firstLines(s string) string {
	if len(s) > 120 {
		return s[:120]
	}
	return s
}

// Client returns a cluster client, closed when the test ends.
func (c *Cluster) Client(t testing.TB) rueidis.Client {
	t.Helper()
	cl, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{c.Addrs[0]}, DisableCache: true})
	if err != nil {
		t.Fatalf("redistest: connect cluster %s: %v", c.Addrs[0], err)
	}
	t.Cleanup(cl.Close)
	return cl
}
