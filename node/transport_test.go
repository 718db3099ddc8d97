package node

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jetsam-dev/jetsam/internal/testlock"
)

// The route settings reach the servers, as they report them: one route
// per pair without pooling, and the compression asked for, all through
// the link proxies.
func TestRouteSettings(t *testing.T) {
	testlock.Cluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := Start(ctx, Options{Nodes: 3, Dir: t.TempDir(), Command: []string{os.Args[0], "node"},
		RouteCompression: "s2_fast", RoutePoolSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop(10 * time.Second)
	for _, n := range c.Nodes() {
		routes, err := n.Routes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		perPeer := map[string]int{}
		for _, r := range routes {
			perPeer[r.RemoteName]++
			if r.Compression != "s2_fast" {
				t.Errorf("%s's route to %s compresses with %q, want s2_fast", n.Name(), r.RemoteName, r.Compression)
			}
		}
		if len(perPeer) != 2 {
			t.Fatalf("%s has routes to %v", n.Name(), perPeer)
		}
		for peer, k := range perPeer {
			if k != 1 {
				t.Errorf("%s has %d routes to %s with pool size -1, want 1", n.Name(), k, peer)
			}
		}
	}
}

// Mutual TLS on every route, through the proxies: the cluster forms, the
// servers say routes need verified TLS, a handshake through a link's proxy
// meets the peer's own certificate, and a certificate from another CA is
// refused.
func TestRouteTLS(t *testing.T) {
	testlock.Cluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := Start(ctx, Options{Nodes: 3, Dir: t.TempDir(), Command: []string{os.Args[0], "node"}, RouteTLS: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop(10 * time.Second)
	for _, n := range c.Nodes() {
		v, err := n.Varz(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !v.Cluster.TLSRequired || !v.Cluster.TLSVerify {
			t.Errorf("%s: cluster tls_required %v, tls_verify %v; want both", n.Name(), v.Cluster.TLSRequired, v.Cluster.TLSVerify)
		}
	}
	n1 := c.Node("n1").Spec.TLS
	link := c.Net().Link("n1", "n2")
	dial := func(certFile, keyFile, caFile string) (*tls.Conn, error) {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		ca, _ := os.ReadFile(caFile)
		pool.AppendCertsFromPEM(ca)
		d := &net.Dialer{Timeout: 5 * time.Second}
		conn, err := tls.DialWithDialer(d, "tcp", link.Addr(), &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ServerName: "127.0.0.1"})
		if err != nil {
			return nil, err
		}
		// Under TLS 1.3 a refused client certificate shows on the first read.
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = conn.Read(make([]byte, 1))
		return conn, err
	}
	conn, err := dial(n1.Cert, n1.Key, n1.CA)
	if err != nil {
		t.Fatalf("TLS through the n1->n2 proxy with n1's certificate: %v", err)
	}
	if peer := conn.ConnectionState().PeerCertificates; len(peer) == 0 || peer[0].Subject.CommonName != "n2" {
		t.Errorf("the proxy's far end presented %v, want n2's certificate", peer)
	}
	conn.Close()

	// A node certificate of another run's CA.
	ca, err := newRouteCA()
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := ca.issue(t.TempDir(), "stranger")
	if err != nil {
		t.Fatal(err)
	}
	conn, err = dial(stranger.Cert, stranger.Key, n1.CA)
	if err == nil {
		conn.Close()
		t.Fatal("a certificate of a foreign CA was accepted on a route")
	}
	if !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("refused for another reason than the certificate: %v", err)
	}
}
