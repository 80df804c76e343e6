package redisx

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// probeBuffer is the read buffer of a probe connection: an INFO reply of
// a few sections is 2–5 KiB and is read in pieces beyond it.
const probeBuffer = 4 << 10

// Probe is a bare connection to one node for the guards: RESP2, one
// command at a time, a 4 KiB buffer and no goroutine of its own, so a
// cluster of a hundred primaries costs the guards a few hundred KiB, not a
// client per node.
//
// Its round trips are timed by the kernel where it can: the time from
// just before the request is written to when the first packet of the reply
// reached the socket (SO_TIMESTAMPNS), not to when keyjob's goroutine got
// round to reading it. A busy keyjob on a busy machine then does not read
// its own scheduling delay as the server's latency.
type Probe struct {
	Addr string
	dial func(ctx context.Context) (net.Conn, *tsConn, error)
	auth []string // AUTH arguments, nil without a password

	mu sync.Mutex
	c  net.Conn
	ts *tsConn
	br *bufio.Reader
}

// ErrReply is a server's error reply on a probe (NOPERM, LOADING…).
type ErrReply struct{ Msg string }

func (e *ErrReply) Error() string { return e.Msg }

// DialProbe opens a probe to one node of the target, with the target's
// credentials and TLS. The connection is made at the first Do and made
// again after any error.
func (c *Conn) DialProbe(addr string) *Probe {
	opt := c.opt
	timeout := opt.Dialer.Timeout
	var tcfg *tls.Config
	if opt.TLSConfig != nil {
		tcfg = opt.TLSConfig.Clone()
		if host, _, err := net.SplitHostPort(addr); err == nil && tcfg.ServerName == "" {
			tcfg.ServerName = host
		}
	}
	p := &Probe{Addr: addr}
	if opt.Password != "" {
		p.auth = []string{"AUTH", opt.Password}
		if opt.Username != "" {
			p.auth = []string{"AUTH", opt.Username, opt.Password}
		}
	}
	p.dial = func(ctx context.Context) (net.Conn, *tsConn, error) {
		d := net.Dialer{Timeout: timeout}
		nc, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, nil, err
		}
		ts := newTSConn(nc)
		var conn net.Conn = ts
		if tcfg != nil {
			tc := tls.Client(ts, tcfg)
			if err := tc.HandshakeContext(ctx); err != nil {
				nc.Close()
				return nil, nil, err
			}
			conn = tc
		}
		return conn, ts, nil
	}
	return p
}

// Do sends one command and returns its reply as text (a bulk or simple
// string, or an integer's digits) and the round trip. An error reply is an
// *ErrReply; the connection stays usable. Any other error closes it.
func (p *Probe) Do(ctx context.Context, args ...string) (string, time.Duration, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.c == nil {
		if err := p.connect(ctx); err != nil {
			return "", 0, explain(p.Addr, err)
		}
	}
	reply, rtt, err := p.do(ctx, args)
	var re *ErrReply
	if err != nil && !errors.As(err, &re) {
		p.close()
		return "", rtt, explain(p.Addr, err)
	}
	return reply, rtt, err
}

func (p *Probe) connect(ctx context.Context) error {
	c, ts, err := p.dial(ctx)
	if err != nil {
		return err
	}
	p.c, p.ts, p.br = c, ts, bufio.NewReaderSize(c, probeBuffer)
	if p.auth != nil {
		if _, _, err := p.do(ctx, p.auth); err != nil {
			p.close()
			return err
		}
	}
	// The name is a courtesy in CLIENT LIST: a user without
	// +client|setname (or CLIENT renamed away) answers with an error
	// reply, and the guards go on unnamed.
	var re *ErrReply
	if _, _, err := p.do(ctx, []string{"CLIENT", "SETNAME", "keyjob-guard"}); err != nil && !errors.As(err, &re) {
		p.close()
		return err
	}
	return nil
}

func (p *Probe) do(ctx context.Context, args []string) (string, time.Duration, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(30 * time.Second)
	}
	p.c.SetDeadline(deadline)
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	p.ts.arm()
	start := time.Now()
	if _, err := io.WriteString(p.c, b.String()); err != nil {
		return "", 0, err
	}
	reply, err := readReply(p.br)
	end := time.Now()
	rtt := end.Sub(start)
	// The kernel's stamp of the reply's first packet, when it is one of
	// this request's (not earlier, not after the read: TLS may have read
	// a record of its own first).
	if at := p.ts.first(); !at.IsZero() && !at.Before(start) && !at.After(end) {
		rtt = at.Sub(start)
	}
	return reply, rtt, err
}

// readReply reads one RESP2 reply that is not an array.
func readReply(br *bufio.Reader) (string, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("empty reply")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", &ErrReply{Msg: line[1:]}
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return "", fmt.Errorf("bad bulk length %q", line)
		}
		if n < 0 {
			return "", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(br, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	}
	return "", fmt.Errorf("unexpected reply %q", firstLine(line))
}

// Close closes the connection; a later Do opens a new one.
func (p *Probe) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.close()
}

func (p *Probe) close() {
	if p.c != nil {
		p.c.Close()
		p.c, p.ts, p.br = nil, nil, nil
	}
}

// tsConn is a TCP connection whose reads take the kernel's receive
// timestamp of the data they return (SO_TIMESTAMPNS, Linux). Where the
// socket option or recvmsg is not available it reads as usual and first
// stays zero: the round trip is then the wall time.
type tsConn struct {
	net.Conn
	raw     syscall.RawConn
	stamped bool

	mu    sync.Mutex
	armed bool
	at    time.Time
}

// arm forgets the last stamp: the next read that returns data sets it.
func (t *tsConn) arm() {
	t.mu.Lock()
	t.armed, t.at = true, time.Time{}
	t.mu.Unlock()
}

// first is the stamp of the first read since arm, zero when none.
func (t *tsConn) first() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.at
}

func (t *tsConn) stamp(at time.Time) {
	t.mu.Lock()
	if t.armed {
		t.at, t.armed = at, false
	}
	t.mu.Unlock()
}
