// Package redisx is keyjob's plumbing around the Redis client: dialing a
// target from a URL without ever printing its password, finding the
// primaries to scan (one in a standalone server, every master of a
// cluster), and reading the server's own figures (INFO, CONFIG GET, TIME).
//
// It knows nothing of jobs, plans or guards; those packages call it.
package redisx

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"
)

// DefaultURL is the target when neither --redis nor $REDIS_URL says one.
const DefaultURL = "redis://127.0.0.1:6379/0"

// topologyRefresh is how often a cluster client re-reads CLUSTER SLOTS.
const topologyRefresh = 5 * time.Second

// Options says how to reach a server.
type Options struct {
	URL                   string
	TLSCA                 string // PEM file of the CA that signed the server's certificate
	TLSCert, TLSKey       string // client certificate and key, PEM files
	TLSInsecureSkipVerify bool
	DialTimeout           time.Duration // default 5s
	// DB is the database a job file names; nil when it names none. It must
	// agree with the URL's /N when the URL has one.
	DB *int
}

// Conn is a connection to one target: a standalone server or a cluster.
type Conn struct {
	Client rueidis.Client
	// Addr is host:port of the address dialed: what reports show.
	Addr    string
	DB      int
	Cluster bool
	// Caps is what the server answered at the dial: its name and version,
	// and the reads keyjob sends (never a write). Probe asks about writes.
	Caps *Caps
	opt  rueidis.ClientOption
}

// ErrUnreachable is returned when no connection could be made.
var ErrUnreachable = errors.New("server unreachable")

// ErrBadOptions matches (errors.Is) every error Dial returns for options
// that cannot work whatever the server says: a malformed --redis URL, TLS
// flags without rediss://, a job's db that contradicts the URL's /N. The
// command line treats them as the user's argument error (exit 4).
var ErrBadOptions = errors.New("bad connection options")

// optionError is an error of the options, before any dialing.
type optionError struct{ err error }

func (e *optionError) Error() string        { return e.err.Error() }
func (e *optionError) Unwrap() error        { return e.err }
func (e *optionError) Is(target error) bool { return target == ErrBadOptions }

// connBuffer is the read and the write buffer of each connection of the
// main client, which carries the batches; nodeBuffer those of a node
// client, which carries one SCAN reply (about 40 KiB at COUNT 1000, read in
// pieces) or one INFO at a time.
//
// clusterBuffer replaces connBuffer on a cluster, where the main client
// holds a connection to every primary it has talked to for the whole run,
// walked or not: on 40 primaries 128 KiB each way came to a third of
// plan's peak RSS (42.9 MiB, 36.3 with 32 KiB; apply 50.9 and 42.0), and
// 16 KiB took a few MiB more off at 100 primaries. A batch larger than
// the buffer is written straight through, in a few writes instead of one.
const (
	connBuffer    = 128 << 10
	nodeBuffer    = 32 << 10
	clusterBuffer = 16 << 10
)

// The request rings (2^scale slots of about 350 bytes each): ringScale
// for the main client's connections, which carry a few pipelines at once
// (a DoMulti takes one slot); clusterRingScale on a cluster, where a
// primary's connection carries its own shard's batches only, at most
// walkDepth of them; nodeRingScale for a node client (DialNode), which
// sends one SCAN or INFO at a time.
const (
	ringScale        = 8
	clusterRingScale = 5
	nodeRingScale    = 3
)

// Redact returns the URL with any password replaced, for messages.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// Dial connects to the target. Errors never contain the password.
func Dial(ctx context.Context, o Options) (*Conn, error) {
	opt, addr, db, err := clientOption(o)
	if err != nil {
		return nil, &optionError{err}
	}
	client, err := rueidis.NewClient(opt)
	if err != nil {
		if opt.TLSConfig != nil && errors.Is(err, context.DeadlineExceeded) {
			// A server without TLS reads the ClientHello as the start of
			// a command and waits for the rest: the handshake times out.
			return nil, fmt.Errorf("%w (no TLS handshake: if the server does not speak TLS, use a redis:// URL)", explain(addr, err))
		}
		return nil, explain(addr, err)
	}
	c := &Conn{Client: client, Addr: addr, DB: db, opt: opt}
	info, err := Info(ctx, client)
	if err != nil {
		client.Close()
		return nil, explain(addr, err)
	}
	c.Cluster = info["cluster_enabled"] == "1"
	if c.Cluster && db != 0 {
		client.Close()
		return nil, fmt.Errorf("%s is a cluster, which has only database 0, but the URL names database %d", addr, db)
	}
	if c.Cluster {
		// Before Probe talks to every node: small buffers on a cluster.
		client.Close()
		c.opt.ReadBufferEachConn, c.opt.WriteBufferEachConn = clusterBuffer, clusterBuffer
		c.opt.RingScaleEachConn = clusterRingScale
		if client, err = rueidis.NewClient(c.opt); err != nil {
			return nil, explain(addr, err)
		}
		c.Client = client
	}
	if c.Caps, err = c.Probe(ctx, false, Reads...); err != nil {
		client.Close()
		return nil, explain(addr, err)
	}
	if c.Caps.Has(CmdNoTouch) {
		// CLIENT NO-TOUCH (7.2+) keeps keyjob's own reads from touching
		// the LRU clocks of the keys. It is sent on every new connection,
		// and a server without it (or a user not granted it) would refuse
		// the connection for it: so it is asked for only once the server
		// said it has it.
		client.Close()
		c.opt.ClientNoTouch = true
		if c.Client, err = rueidis.NewClient(c.opt); err != nil {
			return nil, explain(addr, err)
		}
	}
	return c, nil
}

// NoTouch says whether every connection of c sends CLIENT NO-TOUCH ON:
// the server has it and the user may send it, as the dial found out.
func (c *Conn) NoTouch() bool { return c.opt.ClientNoTouch }

// User is the ACL user the connection authenticates as.
func (c *Conn) User() string { return c.user() }

// user is the ACL user the connection authenticates as.
func (c *Conn) user() string {
	if c.opt.Username != "" {
		return c.opt.Username
	}
	return "default"
}

// Close closes the client and every node client.
func (c *Conn) Close() { c.Client.Close() }

// Target is host:port/db, what every message and file shows of the target.
func (c *Conn) Target() string { return fmt.Sprintf("%s/%d", c.Addr, c.DB) }

// Mode is "cluster" or "standalone".
func (c *Conn) Mode() string {
	if c.Cluster {
		return "cluster"
	}
	return "standalone"
}

func clientOption(o Options) (opt rueidis.ClientOption, addr string, db int, err error) {
	raw := o.URL
	if raw == "" {
		raw = DefaultURL
	}
	u, perr := url.Parse(raw)
	if perr != nil || u.Host == "" {
		// url.Parse's error repeats the URL, password and all: say it
		// without quoting it.
		return opt, "", 0, fmt.Errorf("--redis: not a URL of the form redis://[user:password@]host:port[/db]")
	}
	switch u.Scheme {
	case "redis", "rediss":
	default:
		return opt, "", 0, fmt.Errorf("--redis: scheme %q: want redis:// or rediss://", u.Scheme)
	}
	opt, err = rueidis.ParseURL(raw)
	if err != nil {
		return opt, "", 0, fmt.Errorf("--redis %s: %s", u.Redacted(), strings.TrimPrefix(err.Error(), "redis: "))
	}
	addr = opt.InitAddress[0]
	if o.DB != nil {
		if strings.Trim(u.Path, "/") != "" && *o.DB != opt.SelectDB {
			return opt, "", 0, fmt.Errorf("the job file says db %d but --redis names database %d: drop one of them", *o.DB, opt.SelectDB)
		}
		opt.SelectDB = *o.DB
	}
	db = opt.SelectDB
	opt.DisableCache = true // no CLIENT TRACKING: managed services may refuse it
	opt.ClientName = "keyjob"
	// No CLIENT SETINFO: a least-privilege ACL user need not allow it.
	opt.ClientSetInfo = rueidis.DisableClientSetInfo
	opt.Dialer.Timeout = o.DialTimeout
	if opt.Dialer.Timeout == 0 {
		opt.Dialer.Timeout = 5 * time.Second
	}
	opt.ConnWriteTimeout = 10 * time.Second
	// rueidis PINGs every idle connection each KeepAlive (1 s by
	// default): a paused run on a cluster of 40 primaries sent 40 PINGs a
	// second that way. Every 30 s is enough to find a dead connection.
	opt.Dialer.KeepAlive = 30 * time.Second
	// rueidis gives every connection 512 KiB buffers each way; a batch of
	// keyjob's is about 80 KiB (a larger write bypasses the buffer, a
	// larger reply is read in pieces). Smaller buffers keep the footprint
	// per node of a cluster down: with the defaults, each primary walked
	// cost about 6 MiB.
	opt.ReadBufferEachConn = connBuffer
	opt.WriteBufferEachConn = connBuffer
	// The ring of requests in flight per connection: 1024 slots of about
	// 350 bytes by default. keyjob has a few pipelines in flight per
	// connection (a DoMulti takes one slot), so 256 are plenty.
	opt.RingScaleEachConn = ringScale
	// A cluster client learns the nodes from CLUSTER SLOTS at the dial and
	// again only after a MOVED or a lost connection of its own. A replica
	// that joined after the dial, promoted while the run reads its shard
	// through a node client (which gets the MOVED), would never be known:
	// Primaries could not find who serves the slots now. Re-read the
	// topology every few seconds.
	opt.ClusterOption.ShardsRefreshInterval = topologyRefresh
	if err := tlsOption(&opt, u.Scheme == "rediss", o); err != nil {
		return opt, "", 0, err
	}
	return opt, addr, db, nil
}

func tlsOption(opt *rueidis.ClientOption, rediss bool, o Options) error {
	if !rediss {
		if o.TLSCA != "" || o.TLSCert != "" || o.TLSInsecureSkipVerify {
			return errors.New("--tls-* flags need a rediss:// URL")
		}
		return nil
	}
	if opt.TLSConfig == nil {
		opt.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	opt.TLSConfig.InsecureSkipVerify = opt.TLSConfig.InsecureSkipVerify || o.TLSInsecureSkipVerify
	if o.TLSCA != "" {
		pem, err := os.ReadFile(o.TLSCA)
		if err != nil {
			return fmt.Errorf("--tls-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("--tls-ca %s: no PEM certificate in it", o.TLSCA)
		}
		opt.TLSConfig.RootCAs = pool
	}
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if o.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(o.TLSCert, o.TLSKey)
		if err != nil {
			return fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		opt.TLSConfig.Certificates = []tls.Certificate{cert}
	}
	return nil
}

// explain turns a client error into one an operator can act on. The
// client's errors name the address, never the password.
func explain(addr string, err error) error {
	msg := err.Error()
	var nerr net.Error
	var operr *net.OpError
	switch {
	case strings.Contains(msg, "WRONGPASS"), strings.Contains(msg, "NOAUTH"), strings.Contains(msg, "invalid password"):
		return fmt.Errorf("%s refused the credentials (%s): check the user and password in --redis or $REDIS_URL", addr, firstLine(msg))
	case strings.Contains(msg, "x509:"):
		return fmt.Errorf("%w: %s: %s: give the CA that signed the server's certificate with --tls-ca FILE (or, for a test server only, --tls-insecure-skip-verify)", ErrUnreachable, addr, firstLine(msg))
	case strings.Contains(msg, "tls: certificate required"), strings.Contains(msg, "tls: bad certificate"), strings.Contains(msg, "tls: unknown certificate authority"):
		// The server's alert when it wants a client certificate (redis
		// tls-auth-clients yes) and got none, or one it does not trust.
		return fmt.Errorf("%w: %s: %s: the server wants a client certificate signed by a CA it trusts: give it with --tls-cert FILE --tls-key FILE", ErrUnreachable, addr, firstLine(msg))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		// What a redis:// client gets from a port that speaks TLS.
		return fmt.Errorf("%w: %s: the server closed the connection without an answer: if it speaks TLS, use a rediss:// URL", ErrUnreachable, addr)
	case strings.HasPrefix(msg, "LOADING"):
		return fmt.Errorf("%s is still loading its dataset into memory: try again when it is done", addr)
	case errors.As(err, &operr), errors.As(err, &nerr) && nerr.Timeout(), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w: %s: %s", ErrUnreachable, addr, firstLine(msg))
	}
	return fmt.Errorf("%s: %w", addr, err)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// Do sends one command and explains a failure.
func (c *Conn) Do(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult {
	return c.Client.Do(ctx, cmd)
}

// ParseInt is strconv.ParseInt for INFO fields; a missing field is 0.
func ParseInt(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// DialNode opens a connection of its own to one node of the target, with
// the target's credentials and TLS: the guards time their PING and read
// INFO on it, so the run's pipelines do not delay them.
func (c *Conn) DialNode(addr string) (rueidis.Client, error) {
	opt := c.opt
	opt.InitAddress = []string{addr}
	opt.ForceSingleClient = true
	// Fail fast on a lost connection: the callers (a node's SCAN, the
	// guards' polls) decide what a node that does not answer means.
	opt.DisableRetry = true
	opt.ClientName = "keyjob-guard"
	// One connection, not rueidis's four, with small buffers: its commands
	// (SCAN, INFO, a PING) go one at a time, and there is one such client
	// per primary for the guards, whether or not its shard is walked.
	opt.PipelineMultiplex = -1
	opt.ReadBufferEachConn = nodeBuffer
	opt.WriteBufferEachConn = nodeBuffer
	opt.RingScaleEachConn = nodeRingScale
	client, err := rueidis.NewClient(opt)
	if err != nil {
		return nil, explain(addr, err)
	}
	return client, nil
}
