package planner_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/keyjob/keyjob/internal/commands"
	"github.com/keyjob/keyjob/internal/redistest"
	"github.com/keyjob/keyjob/planner"
)

// A fields job is refused before any key is read on a server without
// hash-field expiry (Redis 7.0, Valkey 8.1), naming the versions that
// have it.
func TestPlanner_FieldsRefused(t *testing.T) {
	for _, m := range redistest.NoFieldServers(t) {
		t.Run(m.Name, func(t *testing.T) {
			t.Parallel()
			srv, _ := startServer(t, redistest.Options{Image: m.Image})
			job := loadExample(t, "device-fields-ttl.yaml")
			_, err := planner.Build(testContext(t), dial(t, srv.URL, nil), job, planner.Options{})
			var fe *commands.FieldExpiryError
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), "Redis 7.4 or later, or Valkey 9.0 or later") {
				t.Fatalf("plan of a fields job: %v, want the refusal naming the versions", err)
			}
			t.Log(err)
		})
	}
}
