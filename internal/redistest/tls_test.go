package redistest

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

// A StartTLS server speaks TLS only, with a certificate for 127.0.0.1 and
// localhost signed by the CA it hands back; a client certificate is
// optional by default and required with --tls-auth-clients yes.
func TestStartTLS(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("Optional", func(t *testing.T) {
		t.Parallel()
		srv, files := StartTLS(t, Options{})
		if !strings.HasPrefix(srv.URL, "rediss://127.0.0.1:") || srv.URL != "rediss://"+srv.Addr {
			t.Errorf("URL = %q, Addr = %q: want rediss://127.0.0.1:PORT", srv.URL, srv.Addr)
		}
		c := srv.TLSClient(t, files)
		mustDo(t, c, c.B().Set().Key("k").Value("v").Build())
		if got, err := c.Do(ctx, c.B().Get().Key("k").Build()).ToString(); err != nil || got != "v" {
			t.Fatalf("GET k over TLS = %q, %v", got, err)
		}
		if err := ping(ctx, srv.Addr); err == nil {
			t.Errorf("a plain-TCP PING got PONG: the server must speak TLS only")
		}

		cfg, err := files.Config()
		if err != nil {
			t.Fatal(err)
		}
		noCert := cfg.Clone()
		noCert.Certificates = nil
		if err := pingTLS(ctx, srv.Addr, noCert); err != nil {
			t.Errorf("without a client certificate (optional): %v", err)
		}
		byName := noCert.Clone()
		byName.ServerName = "localhost"
		if err := pingTLS(ctx, srv.Addr, byName); err != nil {
			t.Errorf("verified as localhost: %v", err)
		}
		untrusted := noCert.Clone()
		untrusted.RootCAs = x509.NewCertPool()
		var unknown x509.UnknownAuthorityError
		if err := pingTLS(ctx, srv.Addr, untrusted); !errors.As(err, &unknown) {
			t.Errorf("without the CA: %v, want an unknown authority", err)
		}
	})

	t.Run("Required", func(t *testing.T) {
		t.Parallel()
		srv, files := StartTLS(t, Options{Args: []string{"--tls-auth-clients", "yes"}})
		cfg, err := files.Config()
		if err != nil {
			t.Fatal(err)
		}
		if err := pingTLS(ctx, srv.Addr, cfg); err != nil {
			t.Errorf("with the client certificate: %v", err)
		}
		noCert := cfg.Clone()
		noCert.Certificates = nil
		if err := pingTLS(ctx, srv.Addr, noCert); err == nil {
			t.Errorf("without a client certificate: PONG, want a refusal")
		}
		c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr}, TLSConfig: noCert, DisableCache: true, Dialer: net.Dialer{Timeout: 5 * time.Second}})
		if err == nil {
			c.Close()
			t.Errorf("rueidis connected without a client certificate")
		}
	})
}

// pingTLS against a server that wants a password: it answers, so it is
// ready.
func TestStartTLS_RequirePass(t *testing.T) {
	t.Parallel()
	srv, files := StartTLS(t, Options{Args: []string{"--requirepass", "pw"}})
	cfg, err := files.Config()
	if err != nil {
		t.Fatal(err)
	}
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr}, TLSConfig: cfg, Password: "pw", DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Do(context.Background(), c.B().Ping().Build()).Error(); err != nil {
		t.Fatal(err)
	}
}
