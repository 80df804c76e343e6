package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/keyjob/keyjob/internal/fsync"
)

// Load reads the checkpoint at path. When there is none, the error wraps
// ErrNotExist (fs.ErrNotExist). A file that is empty, truncated, not JSON,
// of another format_version, with unknown or missing fields, is a
// *CorruptError. Other I/O errors (permission denied, say) are returned
// wrapped as they are: the checkpoint may be fine, and calling it corrupt
// would invite --restart.
func Load(path string) (*Checkpoint, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	cp, err := decode(data)
	if err != nil {
		return nil, &CorruptError{Path: path, Reason: err.Error(), Err: err}
	}
	cp.path = path
	return cp, nil
}

// Save writes cp to path atomically: a temp file in the same directory,
// fsync, rename over path, fsync of the directory. A crash at any point
// leaves the previous checkpoint or the new one, whole. The file has mode
// 0600; missing directories are created with mode 0700.
//
// Save refuses a checkpoint that Validate rejects, so a bad one is found
// when written rather than at resume. It stamps cp.UpdatedAt, and
// cp.CreatedAt when zero. Callers serialise Saves of one checkpoint.
func Save(path string, cp *Checkpoint) error {
	if err := cp.Validate(); err != nil {
		return fmt.Errorf("save checkpoint %s: %w", path, err)
	}
	now := time.Now().UTC()
	if cp.CreatedAt.IsZero() {
		cp.CreatedAt = now
	}
	cp.UpdatedAt = now
	data, err := json.MarshalIndent(cp, "", "  ")
	if err != nil {
		return fmt.Errorf("save checkpoint %s: %w", path, err)
	}
	data = append(data, '\n')

	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	tmp, err := writeTemp(path, data)
	if err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("save checkpoint: %w", err)
	}
	if err := fsync.Dir(dir); err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	cp.path = path
	return nil
}

// writeTemp writes data, durably, to the temp file beside path and returns
// its name. Until the rename that follows, path is untouched: a crash here
// leaves the old checkpoint as it was. The name is fixed, so a temp file
// left by a crash is replaced by the next Save rather than piling up.
func writeTemp(path string, data []byte) (string, error) {
	tmp := path + ".tmp"
	// Removed first so O_EXCL creates a fresh file whose mode is ours.
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(tmp)
		return "", err
	}
	return tmp, nil
}

// Discard sets the checkpoint at path aside, renaming it to
// checkpoint.json.discarded-<UTC time> (an operator may still want it), and
// returns the new name. It never replaces an earlier discarded file. With no
// checkpoint the error wraps ErrNotExist.
func Discard(path string) (string, error) {
	if _, err := os.Lstat(path); err != nil {
		return "", fmt.Errorf("discard checkpoint: %w", err)
	}
	base := path + ".discarded-" + time.Now().UTC().Format("2006-01-02T15-04-05Z")
	dst := base
	for i := 2; ; i++ {
		_, err := os.Lstat(dst)
		if errors.Is(err, fs.ErrNotExist) {
			break
		}
		if err != nil {
			return "", fmt.Errorf("discard checkpoint: %w", err)
		}
		dst = base + "-" + strconv.Itoa(i)
	}
	if err := os.Rename(path, dst); err != nil {
		return "", fmt.Errorf("discard checkpoint: %w", err)
	}
	if err := fsync.Dir(filepath.Dir(path)); err != nil {
		return "", fmt.Errorf("discard checkpoint: %w", err)
	}
	return dst, nil
}
