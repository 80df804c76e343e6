package guard

import "testing"

func TestLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:6379": true, "127.1.2.3:6379": true, "[::1]:6379": true, "localhost:6379": true,
		"10.0.0.1:6379": false, "192.168.1.10:6379": false, "[2001:db8::1]:6379": false,
		"redis.example.com:6379": false, "localhost.example.com:6379": false,
		"127.0.0.1": false, "": false, // no port: not an address
	} {
		if got := loopback(addr); got != want {
			t.Errorf("loopback(%q) = %v, want %v", addr, got, want)
		}
	}
}
