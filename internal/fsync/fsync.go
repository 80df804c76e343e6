// Package fsync makes changes to a directory durable, for the files keyjob
// writes atomically or must not lose (checkpoints, journals).
//
// It is pure file I/O on the standard library: it must not depend on
// Redis, the network, or any other keyjob package, so the packages that
// use it stay pure file I/O too.
package fsync

import (
	"fmt"
	"os"
	"runtime"
)

// Dir makes a rename or a new file in dir durable: without it, a crash
// can lose the directory entry even though the file's data was synced.
func Dir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // Windows cannot fsync a directory
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
