package remote

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

// InsecureWarning is what a caller prints when it dials with
// Auth.Insecure.
const InsecureWarning = "warning: --ssh-insecure: host keys are not checked, so any machine that answers at a host's address is trusted with root commands; use it only for a throwaway lab"

const (
	dialTimeout      = 5 * time.Second  // for the TCP connection
	handshakeTimeout = 15 * time.Second // for the SSH handshake and login after it
	keepaliveEvery   = 5 * time.Second
	keepaliveMissed  = 3 // unanswered keepalives before the connection is closed
)

// Auth says how to log in and how to check the hosts' keys.
type Auth struct {
	// KeyFile is a private key file (OpenSSH, PEM or PKCS#8, without a
	// passphrase); "" logs in with the keys of the ssh-agent at
	// $SSH_AUTH_SOCK.
	KeyFile string
	// KnownHosts is the known_hosts file the host keys must be in; ""
	// is ~/.ssh/known_hosts.
	KnownHosts string
	// Insecure accepts any host key (the caller prints InsecureWarning).
	Insecure bool
}

// Client is an SSH connection to one host.
type Client struct {
	host Host
	ip   netip.Addr // host's address, resolved once when dialled
	conn *ssh.Client

	done      chan struct{} // closed by Close
	gone      chan struct{} // closed when the connection has ended
	closeOnce sync.Once

	mu   sync.Mutex
	lost error // why keepalive closed the connection
}

// Host is the host this client is connected to.
func (c *Client) Host() Host { return c.host }

// IP is the address the client dialled: the host's address, or what its
// name resolved to when it was dialled. Whatever else reaches the host
// (its node's address, its peers' links) uses this, not the name.
func (c *Client) IP() string { return c.ip.String() }

// Close closes the connection, ending every session on it.
func (c *Client) Close() error {
	var err error
	c.closeOnce.Do(func() {
		close(c.done)
		err = c.conn.Close()
		if errors.Is(err, net.ErrClosed) {
			err = nil // keepalive or the host closed it already
		}
	})
	return err
}

// Dial resolves h (see Resolve), connects to it and logs in. The TCP
// connection must be made within 5 s and the SSH handshake and login
// within 15 s more (both also end with ctx). The host key is checked
// under the name given, as OpenSSH does. The connection is then watched
// by keepalives (see keepalive).
func Dial(ctx context.Context, h Host, a Auth) (*Client, error) {
	ip, err := Resolve(ctx, h)
	if err != nil {
		return nil, err
	}
	return dial(ctx, h, ip, a, keepaliveEvery)
}

// DialAll resolves every host (see ResolveAll), then dials them all at
// once. If any fails, it closes those it opened and returns the error of
// the first failing host in list order.
func DialAll(ctx context.Context, hosts []Host, a Auth) ([]*Client, error) {
	ips, err := ResolveAll(ctx, hosts)
	if err != nil {
		return nil, err
	}
	clients := make([]*Client, len(hosts))
	errs := make([]error, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Go(func() { clients[i], errs[i] = dial(ctx, h, ips[i], a, keepaliveEvery) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			for _, c := range clients {
				if c != nil {
					c.Close()
				}
			}
			return nil, err
		}
	}
	return clients, nil
}

func dial(ctx context.Context, h Host, ip netip.Addr, a Auth, keepalive time.Duration) (*Client, error) {
	methods, who, release, err := a.login(h)
	if err != nil {
		return nil, err
	}
	defer release()
	cfg := &ssh.ClientConfig{User: h.User, Auth: methods}
	check := &hostKeyCheck{h: h}
	if a.Insecure {
		cfg.HostKeyCallback = ssh.InsecureIgnoreHostKey()
	} else {
		if err := check.load(a.KnownHosts); err != nil {
			return nil, err
		}
		cfg.HostKeyCallback = check.callback
		cfg.HostKeyAlgorithms = check.algorithms()
	}

	d := net.Dialer{Timeout: dialTimeout}
	conn, err := d.DialContext(ctx, "tcp", netip.AddrPortFrom(ip, uint16(h.Port)).String())
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("connecting to host %s was cancelled: %w", h, context.Cause(ctx))
		}
		return nil, fmt.Errorf("host %s is unreachable: %w", h, err)
	}
	deadline := time.Now().Add(handshakeTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	sconn, chans, reqs, err := ssh.NewClientConn(conn, h.hostport(), cfg)
	cancelled := !stop()
	if err != nil {
		conn.Close()
		return nil, handshakeError(ctx, h, who, check, err, cancelled)
	}
	if cancelled {
		sconn.Close()
		return nil, fmt.Errorf("connecting to host %s was cancelled: %w", h, context.Cause(ctx))
	}
	_ = conn.SetDeadline(time.Time{})
	c := &Client{
		host: h,
		ip:   ip,
		conn: ssh.NewClient(sconn, chans, reqs),
		done: make(chan struct{}),
		gone: make(chan struct{}),
	}
	go func() { _ = c.conn.Wait(); close(c.gone) }()
	go c.keepalive(keepalive)
	return c, nil
}

// keepalive guards against a host that stops answering (a paused VM, a
// partitioned network, a stuck kernel): TCP alone would leave a command's
// output read blocked for as long as the kernel retransmits, which can be
// many minutes, and hang the controller with it. Every interval (5 s) it
// sends a keepalive@openssh.com global request, one at a time (OpenSSH
// answers any global request, this one with a failure, and any answer
// proves the host alive). When 3 intervals pass with the request still
// unanswered, or sending it fails, it closes the connection, which ends
// every session on it with an error. It stops when the client is closed or
// the connection ends.
func (c *Client) keepalive(interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	answered := make(chan error, 1) // at most one request is in flight
	inflight, missed := false, 0
	for {
		select {
		case <-c.done:
			return
		case <-c.gone:
			return
		case err := <-answered:
			inflight, missed = false, 0
			if err != nil {
				c.lose(fmt.Errorf("its keepalive failed (%v)", err))
				return
			}
		case <-tick.C:
			if !inflight {
				inflight = true
				go func() {
					_, _, err := c.conn.SendRequest("keepalive@openssh.com", true, nil)
					answered <- err
				}()
				continue
			}
			if missed++; missed >= keepaliveMissed {
				c.lose(fmt.Errorf("it answered no keepalive for %v", time.Duration(keepaliveMissed)*interval))
				return
			}
		}
	}
}

func (c *Client) lose(why error) {
	c.mu.Lock()
	if c.lost == nil {
		c.lost = why
	}
	c.mu.Unlock()
	c.conn.Close()
}

// lostErr says why the connection is gone, if keepalive closed it.
func (c *Client) lostErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lost
}

// login returns the auth methods of a, a description of the key(s) for
// errors, and a release function for the agent connection.
func (a Auth) login(h Host) ([]ssh.AuthMethod, string, func(), error) {
	if a.KeyFile != "" {
		b, err := os.ReadFile(a.KeyFile)
		if err != nil {
			return nil, "", nil, fmt.Errorf("cannot log in to host %s: SSH key file %s cannot be read (%v): pass the path of an existing private key, or none to use ssh-agent", h, a.KeyFile, err)
		}
		signer, err := ssh.ParsePrivateKey(b)
		var pass *ssh.PassphraseMissingError
		if errors.As(err, &pass) {
			return nil, "", nil, fmt.Errorf("cannot log in to host %s: SSH key file %s is protected by a passphrase: load it into ssh-agent (ssh-add %s) and pass no key file", h, a.KeyFile, a.KeyFile)
		}
		if err != nil {
			return nil, "", nil, fmt.Errorf("cannot log in to host %s: SSH key file %s is not a private key (%v): pass an OpenSSH, PEM or PKCS#8 private key", h, a.KeyFile, err)
		}
		return []ssh.AuthMethod{ssh.PublicKeys(signer)}, "(" + a.KeyFile + ")", func() {}, nil
	}
	sock := os.Getenv("SSH_AUTH_SOCK")
	if sock == "" {
		return nil, "", nil, fmt.Errorf("cannot log in to host %s: no SSH key file was given and no ssh-agent runs (SSH_AUTH_SOCK is not set): pass a key file, or start ssh-agent and add a key with ssh-add", h)
	}
	conn, err := net.DialTimeout("unix", sock, dialTimeout)
	if err != nil {
		return nil, "", nil, fmt.Errorf("cannot log in to host %s: the ssh-agent at SSH_AUTH_SOCK=%s cannot be reached (%v): restart ssh-agent or pass a key file", h, sock, err)
	}
	signers, err := agent.NewClient(conn).Signers()
	if err != nil {
		conn.Close()
		return nil, "", nil, fmt.Errorf("cannot log in to host %s: the ssh-agent at SSH_AUTH_SOCK=%s did not list its keys (%v): restart ssh-agent or pass a key file", h, sock, err)
	}
	if len(signers) == 0 {
		conn.Close()
		return nil, "", nil, fmt.Errorf("cannot log in to host %s: the ssh-agent at SSH_AUTH_SOCK=%s holds no keys: add one with ssh-add or pass a key file", h, sock)
	}
	return []ssh.AuthMethod{ssh.PublicKeys(signers...)}, "(the keys of the ssh-agent at " + sock + ")", func() { conn.Close() }, nil
}

// hostKeyCheck checks host keys against a known_hosts file and remembers
// why it refused one, for the error.
type hostKeyCheck struct {
	h    Host
	path string
	db   ssh.HostKeyCallback

	mu      sync.Mutex
	refused error
}

func (k *hostKeyCheck) load(path string) error {
	if path == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return fmt.Errorf("cannot check the key of host %s: no known_hosts file was given and the home directory is unknown (%v): pass a known_hosts file", k.h, err)
		}
		path = filepath.Join(home, ".ssh", "known_hosts")
	}
	k.path = path
	db, err := knownhosts.New(path)
	if err != nil {
		if _, statErr := os.Stat(path); statErr != nil {
			return fmt.Errorf("cannot check the key of host %s: known_hosts file %s cannot be read (%v): create it (%s) or pass --ssh-insecure for a throwaway lab", k.h, path, statErr, k.keyscan())
		}
		return fmt.Errorf("cannot check the key of host %s: known_hosts file %s cannot be used (%v): fix or remove that line", k.h, path, err)
	}
	k.db = db
	return nil
}

func (k *hostKeyCheck) keyscan() string {
	return fmt.Sprintf("ssh-keyscan -p %d %s >> %s", k.h.Port, k.h.Addr, k.path)
}

func (k *hostKeyCheck) callback(hostname string, remote net.Addr, key ssh.PublicKey) error {
	err := k.db(hostname, remote, key)
	if err != nil {
		k.mu.Lock()
		k.refused = err
		k.mu.Unlock()
	}
	return err
}

// known lists the keys known_hosts holds for the host, found by asking
// about a key it cannot hold.
func (k *hostKeyCheck) known() []knownhosts.KnownKey {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil
	}
	probe, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil
	}
	var ke *knownhosts.KeyError
	if errors.As(k.db(k.h.hostport(), &net.TCPAddr{IP: net.IPv4zero, Port: k.h.Port}, probe), &ke) {
		return ke.Want
	}
	return nil
}

// algorithms returns the host key algorithms to ask the host for: those
// of the keys known_hosts holds for it. Without this the handshake may
// settle on a key type the file does not list for the host (say ECDSA,
// when only its ed25519 key was recorded) and fail as a mismatch. nil (the
// default list) when the host is not in the file.
func (k *hostKeyCheck) algorithms() []string {
	var algos []string
	seen := map[string]bool{}
	add := func(a ...string) {
		for _, x := range a {
			if !seen[x] {
				seen[x] = true
				algos = append(algos, x)
			}
		}
	}
	for _, kk := range k.known() {
		switch t := kk.Key.Type(); t {
		case ssh.KeyAlgoRSA:
			add(ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA)
		default:
			add(t)
		}
	}
	return algos
}

func (k *hostKeyCheck) refusal() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.refused
}

// handshakeError turns a failed handshake into one sentence.
func handshakeError(ctx context.Context, h Host, who string, k *hostKeyCheck, err error, cancelled bool) error {
	var ke *knownhosts.KeyError
	var re *knownhosts.RevokedError
	refused := k.refusal()
	switch {
	case errors.As(refused, &ke) && len(ke.Want) == 0:
		return fmt.Errorf("host %s has a host key that is not in %s: add it (%s) or pass --ssh-insecure for a throwaway lab", h, k.path, k.keyscan())
	case errors.As(refused, &ke):
		return fmt.Errorf("host %s has a host key that changed: it differs from the one at %s line %d (the host was reinstalled, or another machine answers at its address): if you trust the new key, remove the old one (ssh-keygen -R '%s' -f %s) and add the new (%s)",
			h, ke.Want[0].Filename, ke.Want[0].Line, knownhosts.Normalize(h.hostport()), k.path, k.keyscan())
	case errors.As(refused, &re):
		return fmt.Errorf("host %s has a host key that %s line %d marks as revoked: give the host a new key, or talk to whoever revoked it", h, re.Revoked.Filename, re.Revoked.Line)
	case cancelled:
		return fmt.Errorf("connecting to host %s was cancelled: %w", h, context.Cause(ctx))
	case strings.Contains(err.Error(), "unable to authenticate"):
		return fmt.Errorf("host %s refused the SSH key for user %s %s: add its public key to that user's authorized_keys", h, h.User, who)
	case strings.Contains(err.Error(), "no common algorithm for host key"):
		return fmt.Errorf("host %s offers none of the host key types %s lists for it (%v): it was reinstalled or is not the host you mean; check it, then replace its lines (ssh-keygen -R '%s' -f %s; %s)",
			h, k.path, err, knownhosts.Normalize(h.hostport()), k.path, k.keyscan())
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("host %s accepted a TCP connection on port %d but did not complete the SSH handshake within %v: check that sshd listens there and is not overloaded", h, h.Port, handshakeTimeout)
	}
	return fmt.Errorf("host %s did not complete the SSH handshake (%v): check that an SSH server listens on port %d", h, err, h.Port)
}
