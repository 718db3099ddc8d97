// Package proxy puts a TCP proxy on every directed cluster route between two
// nats-server nodes, so that jetsam can cut and heal the network between them.
//
// A Link carries the connections node From opens to node To's cluster port.
// Blocking a Link freezes those connections in place instead of breaking
// them: bytes, new connections and closes are all held and pass on unchanged
// when the link is unblocked, as they would after a real partition heals.
// A link can also delay and throttle its traffic, reset its connections and
// refuse new ones.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

const (
	// dialTimeout bounds the dial to a target that is down or not yet up.
	dialTimeout = 2 * time.Second
	// bufSize is how much one direction of a connection reads at a time,
	// and so the most it holds while blocked. It is also the burst of a
	// bandwidth cap, so no chunk ever waits for more than one burst.
	bufSize = 32 << 10
	// queueLen bounds a delay line, so that one direction of a connection
	// holds at most queueLen chunks in flight; a full line stops its reader.
	queueLen = 256
)

// Stats counts a link's traffic since it was created.
type Stats struct {
	BytesForward  int64 // delivered to To, sent by From
	BytesBackward int64 // delivered to From, sent by To
	Accepted      int64 // connections accepted from From, refused ones included
	Active        int   // connections open now, held ones included
	Resets        int64 // connections reset by Reset
	Refused       int64 // connections reset on accept, see SetRefuse
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

	// fwd carries bytes and closes from From to To, rev those from To to
	// From.
	fwd, rev direction
	// latency is nil while the link adds none.
	latency atomic.Pointer[latency]
	refuse  atomic.Bool
	// framed links read the route protocol (Frame); rule and watch act on
	// their Raft messages, raft keeps what they learned and counted.
	framed atomic.Bool
	rule   atomic.Pointer[RaftRule]
	watch  atomic.Pointer[RaftWatch]
	raft   raftState

	mu       sync.Mutex
	closed   bool
	conns    map[*conn]struct{}
	accepted int64
	resets   int64
	refused  int64

	closeOnce sync.Once
	closeErr  error

	// remote, when set, is where the link really runs (beside a node on
	// another host): every change goes there, and addr is its address.
	remote Remote
	addr   string
}

// Remote carries out a link's changes where the link runs: beside its
// node on another host.
type Remote interface {
	Block(fwd, rev bool) error
	SetLatency(delay, jitter time.Duration) error
	SetBandwidth(bytesPerSecond int64) error
	SetRefuse(refuse bool) error
	Reset() (int, error)
	Stats() (Stats, error)
	SetRaftRule(rule *RaftRule) error
	RaftStats() (map[string]int64, error)
	Close() error
}

// NewRemote returns the controller's handle on a link running elsewhere,
// at addr on its own host. It is cut, slowed and counted like a local link;
// cuts are mirrored here so Blocked answers without asking.
func NewRemote(from, to, addr string, r Remote) *Link {
	ctx, cancel := context.WithCancel(context.Background())
	return &Link{From: from, To: to, target: addr, ctx: ctx, cancel: cancel, conns: map[*conn]struct{}{}, remote: r, addr: addr}
}

// Listen starts a link from node from to node to on an ephemeral loopback
// port, forwarding each connection to target, the cluster address of to.
// The port is held until Close, so it cannot be taken by anyone else.
func Listen(from, to, target string) (*Link, error) {
	return ListenAllowing(from, to, target)
}

// ListenAllowing is Listen for a target that may also be one of the
// allowed addresses (the project's own remote hosts), besides loopback.
func ListenAllowing(from, to, target string, allowed ...string) (*Link, error) {
	if err := checkTarget(target, allowed); err != nil {
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

// checkTarget rejects targets off this machine other than the hosts the
// user named: a proxy must never become a path to anywhere else.
func checkTarget(target string, allowed []string) error {
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		return fmt.Errorf("target %q: %w", target, err)
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return fmt.Errorf("target %q: not an IP address", target)
	}
	if ip.IsLoopback() {
		return nil
	}
	for _, a := range allowed {
		if aip := net.ParseIP(a); aip != nil && aip.Equal(ip) {
			return nil
		}
	}
	return fmt.Errorf("target %q: not a loopback IP address nor one of the run's hosts", target)
}

// Addr is the address nodes dial to reach To through the link.
func (l *Link) Addr() string {
	if l.remote != nil {
		return l.addr
	}
	return l.ln.Addr().String()
}

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
	l.fwd.gate.set(fwd)
	l.rev.gate.set(rev)
	if l.remote != nil {
		_ = l.remote.Block(fwd, rev)
	}
}

// Blocked reports whether either direction of the link is cut.
func (l *Link) Blocked() bool {
	fwd, rev := l.BlockedDirection()
	return fwd || rev
}

// BlockedDirection reports which directions of the link are cut.
func (l *Link) BlockedDirection() (fwd, rev bool) {
	return l.fwd.gate.blocked(), l.rev.gate.blocked()
}

// SetLatency delays every chunk of bytes, and every close, in both
// directions by delay±jitter, drawn uniformly for each chunk and never below
// zero, counted from when the link read it. Chunks of one direction keep
// their order: a chunk is released no earlier than the one before it. The
// delay applies on top of a cut: a released chunk still waits for its
// direction to open. SetLatency(0, 0) ends the delay; chunks already delayed
// keep their release times.
func (l *Link) SetLatency(delay, jitter time.Duration) {
	var lat *latency
	if delay > 0 || jitter > 0 {
		lat = &latency{delay: max(delay, 0), jitter: max(jitter, 0)}
	}
	l.latency.Store(lat)
	if l.remote != nil {
		_ = l.remote.SetLatency(delay, jitter)
	}
}

// SetBandwidth caps each direction of the link at bytesPerSecond, with a
// burst of one read buffer; 0 removes the cap. Connections share their
// direction's cap.
func (l *Link) SetBandwidth(bytesPerSecond int64) {
	if l.remote != nil {
		_ = l.remote.SetBandwidth(bytesPerSecond)
		return
	}
	for _, d := range []*direction{&l.fwd, &l.rev} {
		var lim *limit
		if bytesPerSecond > 0 {
			lim = &limit{
				Limiter:  rate.NewLimiter(rate.Limit(bytesPerSecond), bufSize),
				replaced: make(chan struct{}),
			}
		}
		if old := d.limit.Swap(lim); old != nil {
			close(old.replaced)
		}
	}
}

// SetRefuse sets how a cut treats new connections. By default a connection
// accepted while either direction is cut is held unanswered, like a dropped
// SYN; with refuse it is reset at once, like a refused connection.
// Connections already accepted are not affected.
func (l *Link) SetRefuse(refuse bool) {
	l.refuse.Store(refuse)
	if l.remote != nil {
		_ = l.remote.SetRefuse(refuse)
	}
}

// Reset resets every connection of the link, held ones included, as a pulled
// cable would: both of its sockets close with a reset (RST), not an EOF, and
// whatever the link held or delayed for it is dropped. It returns how many
// connections it reset. Later connections are not affected.
func (l *Link) Reset() int {
	if l.remote != nil {
		n, _ := l.remote.Reset()
		return n
	}
	n := 0
	for _, c := range l.tracked() {
		if c.shut(true) {
			n++
		}
	}
	l.mu.Lock()
	l.resets += int64(n)
	l.mu.Unlock()
	return n
}

// Stats returns the link's counters.
func (l *Link) Stats() Stats {
	if l.remote != nil {
		st, _ := l.remote.Stats()
		return st
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return Stats{
		BytesForward:  l.fwd.bytes.Load(),
		BytesBackward: l.rev.bytes.Load(),
		Accepted:      l.accepted,
		Active:        len(l.conns),
		Resets:        l.resets,
		Refused:       l.refused,
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
		if l.remote != nil {
			l.closeErr = l.remote.Close()
			return
		}
		if err := l.ln.Close(); err != nil {
			l.closeErr = fmt.Errorf("proxy %s->%s: close: %w", l.From, l.To, err)
		}
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
		for _, c := range l.tracked() {
			c.close()
		}
		l.wg.Wait()
	})
	return l.closeErr
}

func (l *Link) tracked() []*conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	conns := make([]*conn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	return conns
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
		if l.refuse.Load() && l.Blocked() {
			l.mu.Lock()
			l.accepted++
			l.refused++
			l.mu.Unlock()
			closeReset(nc)
			continue
		}
		ctx, cancel := context.WithCancel(l.ctx)
		c := &conn{client: nc, ctx: ctx, cancel: cancel}
		if !l.track(c) {
			cancel()
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
	if !l.waitOpen(c.ctx) {
		return
	}
	d := net.Dialer{Timeout: dialTimeout}
	up, err := d.DialContext(c.ctx, "tcp", l.target)
	if err != nil {
		// Target down: the deferred untrack closes the client, once the
		// refusal may cross back to it.
		l.rev.gate.wait(c.ctx)
		return
	}
	if !c.setUpstream(up) {
		up.Close()
		return
	}
	pump := func(dst, src net.Conn, d *direction, forward bool) { l.pump(c, dst, src, d) }
	if l.framed.Load() {
		pump = func(dst, src net.Conn, d *direction, forward bool) { l.pumpFramed(c, dst, src, d, forward) }
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		pump(up, c.client, &l.fwd, true)
	}()
	pump(c.client, up, &l.rev, false)
	<-done
}

// waitOpen waits until both directions are open at once, or ctx ends.
func (l *Link) waitOpen(ctx context.Context) bool {
	for {
		if !l.fwd.gate.wait(ctx) || !l.rev.gate.wait(ctx) {
			return false
		}
		if !l.fwd.gate.blocked() {
			return true
		}
	}
}

// pump copies src to dst in direction d of c, waiting at d's gate before
// every read, write and close so that nothing crosses while it is shut. It
// returns once src's end has been passed on, or after a failure.
//
// Without latency pump writes each chunk itself; with latency it queues the
// chunk on a delay line and reads on. It goes back to writing itself once
// latency is off and the line has drained, so chunks never overtake.
//
// A failed write closes only dst: the other pump then fails to read dst and
// closes src once its own direction is open, so the failure, like a close,
// crosses a cut only when it heals.
func (l *Link) pump(c *conn, dst, src net.Conn, d *direction) {
	buf := bufPool.Get().(*[bufSize]byte)
	var line *delayLine
	defer func() {
		if line != nil {
			line.stop()
		}
		bufPool.Put(buf)
	}()
	for {
		if !d.gate.wait(c.ctx) {
			return
		}
		n, rerr := src.Read(buf[:])
		lat := l.latency.Load()
		if line != nil && lat == nil {
			ok := line.stop()
			line = nil
			if !ok {
				return
			}
		}
		if n > 0 {
			if !d.throttle(c.ctx, n) {
				return
			}
			if lat == nil {
				if !d.write(c.ctx, dst, buf[:n]) {
					return
				}
			} else {
				if line == nil {
					line = startLine(c, dst, d)
				}
				if !line.push(chunk{buf: buf, n: n}, lat) {
					return
				}
				buf = bufPool.Get().(*[bufSize]byte)
			}
		}
		if rerr != nil {
			if lat == nil {
				d.end(c, dst, rerr)
				return
			}
			if line == nil {
				line = startLine(c, dst, d)
			}
			// The deferred stop waits until the end has been passed on.
			line.push(chunk{err: rerr}, lat)
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

// closeReset closes c with a reset (RST) rather than a FIN.
func closeReset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

// conn is one proxied connection: the accepted socket and, once dialed, the
// socket to the target.
type conn struct {
	client net.Conn
	// ctx ends when c is closed or the link closes; every wait of c ends
	// with it.
	ctx    context.Context
	cancel context.CancelFunc

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
func (c *conn) close() { c.shut(false) }

// shut closes both sockets, with a reset if reset is set, unless c is
// closed already. It reports whether it closed them.
func (c *conn) shut(reset bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.closed = true
	c.cancel()
	for _, s := range []net.Conn{c.client, c.upstream} {
		switch {
		case s == nil:
		case reset:
			closeReset(s)
		default:
			s.Close()
		}
	}
	return true
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

// direction is what a link keeps for one direction of its traffic.
type direction struct {
	gate  gate
	bytes atomic.Int64
	// limit is nil while the direction has no bandwidth cap.
	limit atomic.Pointer[limit]
}

// limit is a bandwidth cap. SetBandwidth replaces it rather than changing
// it, and closes replaced so that waiters look again: lifting a low cap
// frees them at once instead of after their reservation.
type limit struct {
	*rate.Limiter
	replaced chan struct{}
}

// throttle waits until d's cap lets n more bytes through, n at most bufSize.
// It returns false if ctx ends first.
func (d *direction) throttle(ctx context.Context, n int) bool {
	for {
		lim := d.limit.Load()
		if lim == nil {
			return true
		}
		r := lim.ReserveN(time.Now(), n)
		wait := r.Delay()
		if wait == 0 {
			return true
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
			return true
		case <-lim.replaced:
			t.Stop()
		case <-ctx.Done():
			t.Stop()
			r.Cancel() // give the bytes back to the other connections
			return false
		}
	}
}

// write passes p on to dst once d is open. A failed write closes dst and
// returns false.
func (d *direction) write(ctx context.Context, dst net.Conn, p []byte) bool {
	if !d.gate.wait(ctx) {
		return false
	}
	n, err := dst.Write(p)
	d.bytes.Add(int64(n))
	if err != nil {
		dst.Close()
		return false
	}
	return true
}

// end passes on the end of c's stream in direction d, once d is open: an EOF
// as a half close, any other read error by closing both sockets.
func (d *direction) end(c *conn, dst net.Conn, rerr error) {
	if !d.gate.wait(c.ctx) {
		return
	}
	switch {
	case !errors.Is(rerr, io.EOF):
		c.close() // src is broken; dst learns of it now
	case closeWrite(dst) != nil:
		dst.Close()
	}
}

type latency struct{ delay, jitter time.Duration }

// sample draws one chunk's delay from [delay-jitter, delay+jitter].
func (lat *latency) sample() time.Duration {
	d := lat.delay
	if lat.jitter > 0 {
		d += time.Duration(rand.Int64N(2*int64(lat.jitter)+1)) - lat.jitter
	}
	return max(d, 0)
}

var bufPool = sync.Pool{New: func() any { return new([bufSize]byte) }}

// chunk is what a delay line carries: bytes read, or the end of the stream.
type chunk struct {
	buf     *[bufSize]byte // nil at the end
	n       int
	err     error // what ended the stream
	release time.Time
}

// delayLine delays one direction of one connection without capping its
// throughput: the reader queues each chunk with its release time and reads
// on, while the line's own writer goroutine writes the chunks in order, each
// at its release time.
type delayLine struct {
	c     *conn
	dst   net.Conn
	d     *direction
	queue chan chunk
	done  chan struct{} // closed when the writer exits
	// drained tells, once done is closed, whether the writer passed on
	// everything queued.
	drained bool
	last    time.Time // release time of the latest chunk queued
}

func startLine(c *conn, dst net.Conn, d *direction) *delayLine {
	q := &delayLine{c: c, dst: dst, d: d, queue: make(chan chunk, queueLen), done: make(chan struct{})}
	go q.run()
	return q
}

// push queues ch, read just now, for release after a sample of lat but no
// earlier than the chunk before it. It waits while the queue is full, and
// returns false if the writer has stopped.
func (q *delayLine) push(ch chunk, lat *latency) bool {
	ch.release = time.Now().Add(lat.sample())
	if ch.release.Before(q.last) {
		ch.release = q.last
	}
	q.last = ch.release
	select {
	case q.queue <- ch:
		return true
	case <-q.done:
		return false
	}
}

// stop waits until the writer has passed on everything queued and exited.
// It returns false if the writer stopped early, on a failed write or as the
// connection closed.
func (q *delayLine) stop() bool {
	close(q.queue)
	<-q.done
	return q.drained
}

func (q *delayLine) run() {
	defer close(q.done)
	var timer *time.Timer
	for ch := range q.queue {
		if wait := time.Until(ch.release); wait > 0 {
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			select {
			case <-timer.C:
			case <-q.c.ctx.Done():
				timer.Stop()
				return
			}
		}
		if ch.buf == nil {
			q.d.end(q.c, q.dst, ch.err)
			continue
		}
		ok := q.d.write(q.c.ctx, q.dst, ch.buf[:ch.n])
		bufPool.Put(ch.buf)
		if !ok {
			return
		}
	}
	q.drained = true
}
