package redisx

import "testing"

// The slots Redis gives (CLUSTER KEYSLOT on Redis 7.0), hash tags included.
func TestKeySlot(t *testing.T) {
	for key, want := range map[string]uint16{
		"":                     0,
		"123456789":            12739, // the CRC16 XMODEM check value 0x31C3
		"foo":                  12182,
		"bar":                  5061,
		"{user1000}.following": 3443,
		"{user1000}.followers": 3443,
		"user1000":             3443,
		"foo{}{bar}":           8363,
		"foo{{bar}}zap":        4015,
		"foo{bar}{zap}":        5061,
	} {
		if got := KeySlot(key); got != want {
			t.Errorf("KeySlot(%q) = %d, want %d", key, got, want)
		}
	}
}
