package workload

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jetsam-dev/jetsam/history"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"
)

// The queue workload's stream and its one durable consumer.
const (
	QueueStream   = "jetsam-queue"
	queueSubject  = "jetsam.queue"
	queueConsumer = "jetsam"
)

// Queue is the work-queue workload: clients enqueue unique messages and
// fetch and acknowledge them from one durable pull consumer; at the end the
// consumer is drained until every acknowledged enqueue has been seen or the
// drain limit passes.
type Queue struct {
	o         Options
	clients   []*client
	consumers map[*client]jetstream.Consumer

	mu      sync.Mutex
	pending map[string]bool // acknowledged enqueues not yet received
}

// NewQueue prepares the workload; Setup connects it.
var queueKind = Kind{Name: NameQueue, New: func(o Options) Workload { return NewQueue(o) }}

func NewQueue(o Options) *Queue {
	return &Queue{o: o, consumers: map[*client]jetstream.Consumer{}, pending: map[string]bool{}}
}

func (q *Queue) Name() string   { return NameQueue }
func (q *Queue) Stream() string { return QueueStream }

// Setup creates the stream and the consumer and connects every client.
func (q *Queue) Setup(ctx context.Context) error {
	cs, err := connectAll(q.o, NameQueue)
	if err != nil {
		return err
	}
	q.clients = cs
	err = createStream(ctx, func(ctx context.Context) error {
		s, err := cs[0].js.CreateStream(ctx, jetstream.StreamConfig{
			Name: QueueStream, Subjects: []string{queueSubject}, Replicas: q.o.Replicas,
			Storage: jetstream.FileStorage, Retention: jetstream.WorkQueuePolicy, Duplicates: 2 * time.Minute,
		})
		if err != nil {
			return err
		}
		_, err = s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
			Durable: queueConsumer, AckPolicy: jetstream.AckExplicitPolicy, AckWait: 5 * time.Second,
			MaxAckPending: 10000, Replicas: q.o.Replicas,
		})
		return err
	})
	if err != nil {
		q.Close()
		return fmt.Errorf("create stream %s: %w", QueueStream, err)
	}
	for _, c := range cs {
		var cons jetstream.Consumer
		err := retryFor(ctx, func(ctx context.Context) error {
			var err error
			cons, err = c.js.Consumer(ctx, QueueStream, queueConsumer)
			return err
		})
		if err != nil {
			q.Close()
			return fmt.Errorf("bind consumer: %w", err)
		}
		q.consumers[c] = cons
	}
	return nil
}

func (q *Queue) Close() { closeAll(q.clients) }

func (q *Queue) event(c *client, f string) history.Event {
	return history.Event{Type: history.Invoke, Process: c.process, F: f, Workload: NameQueue, Node: c.node.Node}
}

// Run drives every client until ctx ends: half enqueues, half fetches.
func (q *Queue) Run(ctx context.Context, rec *history.Recorder) error {
	return drive(ctx, q.clients, q.o.Rate, func(c *client) {
		if c.rng.IntN(2) == 0 {
			q.enqueue(c, rec)
		} else {
			q.dequeue(c, rec, history.PhaseMain)
		}
	})
}

// enqueue publishes a unique value, with the value as its message ID.
func (q *Queue) enqueue(c *client, rec *history.Recorder) {
	v := c.nextValue()
	e := q.event(c, history.FEnqueue)
	e.Value = &v
	rec.Record(e)
	ctx, cancel := opContext(time.Duration(q.o.OpTimeout))
	_, err := c.js.Publish(ctx, queueSubject, []byte(v), jetstream.WithMsgID(v))
	cancel()
	if err != nil {
		e.Type, e.Error = history.Info, err.Error()
	} else {
		e.Type = history.OK
		q.mu.Lock()
		q.pending[v] = true
		q.mu.Unlock()
	}
	c.complete(rec, e)
}

// dequeue fetches up to ten messages and acknowledges each. What arrived is
// recorded whatever happens to the acknowledgements: an unacknowledged
// message is delivered again, which at-least-once allows.
func (q *Queue) dequeue(c *client, rec *history.Recorder, phase string) history.Event {
	e := q.event(c, history.FDequeue)
	e.Phase = phase
	rec.Record(e)
	// While clients run, take only what is there; the drain waits a little
	// for what is still on its way.
	var batch jetstream.MessageBatch
	var err error
	if phase == history.PhaseFinal {
		batch, err = q.consumers[c].Fetch(10, jetstream.FetchMaxWait(min(time.Duration(q.o.OpTimeout), time.Second)))
	} else {
		batch, err = q.consumers[c].FetchNoWait(10)
	}
	var ackErr error
	if err == nil {
		for msg := range batch.Messages() {
			v := string(msg.Data())
			e.Values = append(e.Values, v)
			var d history.Delivery
			if m, err := msg.Metadata(); err == nil {
				d = history.Delivery{Seq: m.Sequence.Stream, Count: m.NumDelivered}
			}
			e.Deliveries = append(e.Deliveries, d)
			ctx, cancel := opContext(time.Duration(q.o.OpTimeout))
			switch err := msg.DoubleAck(ctx); {
			case err == nil:
				e.Acked = append(e.Acked, v)
			case ackErr == nil:
				ackErr = err
			}
			cancel()
		}
		err = batch.Error()
	}
	q.mu.Lock()
	for _, v := range e.Values {
		delete(q.pending, v)
	}
	q.mu.Unlock()
	e.Type = history.OK
	switch {
	case err != nil && !errors.Is(err, jetstream.ErrNoMessages) && len(e.Values) == 0:
		// Nothing arrived: the fetch itself failed, which tells nothing.
		e.Type, e.Error = history.Fail, err.Error()
	case err != nil && !errors.Is(err, jetstream.ErrNoMessages):
		e.Error = err.Error()
	case ackErr != nil:
		e.Error = "ack: " + ackErr.Error()
	}
	return c.complete(rec, e)
}

// Final drains the consumer, one fetcher per node, until every acknowledged
// enqueue has been received, or nothing has arrived for ten seconds, or ctx
// ends.
func (q *Queue) Final(ctx context.Context, rec *history.Recorder) error {
	var mu sync.Mutex
	lastArrival := time.Now()
	g := new(errgroup.Group)
	for _, c := range perNode(q.clients) {
		g.Go(func() (err error) {
			defer recoverAsError(&err)
			// Always fetch at least once: the drain's own reads are what
			// show the queue was emptied.
			for first := true; ctx.Err() == nil; first = false {
				q.mu.Lock()
				left := len(q.pending)
				q.mu.Unlock()
				mu.Lock()
				idle := time.Since(lastArrival)
				mu.Unlock()
				if !first && (left == 0 || idle > 10*time.Second) {
					return nil
				}
				if e := q.dequeue(c, rec, history.PhaseFinal); len(e.Values) > 0 {
					mu.Lock()
					lastArrival = time.Now()
					mu.Unlock()
				}
			}
			return nil
		})
	}
	return g.Wait()
}
