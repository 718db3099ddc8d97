// Package workload is the client side of a test: concurrent clients, each
// pinned to one node and doing one operation at a time, whose every
// invocation and completion goes into the history.
package workload

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/jetsam-dev/jetsam/history"
	"github.com/jetsam-dev/jetsam/internal/retry"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"
)

// Read modes accepted by Options.ReadMode.
const (
	ReadLeader = history.ReadLeader
	ReadDirect = history.ReadDirect
	ReadMixed  = "mixed"
	ReadNone   = "none"
)

// Workload is one kind of client traffic and what it reads at the end.
type Workload interface {
	Name() string
	// Stream is the stream the workload uses (the nemesis aims "leader" at
	// it).
	Stream() string
	// Setup creates the stream and connects every client.
	Setup(ctx context.Context) error
	// Run drives every client until ctx ends; operations in flight then run
	// to completion (or their own timeout) and are recorded.
	Run(ctx context.Context, rec *history.Recorder) error
	// Final reads what survived, after the faults have healed.
	Final(ctx context.Context, rec *history.Recorder) error
	Close()
}

// Endpoint is where one client connects: the node it talks to, and the URL
// that reaches it (through the client's own proxy).
type Endpoint struct {
	Node string
	URL  string
	// ReadOnly clients only read. A client waits for each operation to
	// end, and a write to a node cut off from the quorum waits for its
	// whole timeout: only clients that never write keep reading there, and
	// so see what a cut-off leader still answers.
	ReadOnly bool
}

// Options are what every workload is configured with.
type Options struct {
	// Clients has one endpoint per client.
	Clients  []Endpoint
	Replicas int
	// Rate caps operations per second over the workload's clients (its
	// share of the run's); 0 is unlimited.
	Rate float64
	Seed uint64
	// FirstProcess numbers this workload's first client in the history;
	// Stride is how many clients all workloads have together, so that a
	// client that takes a fresh process number never takes another's.
	FirstProcess int
	Stride       int
	// Isolate cuts a node off from every other node and returns how to
	// undo it; the log workload reads each replica alone with it.
	Isolate func(node string) (undo func())
	// WorkloadSettings are the run's workload settings (each workload's own
	// included).
	WorkloadSettings
}

// client is one connection doing one operation at a time.
type client struct {
	id      int
	node    Endpoint
	nc      *nats.Conn
	js      jetstream.JetStream
	replies *replies
	process history.Process
	rng     *rand.Rand
	stride  int
	writes  int
	// readOnly clients only read (Endpoint.ReadOnly).
	readOnly bool
}

// connectAll connects one client per endpoint.
func connectAll(o Options, workload string) ([]*client, error) {
	if len(o.Clients) == 0 {
		return nil, errors.New("no clients")
	}
	stride := max(o.Stride, len(o.Clients))
	var cs []*client
	for i, ep := range o.Clients {
		nc, err := connect(ep, fmt.Sprintf("jetsam-%s-%d", workload, i))
		if err != nil {
			closeAll(cs)
			return nil, err
		}
		js, err := jetstream.New(nc)
		if err != nil {
			nc.Close()
			closeAll(cs)
			return nil, fmt.Errorf("jetstream: %w", err)
		}
		rs, err := newReplies(nc)
		if err != nil {
			nc.Close()
			closeAll(cs)
			return nil, err
		}
		p := o.FirstProcess + i
		cs = append(cs, &client{
			id: p, node: ep, nc: nc, js: js, replies: rs, process: history.Process(p), stride: stride,
			rng: rand.New(rand.NewPCG(o.Seed, uint64(p)+1)), readOnly: ep.ReadOnly,
		})
	}
	return cs, nil
}

func connect(ep Endpoint, name string) (*nats.Conn, error) {
	nc, err := nats.Connect(ep.URL,
		nats.Name(name),
		nats.DontRandomize(),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.Timeout(2*time.Second),
		nats.NoCallbacksAfterClientClose(),
	)
	if err != nil {
		return nil, fmt.Errorf("connect to %s (%s): %w", ep.Node, ep.URL, err)
	}
	return nc, nil
}

func closeAll(cs []*client) {
	for _, c := range cs {
		if c.replies != nil {
			c.replies.stop()
		}
		if c.nc != nil {
			c.nc.Close()
		}
	}
}

// nextValue returns a value no other operation of the run writes.
func (c *client) nextValue() string {
	c.writes++
	return fmt.Sprintf("%d-%d", c.id, c.writes)
}

// complete records a completion; after an indeterminate one the client takes
// a fresh process number, since the old operation may still be in flight.
func (c *client) complete(rec *history.Recorder, e history.Event) history.Event {
	e = rec.Record(e)
	if e.Type == history.Info {
		c.process += history.Process(c.stride)
	}
	return e
}

// pauseAfter makes a read-only client wait a moment after a read that was
// not answered with data: a node that answers every read at once with
// "unavailable" would otherwise be asked as fast as the rate allows.
func (c *client) pauseAfter(e history.Event) {
	if e.Type != history.OK {
		time.Sleep(readerPause)
	}
}

const readerPause = 20 * time.Millisecond

// opContext bounds one operation. It is not derived from the run's context:
// an operation in flight when the run ends completes, rather than being cut
// into an indeterminate one.
func opContext(timeout time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), timeout)
}

// drive runs step on every client, one operation at a time each, until ctx
// ends, within a shared rate.
func drive(ctx context.Context, cs []*client, perSecond float64, step func(*client)) error {
	lim := rate.NewLimiter(rate.Inf, 0)
	if perSecond > 0 {
		lim = rate.NewLimiter(rate.Limit(perSecond), len(cs))
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, c := range cs {
		g.Go(func() (err error) {
			defer recoverAsError(&err)
			for gctx.Err() == nil {
				if lim.Wait(gctx) != nil {
					return nil
				}
				step(c)
			}
			return nil
		})
	}
	return g.Wait()
}

func recoverAsError(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("client panicked: %v", r)
	}
}

// readMode draws how one read is served.
func readMode(mode string, rng *rand.Rand) string {
	if mode == ReadMixed {
		return []string{ReadLeader, ReadDirect}[rng.IntN(2)]
	}
	return mode
}

// perNode picks one client per node, in client order, writers first.
func perNode(cs []*client) []*client {
	var out []*client
	seen := map[string]bool{}
	for _, c := range slices.Concat(writers(cs, false), writers(cs, true)) {
		if !seen[c.node.Node] {
			seen[c.node.Node] = true
			out = append(out, c)
		}
	}
	return out
}

// writers picks the clients that write (readOnly false) or only read.
func writers(cs []*client, readOnly bool) []*client {
	var out []*client
	for _, c := range cs {
		if c.readOnly == readOnly {
			out = append(out, c)
		}
	}
	return out
}

// createStream creates a stream, retrying: creating the same stream again
// is harmless, and a request sent just as a cluster forms can go unanswered.
func createStream(ctx context.Context, create func(context.Context) error) error {
	return retry.Do(ctx, retry.Every(time.Second), retry.Each(10*time.Second, create))
}

// rejected reports errors that prove the stream leader refused a message:
// its expected sequence was wrong or could not be checked.
func rejected(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode {
	case jetstream.JSErrCodeStreamWrongLastSequence, // 10071
		jetstream.JSErrCodeStreamWrongLastSequenceConstant, // 10164
		errCodeExpectedLastSeqNotReady:                     // 10163
		return true
	}
	return false
}

// errCodeExpectedLastSeqNotReady: the new leader cannot yet check an expected
// per-subject sequence, and rejects the message.
const errCodeExpectedLastSeqNotReady jetstream.ErrorCode = 10163

// errorType classifies a failed read: an API error answered it (fail), or
// nothing did (info). For reads either constrains nothing.
func errorType(err error) history.Type {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return history.Fail
	}
	return history.Info
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
