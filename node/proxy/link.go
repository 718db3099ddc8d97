// Package proxy puts a TCP proxy on every directed cluster route between two
// nats-server nodes, so that jetsam can cut and heal the network between them.
//
// A Link carries the connections node From opens to node To's cluster port.
// Blocking a Link freezes those connections in place instead of breaking
// them: bytes, new connections and closes are all held and pass on unchanged
// when the link is unblocked, as they would after a real partition heals.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// dialTimeout bounds the dial to a target that is down or not yet up.
	dialTimeout = 2 * time.Second
	// bufSize is how much one direction of a connection reads at a time,
	// and so the most it holds while blocked.
	bufSize = 32 << 10
)

// Stats counts a link's traffic since it was created.
type Stats struct {
	BytesForward  int64 // delivered to To, sent by From
	BytesBackward int64 // delivered to From, sent by To
	Accepted      int64 // connections accepted from From
	Active        int   // connections open now, held ones included
}

// ConnInfo names the two proxy sockets of one connection.
type ConnInfo struct {
	// Client is the remote address of the accepted connection: the address
	// node From dialed from.
	Client string
	// Upstream is the local address of the proxy's connection to To: the
	// address To sees as its peer. It is empty while the connection is held.
	Upstream string
}

// Link is a TCP proxy for the connections node From opens to node To.
// It is safe for concurrent use.
type Link struct {
	From, To string

	target string
	ln     net.Listener
	// ctx is cancelled by Close; every wait of the link ends with it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// fwd gates bytes and closes from From to To, rev those from To to From.
	fwd, rev gate

	bytesFwd, bytesRev atomic.Int64

	mu       sync.Mutex
	closed   bool
	conns    map[*conn]struct{}
	accepted int64

	closeOnce sync.Once
	closeErr  error
}

// Listen starts a link from node from to node to on an ephemeral loopback
// port, forwarding each connection to target, the cluster address of to.
// The port is held until Close, so it cannot be taken by anyone else.
func Listen(from, to, target string) (*Link, error) {
	if err := checkLoopback(target); err != nil {
		return nil, fmt.Errorf("proxy %s->%s: %w", from, to, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("proxy %s->%s: listen: %w", from, to, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &Link{
		From:   from,
		To:     to,
		target: target,
		ln:     ln,
		ctx:    ctx,
		cancel: cancel,
		conns:  make(map[*conn]struct{}),
	}
	l.wg.Add(1)
	go l.serve()
	return l, nil
}

// checkLoopback rejects targets off this machine: jetsam's clusters are
// local, and a proxy must never become a path to anywhere else.
func checkLoopback(target string) error {
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		return fmt.Errorf("target %q: %w", target, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("target %q: not a loopback IP address", target)
	}
	return nil
}

// Addr is the address nodes dial to reach To through the link.
func (l *Link) Addr() string { return l.ln.Addr().String() }

// Block stops all traffic of the link in both directions; see BlockDirection.
func (l *Link) Block() { l.BlockDirection(true, true) }

// Unblock lets all held traffic of the link go on.
func (l *Link) Unblock() { l.BlockDirection(false, false) }

// BlockDirection sets which directions are cut: fwd for From to To, rev for
// To to From. A cut direction moves no bytes and passes on no close; what
// was already read is held, not dropped, and goes on in order once the
// direction is open again. New connections wait to be dialed until both
// directions are open, since a TCP handshake needs both.
//
// Bytes already handed to the kernel before the cut, like packets on the
// wire, still arrive.
func (l *Link) BlockDirection(fwd, rev bool) {
	l.fwd.set(fwd)
	l.rev.set(rev)
}

// Blocked reports whether either direction of the link is cut.
func (l *Link) Blocked() bool {
	fwd, rev := l.BlockedDirection()
	return fwd || rev
}

// BlockedDirection reports which directions of the link are cut.
func (l *Link) BlockedDirection() (fwd, rev bool) {
	return l.fwd.blocked(), l.rev.blocked()
}

// Stats returns the link's counters.
func (l *Link) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Stats{
		BytesForward:  l.bytesFwd.Load(),
		BytesBackward: l.bytesRev.Load(),
		Accepted:      l.accepted,
		Active:        len(l.conns),
	}
}

// Conns returns the open connections of the link, sorted by Client.
func (l *Link) Conns() []ConnInfo {
	l.mu.Lock()
	infos := make([]ConnInfo, 0, len(l.conns))
	for c := range l.conns {
		infos = append(infos, c.info())
	}
	l.mu.Unlock()
	sort.Slice(infos, func(i, j int) bool { return infos[i].Client < infos[j].Client })
	return infos
}

// Close closes the listener and every connection of the link and returns
// once all of the link's goroutines have exited. Later calls return the
// first call's result.
func (l *Link) Close() error {
	l.closeOnce.Do(func() {
		l.cancel()
		if err := l.ln.Close(); err != nil {
			l.closeErr = fmt.Errorf("proxy %s->%s: close: %w", l.From, l.To, err)
		}
		l.mu.Lock()
		l.closed = true
		conns := make([]*conn, 0, len(l.conns))
		for c := range l.conns {
			conns = append(conns, c)
		}
		l.mu.Unlock()
		for _, c := range conns {
			c.close()
		}
		l.wg.Wait()
	})
	return l.closeErr
}

func (l *Link) serve() {
	defer l.wg.Done()
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || l.ctx.Err() != nil {
				return
			}
			// Out of file descriptors or the like: wait rather than spin.
			select {
			case <-l.ctx.Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		c := &conn{client: nc}
		if !l.track(c) {
			nc.Close()
			return
		}
		l.wg.Add(1)
		go l.handle(c)
	}
}

// track registers and counts c unless the link is closing.
func (l *Link) track(c *conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.conns[c] = struct{}{}
	l.accepted++
	return true
}

func (l *Link) untrack(c *conn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
	c.close()
}

// handle holds c until the link is open, dials the target and copies both
// ways until both directions have ended.
func (l *Link) handle(c *conn) {
	defer l.wg.Done()
	defer l.untrack(c)
	if !l.waitOpen() {
		return
	}
	d := net.Dialer{Timeout: dialTimeout}
	up, err := d.DialContext(l.ctx, "tcp", l.target)
	if err != nil {
		// Target down: the deferred untrack closes the client, once the
		// refusal may cross back to it.
		l.rev.wait(l.ctx)
		return
	}
	if !c.setUpstream(up) {
		up.Close()
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.pump(up, c.client, &l.fwd, &l.bytesFwd, c)
	}()
	l.pump(c.client, up, &l.rev, &l.bytesRev, c)
	<-done
}

// waitOpen waits until both directions are open at once, or the link closes.
func (l *Link) waitOpen() bool {
	for {
		if !l.fwd.wait(l.ctx) || !l.rev.wait(l.ctx) {
			return false
		}
		if !l.fwd.blocked() {
			return true
		}
	}
}

// pump copies src to dst, waiting at g before every read, write and close so
// that nothing crosses while g is shut. It returns once src's end has been
// passed on, or after a failure.
//
// A failed write closes only dst: the other pump then fails to read dst and
// closes src once its own direction is open, so the failure, like a close,
// crosses a cut only when it heals.
func (l *Link) pump(dst, src net.Conn, g *gate, count *atomic.Int64, c *conn) {
	buf := make([]byte, bufSize)
	for {
		if !g.wait(l.ctx) {
			return
		}
		n, rerr := src.Read(buf)
		if n > 0 {
			if !g.wait(l.ctx) {
				return
			}
			w, werr := dst.Write(buf[:n])
			count.Add(int64(w))
			if werr != nil {
				dst.Close()
				return
			}
		}
		if rerr != nil {
			if !g.wait(l.ctx) {
				return
			}
			switch {
			case !errors.Is(rerr, io.EOF):
				c.close() // src is broken; dst learns of it now
			case closeWrite(dst) != nil:
				dst.Close()
			}
			return
		}
	}
}

// closeWrite passes on an EOF, keeping the other direction open.
func closeWrite(c net.Conn) error {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Close()
}

// conn is one proxied connection: the accepted socket and, once dialed, the
// socket to the target.
type conn struct {
	client net.Conn

	mu       sync.Mutex
	upstream net.Conn
	closed   bool
}

// setUpstream records up unless c has been closed meanwhile.
func (c *conn) setUpstream(up net.Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.upstream = up
	return true
}

// close closes both sockets, which ends any read or write on them.
func (c *conn) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	c.client.Close()
	if c.upstream != nil {
		c.upstream.Close()
	}
}

func (c *conn) info() ConnInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	info := ConnInfo{Client: c.client.RemoteAddr().String()}
	if c.upstream != nil {
		info.Upstream = c.upstream.LocalAddr().String()
	}
	return info
}

// gate is one direction's switch; its zero value is open. Waiters block on
// a channel that opening closes, so opening wakes them all at once.
type gate struct {
	mu   sync.Mutex
	shut chan struct{} // nil while open
}

func (g *gate) set(blocked bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case blocked && g.shut == nil:
		g.shut = make(chan struct{})
	case !blocked && g.shut != nil:
		close(g.shut)
		g.shut = nil
	}
}

func (g *gate) blocked() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.shut != nil
}

// wait returns true once g is open, or false if ctx ends first.
func (g *gate) wait(ctx context.Context) bool {
	g.mu.Lock()
	shut := g.shut
	g.mu.Unlock()
	if shut == nil {
		return true
	}
	select {
	case <-shut:
		return true
	case <-ctx.Done():
		return false
	}
}
