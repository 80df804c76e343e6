package redistest

import (
	"context"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/rueidis"
)

// Images of the servers with and without hash-field expiry, for the tests
// of fields jobs when $KEYJOB_MATRIX does not list them (the default
// image, Redis 7.0, has none). scripts/server-image.sh builds them; make
// test names the ones it built in $KEYJOB_FIELD_IMAGES.
var (
	fieldImages   = []string{"localhost/keyjob-redis:8.0", "localhost/keyjob-valkey:9.1"}
	noFieldImages = []string{"localhost/keyjob-redis:7.0", "localhost/keyjob-valkey:8.1"}
)

// FieldServers lists the servers a fields job runs on (hash-field expiry:
// Redis 7.4+, Valkey 9+): those of $KEYJOB_MATRIX that have it, else
// Redis 8.0 and Valkey 9.1.
func FieldServers(t testing.TB) []MatrixServer {
	def := fieldImages
	if env := strings.Fields(os.Getenv("KEYJOB_FIELD_IMAGES")); len(env) > 0 {
		def = env
	}
	return fieldMatrix(t, true, def)
}

// NoFieldServers lists the servers that refuse a fields job: those of
// $KEYJOB_MATRIX without hash-field expiry, else Redis 7.0 and Valkey 8.1.
func NoFieldServers(t testing.TB) []MatrixServer { return fieldMatrix(t, false, noFieldImages) }

func fieldMatrix(t testing.TB, want bool, def []string) []MatrixServer {
	t.Helper()
	Image(t) // Docker's check and testcontainers' settings
	imgs := def
	if env := strings.Fields(os.Getenv("KEYJOB_MATRIX")); len(env) > 0 {
		imgs = nil
		for _, img := range env {
			if HasFieldExpiry(img) == want {
				imgs = append(imgs, img)
			}
		}
	}
	out := make([]MatrixServer, 0, len(imgs))
	for _, img := range imgs {
		out = append(out, MatrixServer{Name: serverName(img), Image: img})
	}
	return out
}

// HasFieldExpiry says from an image's tag whether its server has
// hash-field expiry: Redis 7.4+, Valkey 9+. An image tagged "local" is
// the machine's own Redis 7.0.
func HasFieldExpiry(img string) bool {
	_, tag, _ := strings.Cut(img[strings.LastIndex(img, "/")+1:], ":")
	parts := strings.SplitN(tag, ".", 3)
	major, _ := strconv.Atoi(parts[0])
	minor := 0
	if len(parts) > 1 {
		minor, _ = strconv.Atoi(parts[1])
	}
	if strings.Contains(img, "valkey") {
		return major >= 9
	}
	return major > 7 || major == 7 && minor >= 4
}

// Field is one field of a hash as a test compares it: its value and its
// own absolute expiry in ms (-1 without one).
type Field struct {
	Value    string
	ExpireMs int64
}

// HashFields reads every field of a hash with its value and expiry
// (HGETALL, then one HPEXPIRETIME for all of them), for tests that compare
// a hash before and after: a hash's DUMP after an undo need not be
// byte-identical (the listpack's order and encoding change), its fields,
// values and expiries are.
func HashFields(t testing.TB, c rueidis.Client, key string) map[string]Field {
	t.Helper()
	ctx := context.Background()
	all, err := c.Do(ctx, c.B().Hgetall().Key(key).Build()).AsStrMap()
	if err != nil {
		t.Fatalf("redistest: HGETALL %s: %v", key, err)
	}
	out := make(map[string]Field, len(all))
	if len(all) == 0 {
		return out
	}
	names := make([]string, 0, len(all))
	for f := range all {
		names = append(names, f)
	}
	sort.Strings(names)
	args := append([]string{"FIELDS", strconv.Itoa(len(names))}, names...)
	exp, err := c.Do(ctx, c.B().Arbitrary("HPEXPIRETIME").Keys(key).Args(args...).Build()).AsIntSlice()
	if err != nil {
		t.Fatalf("redistest: HPEXPIRETIME %s: %v", key, err)
	}
	for i, f := range names {
		out[f] = Field{Value: all[f], ExpireMs: exp[i]}
	}
	return out
}
