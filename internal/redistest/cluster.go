package redistest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
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
	Addrs     []string // every node, primaries first (as created; see Topology)
	URL       string   // redis://ADDR of the first node
	Container *testcontainers.DockerContainer

	buses map[string]int // each node's cluster bus port

	mu     sync.Mutex
	killed []string // nodes KillNode killed: they stay dead
}

// StartCluster starts primaries masters, each with replicas replicas, and
// waits until the cluster reports ok.
func StartCluster(t testing.TB, primaries, replicas int) *Cluster {
	t.Helper()
	return StartClusterOn(t, Image(t), primaries, replicas)
}

// StartClusterOn is StartCluster on the servers of image img.
func StartClusterOn(t testing.TB, img string, primaries, replicas int) *Cluster {
	t.Helper()
	n := primaries * (1 + replicas)
	if n >= bigCluster {
		oneBigCluster(t)
	}
	// Each node's cluster bus gets a port of its own, distinct from every
	// node's client port: by default it is the client port + 10000, which
	// is another node's client port now and then (CI: "bind: Address
	// already in use", the node never started, no slot was assigned) or
	// past 65535 for a port above 55535. The bus is only used inside the
	// container, so its ports are not published.
	all := freePorts(t, 2*n)
	ports, buses := all[:n], all[n:]
	var script strings.Builder
	var addrs []string
	for i, p := range ports {
		fmt.Fprintf(&script, "mkdir -p /data/%d && /usr/bin/redis-server --port %d --cluster-enabled yes --cluster-port %d "+
			"--cluster-config-file /data/%d/nodes.conf --dir /data/%d --cluster-announce-ip 127.0.0.1 "+
			"--protected-mode no --save '' --appendonly no --enable-debug-command yes "+
			"--cluster-node-timeout 2000 --daemonize yes --logfile /data/%d/log; ", p, p, buses[i], p, p, p)
		addrs = append(addrs, "127.0.0.1:"+strconv.Itoa(p))
	}
	// Every server must answer before the cluster is made: a fixed second
	// was too short for 40 daemonized servers on a busy 2-core machine
	// (redis-cli --cluster create then failed and no slot was assigned).
	for _, p := range ports {
		// One that is still silent after 30 s leaves its log's end in the
		// container's output, where a failure message shows it.
		fmt.Fprintf(&script, "n=0; until /usr/bin/redis-cli -p %d ping >/dev/null 2>&1; do n=$((n+1)); "+
			"[ $n -eq 300 ] && { echo KEYJOB-SERVER-SILENT %d; tail -n 5 /data/%d/log; }; sleep 0.1; done; ", p, p, p)
	}
	script.WriteString("echo KEYJOB-SERVERS-UP; ")
	// redis-cli --cluster create can fail on a loaded machine before it
	// assigns a slot (a node slow to answer one of its calls); a node it
	// did touch is reset, so the next try starts from empty nodes.
	var reset strings.Builder
	for _, p := range ports {
		fmt.Fprintf(&reset, "/usr/bin/redis-cli -p %d cluster reset hard >/dev/null 2>&1; ", p)
	}
	fmt.Fprintf(&script, "try=1; until /usr/bin/redis-cli --cluster create %s --cluster-replicas %d --cluster-yes </dev/null; do "+
		"[ $try -ge %d ] && { echo KEYJOB-CREATE-GAVE-UP; exec tail -f /dev/null; }; echo KEYJOB-CREATE-RETRY $try; try=$((try+1)); %s sleep 1; done; "+
		"echo CLUSTER-CREATED; exec tail -f /dev/null",
		strings.Join(addrs, " "), replicas, createTries, reset.String())

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
	c := &Cluster{Addrs: addrs, URL: "redis://" + addrs[0], Container: ctr, buses: map[string]int{}}
	for i, a := range addrs {
		c.buses[a] = buses[i]
	}
	if err := c.waitOK(ctx, primaries, primaries*replicas); err != nil {
		t.Fatalf("redistest: %v\n%s", err, containerLogTail(ctr, 40))
	}
	return c
}

// createTries is how many times the container tries redis-cli --cluster
// create before it gives up (and waitOK reports the cluster not ok).
const createTries = 5

// containerLogTail is the last n lines of the container's output
// (the creation script's and redis-cli's), for a failure message: a
// cluster that never came up says why only there.
func containerLogTail(ctr *testcontainers.DockerContainer, n int) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rc, err := ctr.Logs(ctx)
	if err != nil {
		return "container log: " + err.Error()
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "container log (last lines):\n" + strings.Join(lines, "\n")
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
// expected number of masters serve slots, and, with replicas, until every
// node knows every replica as one and each replica's link to its primary
// is up: redis-cli makes the replicas after the slots are served, and the
// news spreads by gossip.
func (c *Cluster) waitOK(ctx context.Context, primaries, replicas int) error {
	var last string
	for {
		ok := true
		for _, a := range c.Addrs {
			info, err := clusterInfo(ctx, a)
			if err != nil || !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, fmt.Sprintf("cluster_size:%d", primaries)) {
				ok, last = false, fmt.Sprintf("%s: %v %s", a, err, firstLines(info))
				break
			}
			if replicas == 0 {
				continue
			}
			if why := replicasReady(ctx, a, replicas); why != "" {
				ok, last = false, why
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

// replicasReady says why the node at addr does not yet see n replicas
// with their links up; "" when it does.
func replicasReady(ctx context.Context, addr string, n int) string {
	nodes, err := clusterNodes(ctx, addr)
	if err != nil {
		return err.Error()
	}
	var seen, live int
	for _, nd := range nodes {
		if nd.Failed {
			continue // killed: CLUSTER SLOTS leaves it out
		}
		live++
		if !nd.Master && nd.MasterID != "" {
			seen++
		}
	}
	if seen != n {
		return fmt.Sprintf("%s sees %d replicas, want %d", addr, seen, n)
	}
	// CLUSTER SLOTS, where clients learn the nodes, leaves out a replica
	// until gossip tells this node that the replica has synced.
	if listed, err := slotsNodes(ctx, addr); err != nil || listed != live {
		return fmt.Sprintf("%s lists %d nodes in CLUSTER SLOTS, want %d (%v)", addr, listed, live, err)
	}
	for _, nd := range nodes {
		if nd.Master || nd.Failed {
			continue
		}
		if info, err := nodeInfo(ctx, nd.Addr, "replication"); err != nil || !strings.Contains(info, "master_link_status:up") {
			return fmt.Sprintf("replica %s: link to its primary not up (%v)", nd.Addr, err)
		}
	}
	return ""
}

// slotsNodes counts the nodes CLUSTER SLOTS on addr lists.
func slotsNodes(ctx context.Context, addr string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	cl, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true, ForceSingleClient: true})
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	ranges, err := cl.Do(ctx, cl.B().ClusterSlots().Build()).ToArray()
	if err != nil {
		return 0, err
	}
	ids := map[string]bool{}
	for _, r := range ranges {
		f, err := r.ToArray()
		if err != nil {
			return 0, err
		}
		for _, n := range f[min(2, len(f)):] {
			if nf, err := n.ToArray(); err == nil && len(nf) >= 3 {
				id, _ := nf[2].ToString()
				ids[id] = true
			}
		}
	}
	return len(ids), nil
}

// nodeInfo reads an INFO section of one node.
func nodeInfo(ctx context.Context, addr, section string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	cl, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true, ForceSingleClient: true})
	if err != nil {
		return "", err
	}
	defer cl.Close()
	return cl.Do(ctx, cl.B().Info().Section(section).Build()).ToString()
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

// ClusterNode is one node of a cluster as CLUSTER NODES shows it.
type ClusterNode struct {
	ID     string
	Addr   string // 127.0.0.1:PORT
	Master bool
	// MasterID is the primary a replica follows; "" for a primary.
	MasterID string
	// Slots are the slot ranges a primary serves, e.g. "0-5460".
	Slots string
	// Failed is true when the cluster agrees the node is down (fail), or
	// the node asked suspects it (fail?).
	Failed bool
}

// Topology reads CLUSTER NODES from the first node that answers: the
// roles now, after any failover (Addrs is the order of creation).
func (c *Cluster) Topology(ctx context.Context) ([]ClusterNode, error) {
	var last error
	for _, a := range c.Addrs {
		nodes, err := clusterNodes(ctx, a)
		if err == nil {
			return nodes, nil
		}
		last = err
	}
	return nil, fmt.Errorf("no node answers CLUSTER NODES: %w", last)
}

func clusterNodes(ctx context.Context, addr string) ([]ClusterNode, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	cl, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true, ForceSingleClient: true})
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	text, err := cl.Do(ctx, cl.B().ClusterNodes().Build()).ToString()
	if err != nil {
		return nil, fmt.Errorf("CLUSTER NODES on %s: %w", addr, err)
	}
	text = strings.TrimPrefix(text, "txt:") // RESP3's verbatim string
	var nodes []ClusterNode
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		// <id> <ip:port@cport> <flags> <master> <ping> <pong> <epoch> <link> <slot>...
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		n := ClusterNode{ID: f[0], Addr: strings.SplitN(f[1], "@", 2)[0]}
		for _, flag := range strings.Split(f[2], ",") {
			switch flag {
			case "master":
				n.Master = true
			case "fail", "fail?":
				n.Failed = true
			}
		}
		if f[3] != "-" {
			n.MasterID = f[3]
		}
		var slots []string
		for _, s := range f[8:] {
			if !strings.HasPrefix(s, "[") { // [slot->-node]: a migration in progress
				slots = append(slots, s)
			}
		}
		n.Slots = strings.Join(slots, ",")
		nodes = append(nodes, n)
	}
	return nodes, nil
}

// Primaries are the addresses of the primaries that serve slots now.
func (c *Cluster) Primaries(ctx context.Context) ([]string, error) {
	nodes, err := c.Topology(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range nodes {
		if n.Master && n.Slots != "" && !n.Failed {
			out = append(out, n.Addr)
		}
	}
	return out, nil
}

// Replicas are the addresses of the replicas now.
func (c *Cluster) Replicas(ctx context.Context) ([]string, error) {
	nodes, err := c.Topology(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range nodes {
		if !n.Master && !n.Failed {
			out = append(out, n.Addr)
		}
	}
	return out, nil
}

// ReplicaOf is the address of a replica of the primary at addr.
func (c *Cluster) ReplicaOf(ctx context.Context, primary string) (string, error) {
	nodes, err := c.Topology(ctx)
	if err != nil {
		return "", err
	}
	var id string
	for _, n := range nodes {
		if n.Addr == primary {
			id = n.ID
		}
	}
	for _, n := range nodes {
		if id != "" && n.MasterID == id && !n.Failed {
			return n.Addr, nil
		}
	}
	return "", fmt.Errorf("%s has no replica", primary)
}

// Exec runs a command in the cluster's container (every node is a process
// in it) and returns its output; a non-zero exit is an error.
func (c *Cluster) Exec(ctx context.Context, cmd ...string) (string, error) {
	s := Server{Container: c.Container}
	return s.Exec(ctx, cmd...)
}

// Failover promotes the replica of the primary at addr with CLUSTER
// FAILOVER, the planned, lossless way: the replica catches up first and
// the old primary becomes its replica. It returns the new primary's
// address once every node agrees.
func (c *Cluster) Failover(ctx context.Context, primary string) (string, error) {
	replica, err := c.ReplicaOf(ctx, primary)
	if err != nil {
		return "", err
	}
	cl, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{replica}, DisableCache: true, ForceSingleClient: true})
	if err != nil {
		return "", err
	}
	defer cl.Close()
	if err := cl.Do(ctx, cl.B().ClusterFailover().Build()).Error(); err != nil {
		return "", fmt.Errorf("CLUSTER FAILOVER on %s: %w", replica, err)
	}
	return replica, c.WaitPromoted(ctx, replica)
}

// KillNode kills the node at addr with SIGKILL, inside the container: a
// crash, nothing saved, nothing handed over. Its replica takes over after
// cluster-node-timeout (2s) once the other primaries agree it failed; see
// WaitPromoted. The node stays dead.
func (c *Cluster) KillNode(ctx context.Context, addr string) error {
	info, err := nodeInfo(ctx, addr, "server")
	if err != nil {
		return fmt.Errorf("INFO server on %s: %w", addr, err)
	}
	var pid string
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			pid = v
		}
	}
	if pid == "" {
		return fmt.Errorf("%s: no process_id in INFO server", addr)
	}
	if _, err := c.Exec(ctx, "/bin/sh", "-c", "kill -9 "+pid); err != nil {
		return err
	}
	c.mu.Lock()
	c.killed = append(c.killed, addr)
	c.mu.Unlock()
	return nil
}

// WaitPromoted waits until replica is a primary serving slots and every
// node KillNode has not killed says cluster_state:ok and knows replica
// as a primary.
func (c *Cluster) WaitPromoted(ctx context.Context, replica string) error {
	c.mu.Lock()
	dead := slices.Clone(c.killed)
	c.mu.Unlock()
	var last string
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, why := c.promoted(ctx, replica, dead)
		if ok {
			return nil
		}
		last = why
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not promoted: %w (%s)", replica, ctx.Err(), last)
		case <-tick.C:
		}
	}
}

func (c *Cluster) promoted(ctx context.Context, replica string, dead []string) (bool, string) {
	for _, a := range c.Addrs {
		if slices.Contains(dead, a) {
			continue
		}
		info, err := clusterInfo(ctx, a)
		if err != nil || !strings.Contains(info, "cluster_state:ok") {
			return false, fmt.Sprintf("%s: %v %s", a, err, firstLines(info))
		}
		nodes, err := clusterNodes(ctx, a)
		if err != nil {
			return false, err.Error()
		}
		for _, n := range nodes {
			if n.Addr == replica && (!n.Master || n.Slots == "") {
				return false, fmt.Sprintf("%s still sees %s as a replica", a, replica)
			}
		}
	}
	return true, ""
}

// nodeDo sends one command to the node at addr.
func nodeDo(ctx context.Context, addr string, cmd ...string) rueidis.RedisResult {
	cl, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true, ForceSingleClient: true})
	if err != nil {
		return rueidis.RedisResult{}
	}
	defer cl.Close()
	return cl.Do(ctx, cl.B().Arbitrary(cmd...).Build())
}

// RemoveReplica takes the replica at addr out of the cluster: CLUSTER
// RESET HARD on it (it forgets the cluster, drops its data and takes a new
// node id) and CLUSTER FORGET of its old id on every other node. A client
// that dials now never hears of it; AddReplica brings it back.
func (c *Cluster) RemoveReplica(ctx context.Context, addr string) error {
	nodes, err := c.Topology(ctx)
	if err != nil {
		return err
	}
	var id string
	for _, n := range nodes {
		if n.Addr == addr && !n.Master {
			id = n.ID
		}
	}
	if id == "" {
		return fmt.Errorf("%s is not a replica", addr)
	}
	if err := nodeDo(ctx, addr, "CLUSTER", "RESET", "HARD").Error(); err != nil {
		return fmt.Errorf("CLUSTER RESET on %s: %w", addr, err)
	}
	for _, n := range nodes {
		if n.Addr == addr || n.Failed || c.isKilled(n.Addr) {
			continue
		}
		if err := nodeDo(ctx, n.Addr, "CLUSTER", "FORGET", id).Error(); err != nil {
			return fmt.Errorf("CLUSTER FORGET on %s: %w", n.Addr, err)
		}
	}
	return nil
}

// AddReplica joins the node at addr, outside the cluster, to it as a
// replica of primary, and waits until it has synced and every node lists
// it in CLUSTER SLOTS.
func (c *Cluster) AddReplica(ctx context.Context, addr, primary string) error {
	host, port, err := net.SplitHostPort(primary)
	if err != nil {
		return err
	}
	if err := nodeDo(ctx, addr, "CLUSTER", "MEET", host, port, strconv.Itoa(c.buses[primary])).Error(); err != nil {
		return fmt.Errorf("CLUSTER MEET on %s: %w", addr, err)
	}
	nodes, err := c.Topology(ctx)
	if err != nil {
		return err
	}
	var id string
	replicas := 1
	for _, n := range nodes {
		if n.Addr == primary {
			id = n.ID
		}
		if !n.Master && !n.Failed {
			replicas++
		}
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		// The node must have heard of its primary through the MEET first.
		err := nodeDo(ctx, addr, "CLUSTER", "REPLICATE", id).Error()
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("CLUSTER REPLICATE on %s: %w", addr, err)
		case <-tick.C:
		}
	}
	var last string
	for {
		last = ""
		for _, a := range c.Addrs {
			if c.isKilled(a) {
				continue
			}
			if last = replicasReady(ctx, a, replicas); last != "" {
				break
			}
		}
		if last == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not a replica of %s yet: %w (%s)", addr, primary, ctx.Err(), last)
		case <-tick.C:
		}
	}
}

func (c *Cluster) isKilled(addr string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Contains(c.killed, addr)
}

// bigCluster is the node count from which a cluster takes the machine
// lock: two 40-primary clusters at once (go test runs packages in
// parallel: guard's and cmd/keyjob's) are 80 servers on two cores, and
// redis-cli --cluster create failed under that load in CI.
const bigCluster = 20

// oneBigCluster waits for, and holds until the test ends, a lock file
// shared by every test process on the machine, so big clusters run one
// after another.
func oneBigCluster(t testing.TB) {
	t.Helper()
	release, err := LockBigCluster()
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	t.Cleanup(release)
}

// LockBigCluster waits for the machine's big-cluster lock (see bigCluster)
// and returns its release: for a program that makes a big cluster outside
// a test (make bench), so that it and a test's do not run at once.
func LockBigCluster() (release func(), err error) {
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "keyjob-test-big-cluster.lock"), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, fmt.Errorf("big-cluster lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("big-cluster lock: %w", err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// WaitClusterOK waits until every node of addrs says cluster_state:ok with
// primaries masters serving slots, and every replica is known and linked
// (as StartCluster does): for a cluster made outside a test (make bench).
func WaitClusterOK(ctx context.Context, addrs []string, primaries, replicas int) error {
	return (&Cluster{Addrs: addrs}).waitOK(ctx, primaries, replicas)
}
