//go:build !linux

package redisx

import "net"

// newTSConn: no kernel stamps here; round trips are wall time.
func newTSConn(c net.Conn) *tsConn { return &tsConn{Conn: c} }
