package redistest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	"github.com/testcontainers/testcontainers-go/wait"
)

// TLSFiles are the PEM files a client of a StartTLS server needs, on the
// host: the CA that signed the server's certificate, and a client
// certificate and key signed by the same CA (for --tls-auth-clients yes).
type TLSFiles struct {
	CA         string
	ClientCert string
	ClientKey  string
}

// Where StartTLS puts the server's files in the container: outside /data,
// which Options.Tmpfs would hide.
const (
	tlsDir        = "/tls"
	tlsCAFile     = tlsDir + "/ca.crt"
	tlsServerCert = tlsDir + "/server.crt"
	tlsServerKey  = tlsDir + "/server.key"
)

// StartTLS runs a fresh server that speaks TLS only, on the port Addr
// names (URL is rediss://127.0.0.1:PORT), and terminates it when the test
// ends. It makes a CA, a server certificate for 127.0.0.1, ::1 and
// localhost, and a client certificate, all ECDSA P-256 and valid for a day,
// and hands the client's files back.
//
// Clients may present a certificate (--tls-auth-clients optional); pass
// Options.Args {"--tls-auth-clients", "yes"} to require one: opts.Args come
// after StartTLS's own arguments, so they win.
//
// Server.Client speaks plain TCP: use TLSClient. Restart is not supported:
// its readiness check is a plain PING.
func StartTLS(t testing.TB, opts Options) (*Server, TLSFiles) {
	t.Helper()
	files, inContainer, err := makeTLSFiles(t.TempDir())
	if err != nil {
		t.Fatalf("redistest: TLS files: %v", err)
	}
	img := Image(t)
	ctx, cancel := context.WithTimeout(context.Background(), startupTimeout)
	defer cancel()

	withTLS := opts
	withTLS.Args = append([]string{
		"--port", "0", // no plain TCP at all: a client that forgets TLS must fail
		"--tls-port", "6379",
		"--tls-cert-file", tlsServerCert,
		"--tls-key-file", tlsServerKey,
		"--tls-ca-cert-file", tlsCAFile,
		"--tls-auth-clients", "optional",
	}, opts.Args...)

	custom := []testcontainers.ContainerCustomizer{
		testcontainers.WithLogger(tclog.TestLogger(t)),
		testcontainers.WithExposedPorts(redisPort),
		testcontainers.WithCmd(withTLS.args()...),
		testcontainers.WithFiles(inContainer...),
		testcontainers.WithWaitStrategy(
			wait.ForLog("Ready to accept connections").WithStartupTimeout(startupTimeout),
		),
	}
	if labels := runLabels(); labels != nil {
		custom = append(custom, testcontainers.WithLabels(labels))
	}
	if opts.Tmpfs != "" {
		custom = append(custom, testcontainers.WithTmpfs(map[string]string{"/data": "rw,size=" + opts.Tmpfs}))
	}
	ctr, err := testcontainers.Run(ctx, img, custom...)
	testcontainers.CleanupContainer(t, ctr)
	if err != nil {
		t.Fatalf("redistest: start %s with TLS: %v%s", img, err, imageHint(img))
	}
	s := &Server{Container: ctr, Options: opts}
	cfg, err := files.Config()
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	if err := s.readyTLS(ctx, cfg); err != nil {
		t.Fatalf("redistest: %v", err)
	}
	return s, files
}

// Config is a client TLS configuration that trusts the CA and presents the
// client certificate.
func (f TLSFiles) Config() (*tls.Config, error) {
	ca, err := os.ReadFile(f.CA)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("%s: no PEM certificate in it", f.CA)
	}
	cert, err := tls.LoadX509KeyPair(f.ClientCert, f.ClientKey)
	if err != nil {
		return nil, err
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// TLSClient returns a TLS client for a StartTLS server, with the client
// certificate, closed when the test ends.
func (s *Server) TLSClient(t testing.TB, f TLSFiles) rueidis.Client {
	t.Helper()
	cfg, err := f.Config()
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	c, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress:  []string{s.Addr},
		TLSConfig:    cfg,
		DisableCache: true,
	})
	if err != nil {
		t.Fatalf("redistest: connect %s over TLS: %v", s.Addr, err)
	}
	t.Cleanup(c.Close)
	return c
}

// readyTLS is ready for a server that speaks only TLS.
func (s *Server) readyTLS(ctx context.Context, cfg *tls.Config) error {
	host, err := s.Container.Host(ctx)
	if err != nil {
		return fmt.Errorf("container host: %w", err)
	}
	if host == "localhost" {
		host = "127.0.0.1" // the certificate names both; Docker publishes on IPv4
	}
	port, err := s.Container.MappedPort(ctx, redisPort)
	if err != nil {
		return fmt.Errorf("mapped port: %w", err)
	}
	s.Addr = net.JoinHostPort(host, port.Port())
	s.URL = "rediss://" + s.Addr

	var last error
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if last = pingTLS(ctx, s.Addr, cfg); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("redis at %s not ready over TLS: %w", s.Addr, errors.Join(ctx.Err(), last))
		case <-tick.C:
		}
	}
}

// pingTLS sends one inline PING over TLS. +PONG is ready, and so is
// -NOAUTH (the server answers; it wants a password: --requirepass in Args).
func pingTLS(ctx context.Context, addr string, cfg *tls.Config) error {
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: time.Second}, Config: cfg}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	reply, err := pingReply(conn)
	if err != nil {
		return err
	}
	if reply == "+PONG" || strings.HasPrefix(reply, "-NOAUTH") {
		return nil
	}
	return fmt.Errorf("PING: %s", reply)
}

// makeTLSFiles writes the CA, the server's and the client's certificates
// and keys into dir, and returns the client's files and the server's, to
// copy into the container.
func makeTLSFiles(dir string) (TLSFiles, []testcontainers.ContainerFile, error) {
	now := time.Now()
	ca := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "keyjob test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	// Children are signed by the parsed CA, so they carry its subject key
	// id as their authority key id.
	caCert, caPEM, _, caKey, err := issue(ca, nil, nil)
	if err != nil {
		return TLSFiles{}, nil, err
	}
	server := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		// Redis presents the same certificate when it is the client of
		// another node (replication, cluster bus).
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	_, serverPEM, serverKeyPEM, _, err := issue(server, caCert, caKey)
	if err != nil {
		return TLSFiles{}, nil, err
	}
	client := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "keyjob test client"},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	_, clientPEM, clientKeyPEM, _, err := issue(client, caCert, caKey)
	if err != nil {
		return TLSFiles{}, nil, err
	}

	files := TLSFiles{
		CA:         filepath.Join(dir, "ca.crt"),
		ClientCert: filepath.Join(dir, "client.crt"),
		ClientKey:  filepath.Join(dir, "client.key"),
	}
	for path, b := range map[string][]byte{
		files.CA: caPEM, files.ClientCert: clientPEM, files.ClientKey: clientKeyPEM,
		filepath.Join(dir, "server.crt"): serverPEM, filepath.Join(dir, "server.key"): serverKeyPEM,
	} {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return TLSFiles{}, nil, err
		}
	}
	// 0644, the key too: the official image runs redis-server as the user
	// redis, not as the owner of the copied files (root). A test key.
	inContainer := []testcontainers.ContainerFile{
		{Reader: bytes.NewReader(caPEM), ContainerFilePath: tlsCAFile, FileMode: 0o644},
		{Reader: bytes.NewReader(serverPEM), ContainerFilePath: tlsServerCert, FileMode: 0o644},
		{Reader: bytes.NewReader(serverKeyPEM), ContainerFilePath: tlsServerKey, FileMode: 0o644},
	}
	return files, inContainer, nil
}

// issue makes a key and a certificate from tmpl, signed by parent's key
// (self-signed when parent is nil), and returns the certificate parsed
// and PEM encoded, and the key PEM encoded.
func issue(tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (cert *x509.Certificate, certPEM, keyPEM []byte, key *ecdsa.PrivateKey, err error) {
	key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if tmpl.SerialNumber, err = rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62)); err != nil {
		return nil, nil, nil, nil, err
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("certificate %s: %w", tmpl.Subject.CommonName, err)
	}
	if cert, err = x509.ParseCertificate(der); err != nil {
		return nil, nil, nil, nil, err
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})
	return cert, certPEM, keyPEM, key, nil
}
