package redistest

import (
	"os"
	"strings"
	"testing"
)

// MatrixServer is one server of the test matrix.
type MatrixServer struct {
	Name  string // "redis-8.0", "valkey-9.1": the image's repository and tag, for test names
	Image string
}

// Matrix lists the servers the conformance tests run on: the images in
// $KEYJOB_MATRIX (space-separated; make test-matrix builds them with
// scripts/server-image.sh and sets it), else the one server Start uses, so
// that make test runs the same tests on one server. It fails t when Docker
// is unreachable; an image that cannot start fails the test that starts it.
func Matrix(t testing.TB) []MatrixServer {
	t.Helper()
	imgs := strings.Fields(os.Getenv("KEYJOB_MATRIX"))
	if len(imgs) == 0 {
		imgs = []string{Image(t)}
	} else {
		Image(t) // Docker's check and testcontainers' settings
	}
	out := make([]MatrixServer, 0, len(imgs))
	for _, img := range imgs {
		out = append(out, MatrixServer{Name: serverName(img), Image: img})
	}
	return out
}

// OnMatrix runs test on every server of Matrix, each in a parallel
// subtest named after the server.
func OnMatrix(t *testing.T, test func(t *testing.T, image string)) {
	t.Helper()
	for _, m := range Matrix(t) {
		t.Run(m.Name, func(t *testing.T) {
			t.Parallel()
			test(t, m.Image)
		})
	}
}

// serverName turns localhost/keyjob-valkey:9.1 into valkey-9.1.
func serverName(img string) string {
	name := img[strings.LastIndex(img, "/")+1:]
	name = strings.TrimPrefix(name, "keyjob-")
	return strings.ReplaceAll(name, ":", "-")
}

// Managed is the managed-service profile: the commands a managed service
// (or a careful team) renames away, passed as Options.Args.
var Managed = []string{"CONFIG", "DEBUG", "BGSAVE", "BGREWRITEAOF", "SAVE", "SCRIPT", "MEMORY"}

// RenameAway returns redis-server arguments that rename each command to ""
// (the server then answers "unknown command").
func RenameAway(cmds ...string) []string {
	var args []string
	for _, c := range cmds {
		args = append(args, "--rename-command", c, "")
	}
	return args
}
