package redisx_test

import (
	"context"
	"strings"
	"testing"

	"github.com/keyjob/keyjob/internal/redistest"
	"github.com/keyjob/keyjob/internal/redisx"
)

// planRules are the README's least-privilege rules of keyjob-plan.
const planRules = "+scan +pttl +pexpiretime +object|idletime +object|freq +memory|usage +type +info +time +config|get +ping +client|setname +hello +select +cluster|myid +cluster|slots"

func dial(t *testing.T, url string) *redisx.Conn {
	t.Helper()
	conn, err := redisx.Dial(context.Background(), redisx.Options{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	return conn
}

// addUser makes an ACL user with rules on srv and returns its URL.
func addUser(t *testing.T, srv *redistest.Server, name, rules string) string {
	t.Helper()
	c := srv.Client(t)
	args := append([]string{"ACL", "SETUSER", name, "on", ">pw", "resetkeys", "~*", "resetchannels", "-@all"}, strings.Fields(rules)...)
	if err := c.Do(context.Background(), c.B().Arbitrary(args...).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	return strings.Replace(srv.URL, "redis://", "redis://"+name+":pw@", 1)
}

// Every server of the matrix answers who it is, and the capabilities
// follow from what it answers: CLIENT NO-TOUCH on Redis 7.2+ and every
// Valkey, HPEXPIREAT on Redis 7.4+ and Valkey 9+.
func TestMatrix_Caps(t *testing.T) {
	for _, m := range redistest.Matrix(t) {
		t.Run(m.Name, func(t *testing.T) {
			t.Parallel()
			srv := redistest.Start(t, redistest.Options{Image: m.Image})
			caps := dial(t, srv.URL).Caps
			valkey := strings.Contains(m.Image, "valkey")
			if wantServer := map[bool]string{true: "valkey", false: "redis"}[valkey]; caps.Server != wantServer {
				t.Errorf("server %q, want %s (image %s)", caps.Server, wantServer, m.Image)
			}
			if _, tag, ok := strings.Cut(m.Image, ":"); ok && tag != "local" && !strings.HasPrefix(caps.Version, tag) {
				t.Errorf("version %s, image tag %s", caps.Version, tag)
			}
			if caps.Proto != 3 || caps.Method != "ACL DRYRUN" || caps.User != "default" {
				t.Errorf("proto %d, checked by %q as %q; want RESP3, ACL DRYRUN, default", caps.Proto, caps.Method, caps.User)
			}
			wantNoTouch := valkey || caps.AtLeast(7, 2)
			wantHFE := valkey && caps.AtLeast(9, 0) || !valkey && caps.AtLeast(7, 4)
			if caps.NoTouch() != wantNoTouch || caps.HashFieldExpiry() != wantHFE {
				t.Errorf("%s: no-touch %v, hash-field expiry %v; want %v, %v", caps.Name(), caps.NoTouch(), caps.HashFieldExpiry(), wantNoTouch, wantHFE)
			}
			for _, cmd := range redisx.Reads {
				if cmd == redisx.CmdNoTouch || cmd == redisx.CmdHPExpireAt {
					continue
				}
				if !caps.Has(cmd) {
					t.Errorf("%s: %+v", cmd, caps.Check(cmd))
				}
			}
		})
	}
}

// The managed-service profile: renamed commands are missing, the rest is
// granted; a least-privilege user is checked by probes, and a command
// its rules lack is denied.
func TestManaged_Caps(t *testing.T) {
	for _, m := range redistest.Matrix(t) {
		t.Run(m.Name, func(t *testing.T) {
			t.Parallel()
			srv := redistest.Start(t, redistest.Options{Image: m.Image, Args: redistest.RenameAway(redistest.Managed...)})
			conn := dial(t, srv.URL)
			for _, cmd := range []string{redisx.CmdMemoryUsage, redisx.CmdConfigGet} {
				if ch := conn.Caps.Check(cmd); ch.Status != "missing" {
					t.Errorf("%s renamed away: %+v", cmd, ch)
				}
			}
			if !conn.Caps.Has(redisx.CmdScan) || !conn.Caps.Has(redisx.CmdPExpireTime) {
				t.Errorf("scan, pexpiretime: %+v %+v", conn.Caps.Check(redisx.CmdScan), conn.Caps.Check(redisx.CmdPExpireTime))
			}
			caps, err := conn.Probe(context.Background(), true, redisx.CmdScriptLoad, redisx.CmdEvalSHA, redisx.CmdUnlink)
			if err != nil {
				t.Fatal(err)
			}
			if !caps.Lacks(redisx.CmdScriptLoad) || caps.Lacks(redisx.CmdEvalSHA) || caps.Lacks(redisx.CmdUnlink) {
				t.Errorf("script|load %+v, evalsha %+v, unlink %+v; want only SCRIPT missing", caps.Check(redisx.CmdScriptLoad), caps.Check(redisx.CmdEvalSHA), caps.Check(redisx.CmdUnlink))
			}

			lp := dial(t, addUser(t, srv, "plan", strings.Replace(planRules, " +memory|usage", "", 1)))
			if lp.Caps.Method != "probe" {
				t.Errorf("a least-privilege user checked by %q, want probe", lp.Caps.Method)
			}
			if ch := lp.Caps.Check(redisx.CmdMemoryUsage); ch.Status != "missing" && ch.Status != "denied" {
				t.Errorf("memory|usage without the rule: %+v", ch)
			}
			for _, cmd := range []string{redisx.CmdScan, redisx.CmdTime, redisx.CmdInfo, redisx.CmdPExpireTime, redisx.CmdIdleTime} {
				if !lp.Caps.Has(cmd) {
					t.Errorf("%s granted by the rules: %+v", cmd, lp.Caps.Check(cmd))
				}
			}
		})
	}
}

// The reads a survey sends inside keys, asked at its start: every server
// of the matrix has them but HPEXPIRETIME, which only servers with
// hash-field expiry know; a renamed one is missing.
func TestMatrix_InsideCaps(t *testing.T) {
	redistest.OnMatrix(t, func(t *testing.T, image string) {
		srv := redistest.Start(t, redistest.Options{Image: image, Args: redistest.RenameAway("XLEN")})
		conn := dial(t, srv.URL)
		caps, err := conn.Probe(context.Background(), false, redisx.InsideReads...)
		if err != nil {
			t.Fatal(err)
		}
		for _, cmd := range []string{redisx.CmdHRandField, redisx.CmdZCard, redisx.CmdZRange, redisx.CmdXRange} {
			if !caps.Has(cmd) {
				t.Errorf("%s: %+v", cmd, caps.Check(cmd))
			}
		}
		if ch := caps.Check(redisx.CmdXLen); ch.Status != "missing" {
			t.Errorf("xlen renamed away: %+v", ch)
		}
		if got, want := caps.Has(redisx.CmdHPExpireTime), conn.Caps.HashFieldExpiry(); got != want {
			t.Errorf("hpexpiretime %+v on %s, hash-field expiry %v", caps.Check(redisx.CmdHPExpireTime), caps.Name(), want)
		}
		if !conn.Caps.HashFieldExpiry() && !caps.Lacks(redisx.CmdHPExpireTime) {
			t.Errorf("hpexpiretime on %s without hash-field expiry: %+v, want missing", caps.Name(), caps.Check(redisx.CmdHPExpireTime))
		}
	})
}
