package redisx

import (
	"io"
	"net"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// newTSConn asks the kernel to stamp every packet the socket receives.
func newTSConn(c net.Conn) *tsConn {
	t := &tsConn{Conn: c}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return t
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return t
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	}); err != nil || serr != nil {
		return t
	}
	t.raw, t.stamped = raw, true
	return t
}

// Read is recvmsg with the stamp of the data it returns. The deadline
// set on the connection still holds: raw.Read waits in the runtime's
// poller, which honours it.
func (t *tsConn) Read(b []byte) (int, error) {
	if !t.stamped {
		return t.Conn.Read(b)
	}
	var n, oobn int
	var rerr error
	oob := make([]byte, 64)
	err := t.raw.Read(func(fd uintptr) bool {
		n, oobn, _, _, rerr = unix.Recvmsg(int(fd), b, oob, 0)
		return rerr != unix.EAGAIN
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		if os.IsTimeout(err) {
			return 0, err
		}
		return max(n, 0), &net.OpError{Op: "read", Net: "tcp", Err: err}
	}
	if n == 0 && len(b) > 0 {
		return 0, io.EOF
	}
	if msgs, perr := unix.ParseSocketControlMessage(oob[:oobn]); perr == nil {
		for _, m := range msgs {
			if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SO_TIMESTAMPNS && len(m.Data) >= int(unsafe.Sizeof(unix.Timespec{})) {
				ts := *(*unix.Timespec)(unsafe.Pointer(&m.Data[0]))
				t.stamp(time.Unix(ts.Unix()))
			}
		}
	}
	return n, nil
}
